package config

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Load reads and parses the config file at path. See Parse.
func Load(path string) (*Config, hcl.Diagnostics) {
	src, err := readBounded(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read config file",
			Detail:   fmt.Sprintf("%v. Check the path given to -config.", err),
			Extra:    CodeConfig,
		}}
	}
	return Parse(src, path)
}

// readBounded reads at most one byte more than MaxFileSize, so that
// -config /dev/zero or a huge file is refused by checkBounds rather than
// read whole.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// Parse decodes a config file. filename names it in diagnostics and is the
// base for relative plugin paths.
//
// Every problem of the file is reported at once (up to MaxDiagnostics, then
// a count), in file order, each with a Subject range and a stable code (see
// CodeOf). A file over MaxFileSize or nesting deeper than MaxNesting is
// refused before it is parsed. When diags has errors the
// returned Config is nil; otherwise diags holds at most warnings.
func Parse(src []byte, filename string) (*Config, hcl.Diagnostics) {
	if diags := checkBounds(src, filename); diags.HasErrors() {
		return nil, diags
	}
	cfg, diags := parse(src, filename)
	return cfg, CapDiagnostics(diags)
}

// LoadPartial is Load for a file with errors: it returns the same
// diagnostics and, whenever the file parsed at all, what of it decoded
// soundly: every processor whose own block has no error, with the plugins,
// locks and limits that decoded. `host validate` checks those processors
// against the machine too, so one run reports a config's mistakes and its
// machine's (a cpuset past the last cpu, a partial L3 group) together.
// The Config is nil for a file that cannot be read, is over the bounds, or
// has a syntax error (its blocks may be misread).
func LoadPartial(path string) (*Config, hcl.Diagnostics) {
	src, err := readBounded(path)
	if err != nil {
		return Load(path)
	}
	if diags := checkBounds(src, path); diags.HasErrors() {
		return nil, diags
	}
	cfg, diags := decode(src, path)
	return cfg, CapDiagnostics(diags)
}

func parse(src []byte, filename string) (*Config, hcl.Diagnostics) {
	cfg, diags := decode(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	return cfg, diags
}

// decode returns the config even when it has errors (see LoadPartial),
// nil only when the syntax is broken.
func decode(src []byte, filename string) (*Config, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	withCode(diags, CodeConfig)
	// A repeated attribute leaves a sound tree behind (the parser keeps the
	// first), so decoding goes on to find the file's other mistakes. Any
	// other syntax error can leave the rest of the file misread; decoding it
	// would only add noise.
	for _, dg := range diags {
		if dg.Severity == hcl.DiagError && dg.Summary != "Attribute redefined" {
			return nil, sortDiags(diags)
		}
	}
	if file == nil || file.Body == nil {
		return nil, sortDiags(diags)
	}
	d := &decoder{diags: diags, baseDir: baseDir(filename)}
	cfg := d.decodeRoot(file.Body)
	cfg.File = filename
	cfg.Source = src
	return cfg, sortDiags(d.diags)
}

func baseDir(filename string) string {
	if abs, err := filepath.Abs(filename); err == nil {
		return filepath.Dir(abs)
	}
	return filepath.Dir(filename)
}

// sortDiags orders diagnostics by position so an operator reads them top to
// bottom; those without a position come first.
func sortDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
	return diags
}

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "sector_size"},
		{Name: "confine"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "plugin", LabelNames: []string{"name"}},
		{Type: "limits"},
		{Type: "stagger"},
		{Type: "lock", LabelNames: []string{"name"}},
		{Type: "arbiter"},
		{Type: "processor", LabelNames: []string{"stage"}},
		{Type: "simulation"},
	},
}

var pluginSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "path"}, {Name: "args"}, {Name: "sha256"}},
}

var lockSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "capacity"}},
}

var arbiterSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "policy"}, {Name: "weights"}, {Name: "urgent"}, {Name: "urgent_burst"}, {Name: "preempt"}},
}

var simulationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "sealing_threads"}, {Name: "wait_seed"}, {Name: "durations"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "post"}},
}

var processorSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "plugin"},
		{Name: "cpuset"},
		{Name: "numa_preferred"},
		{Name: "concurrent"},
		{Name: "locks"},
		{Name: "env"},
		{Name: "inherit_env"},
		{Name: "memory_limit"},
		{Name: "timeout"},
	},
}

// DefaultWaitSeed is the simulated wait for the chain's seed between pc2 and
// c1 when the simulation block does not set wait_seed: damocles' sealcalc
// default (field-facts §1).
const DefaultWaitSeed = 80 * time.Minute

type decoder struct {
	diags   hcl.Diagnostics
	baseDir string
}

// field is one value being decoded: an attribute or one entry of a map.
type field struct {
	name string         // as the operator knows it: "concurrent", "limits.pc1"
	expr hcl.Expression // the value
	ctx  hcl.Range      // the whole attribute or entry, for the quoted source
}

func attrField(name string, a *hcl.Attribute) field {
	return field{name: name, expr: a.Expr, ctx: a.Range}
}

func (d *decoder) errorf(code Code, subject hcl.Range, ctx *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
		Context:  ctx,
		Extra:    code,
	})
}

func (d *decoder) fieldErrorf(f field, summary, format string, args ...any) {
	ctx := f.ctx
	d.errorf(CodeConfig, f.expr.Range(), &ctx, summary, format, args...)
}

// addHCL records diagnostics hcl produced and reports whether any is an error.
func (d *decoder) addHCL(diags hcl.Diagnostics) bool {
	d.diags = append(d.diags, withCode(diags, CodeConfig)...)
	return diags.HasErrors()
}

func (d *decoder) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, diags := body.Content(schema)
	// hcl says what is not allowed; add what is, so the fix is on screen.
	for _, dg := range diags {
		switch dg.Summary {
		case "Unsupported argument":
			dg.Detail += " " + allowed("Arguments", schemaAttrs(schema))
		case "Unsupported block type":
			dg.Detail += " " + allowed("Blocks", schemaBlocks(schema))
		}
	}
	d.addHCL(diags)
	if c == nil {
		c = &hcl.BodyContent{Attributes: hcl.Attributes{}}
	}
	return c
}

func schemaAttrs(s *hcl.BodySchema) []string {
	var out []string
	for _, a := range s.Attributes {
		out = append(out, a.Name)
	}
	return out
}

func schemaBlocks(s *hcl.BodySchema) []string {
	var out []string
	for _, b := range s.Blocks {
		out = append(out, b.Type)
	}
	return out
}

func allowed(what string, names []string) string {
	if len(names) == 0 {
		return what + " are not allowed here."
	}
	return what + " allowed here: " + strings.Join(names, ", ") + "."
}

// sortedAttrs returns attrs in file order, so diagnostics and map-building
// are deterministic.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out
}

func (d *decoder) decodeRoot(body hcl.Body) *Config {
	cfg := &Config{
		Confine:     true,
		Limits:      map[Stage]int{},
		LimitRanges: map[Stage]hcl.Range{},
		Stagger:     map[Stage]time.Duration{},
		Arbiter:     Arbiter{Policy: PolicyFair, Weights: map[Stage]float64{}},
		Plugins:     []Plugin{},
		Locks:       []Lock{},
		Processors:  []Processor{},
	}
	c := d.content(body, rootSchema)

	if a := c.Attributes["sector_size"]; a != nil {
		d.sectorSize(cfg, a)
	} else {
		d.errorf(CodeConfig, body.MissingItemRange(), nil, "Missing sector_size",
			"The file does not say which sector size it seals. Add a line such as sector_size = \"32GiB\" at the top; supported sizes: %s.", sectorSizeList())
	}
	if a := c.Attributes["confine"]; a != nil {
		if v, ok := d.boolOf(attrField("confine", a)); ok {
			cfg.Confine = v
		}
	}

	// Declarations first, so a processor may refer to a plugin or lock
	// declared further down the file.
	single := map[string]*hcl.Block{}
	var arbiterBlock *hcl.Block
	for _, b := range c.Blocks {
		switch b.Type {
		case "limits", "stagger", "arbiter", "simulation":
			if first, dup := single[b.Type]; dup {
				ctx := b.DefRange
				d.errorf(CodeConfig, b.TypeRange, &ctx, fmt.Sprintf("Duplicate %s block", b.Type),
					"A %s block was already given at %s. Merge the two: only one %s block is allowed.", b.Type, first.DefRange.String(), b.Type)
				continue
			}
			single[b.Type] = b
		}
		switch b.Type {
		case "plugin":
			d.plugin(cfg, b)
		case "lock":
			d.lock(cfg, b)
		case "limits":
			d.limits(cfg, b)
		case "stagger":
			d.stagger(cfg, b)
		case "arbiter":
			arbiterBlock = b // after the locks it may name
		case "simulation":
			d.simulation(cfg, b)
		}
	}
	if arbiterBlock != nil {
		d.arbiter(cfg, arbiterBlock)
	}
	counts := map[Stage]int{}
	for _, b := range c.Blocks {
		if b.Type == "processor" {
			d.processor(cfg, b, counts)
		}
	}
	return cfg
}

func sectorSizeList() string {
	names := make([]string, len(SectorSizes))
	for i, s := range SectorSizes {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func (d *decoder) sectorSize(cfg *Config, a *hcl.Attribute) {
	f := attrField("sector_size", a)
	s, ok := d.stringOf(f)
	if !ok {
		return
	}
	cfg.SectorRange = a.Expr.Range()
	n, err := ParseSize(s)
	if err == nil {
		for _, ss := range SectorSizes {
			if ss.Bytes == n {
				cfg.SectorSize = ss
				return
			}
		}
		d.fieldErrorf(f, "Unsupported sector size",
			"sector_size %q (%s) is not a size the proofs support. Use one of %s.", s, FormatSize(n), sectorSizeList())
		return
	}
	d.fieldErrorf(f, "Invalid sector size", "sector_size: %v. Use one of %s.", err, sectorSizeList())
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// label checks a block's name label; it returns false (after reporting)
// when the name is unusable.
func (d *decoder) label(b *hcl.Block, what string) bool {
	name := b.Labels[0]
	if nameRE.MatchString(name) {
		return true
	}
	ctx := b.DefRange
	d.errorf(CodeConfig, b.LabelRanges[0], &ctx, fmt.Sprintf("Invalid %s name", what),
		"%s name %q is not usable: names are letters, digits, '_', '.' and '-', starting with a letter, digit or '_'. Rename it, e.g. %s \"gpu1\".", what, name, b.Type)
	return false
}

func (d *decoder) plugin(cfg *Config, b *hcl.Block) {
	c := d.content(b.Body, pluginSchema)
	name := b.Labels[0]
	d.label(b, "plugin")
	for _, p := range cfg.Plugins {
		if p.Name == name {
			ctx := b.DefRange
			d.errorf(CodeConfig, b.LabelRanges[0], &ctx, "Duplicate plugin name",
				"A plugin named %q is already declared at %s. Give each plugin block its own name, or delete this one.", name, p.Range.String())
			return
		}
	}
	p := Plugin{Name: name, Range: b.DefRange, Args: []string{}, PathRange: b.DefRange}
	written := "bin/plugins/" + name // for hints only
	if a := c.Attributes["path"]; a != nil {
		p.PathRange = a.Expr.Range()
		f := attrField("path", a)
		if s, ok := d.stringOf(f); ok {
			written = s
			switch {
			case strings.TrimSpace(s) == "":
				d.fieldErrorf(f, "Empty plugin path", "plugin %q has an empty path. Set it to the plugin binary, e.g. path = \"bin/plugins/ffi\" (relative paths resolve from this file's folder).", name)
			case filepath.IsAbs(s):
				p.Path = filepath.Clean(s)
			default:
				p.Path = filepath.Join(d.baseDir, s)
			}
		}
	} else {
		ctx := b.DefRange
		d.errorf(CodeConfig, b.DefRange, &ctx, "Missing plugin path",
			"plugin %q does not say which binary to run. Add path = \"bin/plugins/%s\" (relative paths resolve from this file's folder).", name, name)
	}
	if a := c.Attributes["args"]; a != nil {
		if args, ok := d.stringListOf(attrField("args", a)); ok {
			p.Args = args
		}
	}
	if a := c.Attributes["sha256"]; a != nil {
		p.SHA256Range = a.Expr.Range()
		f := attrField("sha256", a)
		if s, ok := d.stringOf(f); ok {
			if sha256RE.MatchString(s) {
				p.SHA256 = strings.ToLower(s)
			} else {
				d.fieldErrorf(f, "Invalid sha256",
					"plugin %q: sha256 must be 64 hexadecimal digits, got %d characters. Take it from `sha256sum %s`.", name, len(s), written)
			}
		}
	}
	cfg.Plugins = append(cfg.Plugins, p)
}

var sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (d *decoder) lock(cfg *Config, b *hcl.Block) {
	c := d.content(b.Body, lockSchema)
	name := b.Labels[0]
	d.label(b, "lock")
	for _, l := range cfg.Locks {
		if l.Name == name {
			ctx := b.DefRange
			d.errorf(CodeConfig, b.LabelRanges[0], &ctx, "Duplicate lock name",
				"A lock named %q is already declared at %s. Give each lock its own name, or raise that lock's capacity instead of declaring it twice.", name, l.Range.String())
			return
		}
	}
	l := Lock{Name: name, Capacity: 1, Range: b.DefRange}
	if a := c.Attributes["capacity"]; a != nil {
		if n, ok := d.intOf(attrField("capacity", a), 1,
			"capacity is how many tasks may hold the lock at once (it is a count, not a GPU index); use 1 for one GPU shared by turns"); ok {
			l.Capacity = n
		}
	}
	cfg.Locks = append(cfg.Locks, l)
}

func (d *decoder) justAttrs(b *hcl.Block) []*hcl.Attribute {
	attrs, diags := b.Body.JustAttributes()
	d.addHCL(diags)
	return sortedAttrs(attrs)
}

func (d *decoder) limits(cfg *Config, b *hcl.Block) {
	for _, a := range d.justAttrs(b) {
		st, ok := d.stage(a.Name, a.NameRange, a.Range, "limits")
		if !ok {
			continue
		}
		if n, ok := d.intOf(attrField("limits."+a.Name, a), 1,
			"a limit is the most tasks of that stage running at once; to stop a stage, remove its processors"); ok {
			cfg.Limits[st] = n
			cfg.LimitRanges[st] = a.Range
		}
	}
}

func (d *decoder) stagger(cfg *Config, b *hcl.Block) {
	for _, a := range d.justAttrs(b) {
		st, ok := d.stage(a.Name, a.NameRange, a.Range, "stagger")
		if !ok {
			continue
		}
		if dur, ok := d.durationOf(attrField("stagger."+a.Name, a), true); ok {
			cfg.Stagger[st] = dur
		}
	}
}

func (d *decoder) arbiter(cfg *Config, b *hcl.Block) {
	c := d.content(b.Body, arbiterSchema)
	cfg.Arbiter.Range = b.DefRange
	if a := c.Attributes["policy"]; a != nil {
		f := attrField("policy", a)
		if s, ok := d.stringOf(f); ok {
			switch p := Policy(s); p {
			case PolicyFair, PolicyFIFO, PolicyGreedy:
				cfg.Arbiter.Policy = p
			default:
				d.fieldErrorf(f, "Unknown arbiter policy", "policy %q is not known.%s Use \"fair\" (the default: shares each lock by weight), \"fifo\" (in request order) or \"greedy\" (what damocles does; for comparison).",
					s, suggest(s, []string{"fair", "fifo", "greedy"}))
			}
		}
	}
	if a := c.Attributes["weights"]; a != nil {
		for _, e := range d.mapOf(attrField("weights", a)) {
			st, ok := d.stage(e.key, e.keyRange, e.rng, "weights")
			if !ok {
				continue
			}
			if w, ok := d.weightOf(field{name: "weights." + e.key, expr: e.value, ctx: e.rng}); ok {
				cfg.Arbiter.Weights[st] = w
			}
		}
	}
	d.urgent(cfg, c)
}

// urgent reads the arbiter's urgent class: which stages, their burst, and
// which locks may be preempted for them.
func (d *decoder) urgent(cfg *Config, c *hcl.BodyContent) {
	if a := c.Attributes["urgent"]; a != nil {
		cfg.Arbiter.UrgentRange = a.Range
		f := attrField("urgent", a)
		for _, e := range d.listOf(f) {
			ef := field{name: "urgent element", expr: e, ctx: a.Range}
			name, ok := d.stringOf(ef)
			if !ok {
				continue
			}
			st, ok := d.stage(name, e.Range(), a.Range, "urgent")
			if !ok {
				continue
			}
			if slices.Contains(cfg.Arbiter.Urgent, st) {
				d.fieldErrorf(ef, "Stage listed twice", "urgent lists %q twice; delete one.", name)
				continue
			}
			cfg.Arbiter.Urgent = append(cfg.Arbiter.Urgent, st)
		}
	}
	if a := c.Attributes["urgent_burst"]; a != nil {
		if n, ok := d.intOf(attrField("urgent_burst", a), 1, "it is how many urgent tasks in a row may take a lock while sealing waits for it"); ok {
			cfg.Arbiter.UrgentBurst = n
		}
	}
	if a := c.Attributes["preempt"]; a != nil {
		f := attrField("preempt", a)
		if len(cfg.Arbiter.Urgent) == 0 {
			d.fieldErrorf(f, "Preemption without urgent stages",
				"preempt cancels sealing tasks for urgent ones, but urgent names no stage. Add urgent = [\"winning_post\", \"window_post\"] or remove preempt.")
			return
		}
		cfg.Arbiter.Preempt = map[string]time.Duration{}
		for _, e := range d.mapOf(f) {
			if !hasLock(cfg, e.key) {
				names := lockNames(cfg)
				ctx := e.rng
				d.errorf(CodeUnknownLock, e.keyRange, &ctx, "Unknown lock",
					"preempt names lock %q, but no lock block declares it.%s Use one of the declared locks (%s) or declare it.",
					e.key, suggest(e.key, names), strings.Join(names, ", "))
				continue
			}
			if _, diags := hcl.ExprMap(e.value); !diags.HasErrors() {
				d.preemptFor(cfg, e)
				continue
			}
			if dur, ok := d.durationOf(field{name: "preempt." + e.key, expr: e.value, ctx: e.rng}, true); ok {
				cfg.Arbiter.Preempt[e.key] = dur
			}
		}
	}
}

// preemptFor reads preempt's per-stage form, { gpu1 = { winning_post =
// "0s" } }: the lock is preempted for the stages listed only.
func (d *decoder) preemptFor(cfg *Config, lock mapEntry) {
	for _, e := range d.mapOf(field{name: "preempt." + lock.key, expr: lock.value, ctx: lock.rng}) {
		st, ok := d.stage(e.key, e.keyRange, e.rng, "preempt."+lock.key)
		if !ok {
			continue
		}
		if !slices.Contains(cfg.Arbiter.Urgent, st) {
			ctx := e.rng
			d.errorf(CodeConfig, e.keyRange, &ctx, "Preemption for a stage that is not urgent",
				"preempt.%s names %s, which urgent does not list: only urgent stages preempt. Add %q to urgent or remove it here.", lock.key, st, st)
			continue
		}
		if dur, ok := d.durationOf(field{name: "preempt." + lock.key + "." + e.key, expr: e.value, ctx: e.rng}, true); ok {
			if cfg.Arbiter.PreemptFor == nil {
				cfg.Arbiter.PreemptFor = map[string]map[Stage]time.Duration{}
			}
			if cfg.Arbiter.PreemptFor[lock.key] == nil {
				cfg.Arbiter.PreemptFor[lock.key] = map[Stage]time.Duration{}
			}
			cfg.Arbiter.PreemptFor[lock.key][st] = dur
		}
	}
}

func (d *decoder) simulation(cfg *Config, b *hcl.Block) {
	c := d.content(b.Body, simulationSchema)
	sim := &Simulation{WaitSeed: DefaultWaitSeed, Durations: map[Stage]time.Duration{}, Range: b.DefRange}
	if a := c.Attributes["sealing_threads"]; a != nil {
		if n, ok := d.intOf(attrField("sealing_threads", a), 1, "sealing_threads is how many sectors are in flight at once"); ok {
			sim.SealingThreads = n
		}
	}
	if a := c.Attributes["wait_seed"]; a != nil {
		if dur, ok := d.durationOf(attrField("wait_seed", a), true); ok {
			sim.WaitSeed = dur
		}
	}
	if a := c.Attributes["durations"]; a != nil {
		for _, e := range d.mapOf(attrField("durations", a)) {
			st, ok := d.stage(e.key, e.keyRange, e.rng, "durations")
			if !ok {
				continue
			}
			if dur, ok := d.durationOf(field{name: "durations." + e.key, expr: e.value, ctx: e.rng}, true); ok {
				sim.Durations[st] = dur
			}
		}
	}
	d.post(sim, c.Blocks)
	cfg.Simulation = sim
}

func stageNames() []string {
	out := make([]string, len(Stages))
	for i, s := range Stages {
		out[i] = string(s)
	}
	return out
}

// stage checks that name is a stage, reporting at rng when it is not.
func (d *decoder) stage(name string, rng, ctx hcl.Range, where string) (Stage, bool) {
	for _, s := range Stages {
		if string(s) == name {
			return s, true
		}
	}
	d.errorf(CodeConfig, rng, &ctx, "Unknown stage",
		"%s: %q is not a stage.%s Stages are %s.", where, name, suggest(name, stageNames()), strings.Join(stageNames(), ", "))
	return "", false
}

// suggest returns " Did you mean "x"?" for the candidate closest to given,
// or "" when none is close. The threshold is hcl's own.
func suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if dist := levenshtein.Distance(given, c, nil); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (d *decoder) processor(cfg *Config, b *hcl.Block, counts map[Stage]int) {
	errsBefore := errorCount(d.diags)
	c := d.content(b.Body, processorSchema)
	def := b.DefRange
	st, stageOK := d.stage(b.Labels[0], b.LabelRanges[0], def, "processor")
	p := Processor{
		Stage:        st,
		Concurrent:   1,
		InheritEnv:   true,
		Locks:        []string{},
		LockRanges:   []hcl.Range{},
		Env:          map[string]string{},
		EnvRanges:    map[string]hcl.Range{},
		Range:        def,
		CPUsRange:    def,
		NUMARange:    def,
		LocksRange:   def,
		EnvRange:     def,
		PluginRange:  def,
		ConcurRange:  def,
		MemoryRange:  def,
		TimeoutRange: def,
	}
	if stageOK {
		p.Index = counts[st]
		p.ID = fmt.Sprintf("%s.%d", st, p.Index)
		counts[st]++
	}
	where := "processor " + b.Labels[0]
	if p.ID != "" {
		where = "processor " + p.ID
	}

	if a := c.Attributes["plugin"]; a != nil {
		p.PluginRange = a.Expr.Range()
		f := attrField("plugin", a)
		if s, ok := d.stringOf(f); ok {
			p.Plugin = s
			if !hasPlugin(cfg, s) {
				names := pluginNames(cfg)
				declared := "no plugin is declared yet"
				if len(names) > 0 {
					declared = "declared plugins: " + strings.Join(names, ", ")
				}
				ctx := a.Range
				d.errorf(CodeUnknownPlugin, a.Expr.Range(), &ctx, "Unknown plugin",
					"%s uses plugin %q, but no plugin block declares it.%s Declare it with `plugin %q { path = \"bin/plugins/%s\" }` or fix the name; %s.",
					where, s, suggest(s, names), s, s, declared)
			}
		}
	} else {
		d.errorf(CodeConfig, def, nil, "Missing plugin",
			"%s does not say which plugin runs it. Add plugin = \"NAME\" naming a plugin block%s.", where, declaredSuffix(pluginNames(cfg)))
	}

	if a := c.Attributes["cpuset"]; a != nil {
		p.CPUsRange = a.Expr.Range()
		f := attrField("cpuset", a)
		if s, ok := d.stringOf(f); ok {
			set, err := ParseCPUs(s)
			switch {
			case err != nil:
				d.fieldErrorf(f, "Invalid cpuset", "%s: %v.", where, err)
			case set.IsEmpty():
				d.fieldErrorf(f, "Empty cpuset", "%s has an empty cpuset, so it could run nowhere. List its cpus, like \"0-41\", or remove cpuset to let it use every cpu.", where)
			default:
				p.CPUs, p.HasCPUs = set, true
			}
		}
	}
	if a := c.Attributes["numa_preferred"]; a != nil {
		p.NUMARange = a.Expr.Range()
		if n, ok := d.intOf(attrField("numa_preferred", a), 0, "NUMA nodes are numbered from 0, as in /sys/devices/system/node"); ok {
			p.NUMAPreferred = &n
		}
	}
	if a := c.Attributes["concurrent"]; a != nil {
		p.ConcurRange = a.Expr.Range()
		if n, ok := d.intOf(attrField("concurrent", a), 1, "concurrent is how many tasks this process runs at once; to stop a processor, remove its block"); ok {
			p.Concurrent = n
		}
	}
	if a := c.Attributes["locks"]; a != nil {
		p.LocksRange = a.Expr.Range()
		for _, e := range d.listOf(attrField("locks", a)) {
			ef := field{name: "locks", expr: e, ctx: a.Range}
			s, ok := d.stringOf(ef)
			if !ok {
				continue
			}
			if dup := indexOf(p.Locks, s); dup >= 0 {
				d.fieldErrorf(ef, "Lock listed twice",
					"%s lists lock %q twice (first at %s). A task takes each lock once; delete one.", where, s, p.LockRanges[dup].String())
				continue
			}
			if !hasLock(cfg, s) {
				names := lockNames(cfg)
				declared := "no locks are declared"
				if len(names) > 0 {
					declared = "declared locks: " + strings.Join(names, ", ")
				}
				d.errorf(CodeUnknownLock, e.Range(), &ef.ctx, "Unknown lock",
					"%s lists lock %q, but no lock block declares it (damocles would silently run it with no lock at all; sealhost refuses).%s Declare it with `lock %q { capacity = 1 }` or fix the name; %s.",
					where, s, suggest(s, names), s, declared)
			}
			p.Locks = append(p.Locks, s)
			p.LockRanges = append(p.LockRanges, e.Range())
		}
	}
	if a := c.Attributes["env"]; a != nil {
		p.EnvRange = a.Expr.Range()
		for _, e := range d.mapOf(attrField("env", a)) {
			if !envNameRE.MatchString(e.key) {
				ctx := e.rng
				d.errorf(CodeConfig, e.keyRange, &ctx, "Invalid environment variable name",
					"%s: %q is not a usable variable name. Names are letters, digits and '_', not starting with a digit, like CUDA_VISIBLE_DEVICES.", where, e.key)
				continue
			}
			if v, ok := d.envValueOf(field{name: "env." + e.key, expr: e.value, ctx: e.rng}); ok {
				p.Env[e.key] = v
				p.EnvRanges[e.key] = e.rng
			}
		}
	}
	if a := c.Attributes["inherit_env"]; a != nil {
		if v, ok := d.boolOf(attrField("inherit_env", a)); ok {
			p.InheritEnv = v
		}
	}
	if a := c.Attributes["memory_limit"]; a != nil {
		p.MemoryRange = a.Expr.Range()
		f := attrField("memory_limit", a)
		if n, ok := d.sizeOf(f); ok {
			if n == 0 {
				d.fieldErrorf(f, "Invalid memory_limit", "%s: a memory limit of 0 would kill every task. Give a size like \"900GiB\", or remove memory_limit for no limit.", where)
			} else {
				p.MemoryLimit = n
			}
		}
	}
	if a := c.Attributes["timeout"]; a != nil {
		p.TimeoutRange = a.Expr.Range()
		f := attrField("timeout", a)
		if dur, ok := d.durationOf(f, false); ok {
			p.Timeout = dur
		}
	}
	// A processor with a mistake of its own is left out: only LoadPartial
	// returns a config with errors, and checking a half-read processor
	// against the machine would report the mistake twice, as something else.
	if stageOK && errorCount(d.diags) == errsBefore {
		cfg.Processors = append(cfg.Processors, p)
	}
}

func errorCount(diags hcl.Diagnostics) int {
	n := 0
	for _, dg := range diags {
		if dg.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

func declaredSuffix(names []string) string {
	if len(names) == 0 {
		return " (declare one first with a plugin block)"
	}
	return " (declared: " + strings.Join(names, ", ") + ")"
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func hasPlugin(cfg *Config, name string) bool { return indexOf(pluginNames(cfg), name) >= 0 }
func hasLock(cfg *Config, name string) bool   { return indexOf(lockNames(cfg), name) >= 0 }

func pluginNames(cfg *Config) []string {
	out := make([]string, len(cfg.Plugins))
	for i, p := range cfg.Plugins {
		out[i] = p.Name
	}
	return out
}

func lockNames(cfg *Config) []string {
	out := make([]string, len(cfg.Locks))
	for i, l := range cfg.Locks {
		out[i] = l.Name
	}
	return out
}

// ---- typed values ----

// valueOf evaluates f without variables or functions; anything but a
// literal (and simple arithmetic on literals) is an error there.
func (d *decoder) valueOf(f field) (cty.Value, bool) {
	v, diags := f.expr.Value(nil)
	if d.addHCL(diags) || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	v, _ = v.Unmark()
	return v, true
}

func typeName(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return fmt.Sprintf("the string %q", v.AsString())
	case v.Type() == cty.Number:
		return "the number " + v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return fmt.Sprintf("the bool %v", v.True())
	case v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType():
		return "a list"
	case v.Type().IsObjectType() || v.Type().IsMapType():
		return "a map"
	}
	return "a value of type " + v.Type().FriendlyName()
}

func (d *decoder) wrongType(f field, v cty.Value, want string) {
	d.fieldErrorf(f, "Incorrect value type", "%s must be %s, not %s.", f.name, want, typeName(v))
}

func (d *decoder) stringOf(f field) (string, bool) {
	v, ok := d.valueOf(f)
	if !ok {
		return "", false
	}
	if v.IsNull() || v.Type() != cty.String {
		d.wrongType(f, v, "a string (in double quotes)")
		return "", false
	}
	return v.AsString(), true
}

// envValueOf accepts numbers and bools as well as strings, because
// CUDA_VISIBLE_DEVICES = 0 is what people write; they become their HCL
// string forms.
func (d *decoder) envValueOf(f field) (string, bool) {
	v, ok := d.valueOf(f)
	if !ok {
		return "", false
	}
	if !v.IsNull() && (v.Type() == cty.String || v.Type() == cty.Number || v.Type() == cty.Bool) {
		if s, err := convert.Convert(v, cty.String); err == nil {
			return s.AsString(), true
		}
	}
	d.wrongType(f, v, "a string")
	return "", false
}

func (d *decoder) boolOf(f field) (bool, bool) {
	v, ok := d.valueOf(f)
	if !ok {
		return false, false
	}
	if v.IsNull() || v.Type() != cty.Bool {
		d.wrongType(f, v, "true or false (without quotes)")
		return false, false
	}
	return v.True(), true
}

func (d *decoder) intOf(f field, min int, hint string) (int, bool) {
	v, ok := d.valueOf(f)
	if !ok {
		return 0, false
	}
	if v.IsNull() || v.Type() != cty.Number {
		d.wrongType(f, v, "a whole number (without quotes)")
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		d.fieldErrorf(f, "Invalid value", "%s must be a whole number, not %s.", f.name, bf.Text('g', -1))
		return 0, false
	}
	i, acc := bf.Int64()
	if acc != 0 || i < int64(min) || i > math.MaxInt32 {
		d.fieldErrorf(f, "Invalid value", "%s must be %d or more, not %s: %s.", f.name, min, bf.Text('g', -1), hint)
		return 0, false
	}
	return int(i), true
}

func (d *decoder) weightOf(f field) (float64, bool) {
	v, ok := d.valueOf(f)
	if !ok {
		return 0, false
	}
	if v.IsNull() || v.Type() != cty.Number {
		d.wrongType(f, v, "a number (without quotes)")
		return 0, false
	}
	w, _ := v.AsBigFloat().Float64()
	if !(w > 0) || math.IsInf(w, 0) {
		d.fieldErrorf(f, "Invalid weight", "%s must be more than 0, not %s: a stage's share of a lock is proportional to its weight (default 1).", f.name, v.AsBigFloat().Text('g', -1))
		return 0, false
	}
	return w, true
}

func (d *decoder) sizeOf(f field) (uint64, bool) {
	v, ok := d.valueOf(f)
	if !ok {
		return 0, false
	}
	switch {
	case !v.IsNull() && v.Type() == cty.String:
		n, err := ParseSize(v.AsString())
		if err != nil {
			d.fieldErrorf(f, "Invalid size", "%s: %v.", f.name, err)
			return 0, false
		}
		return n, true
	case !v.IsNull() && v.Type() == cty.Number:
		bf := v.AsBigFloat()
		n, acc := bf.Uint64()
		if !bf.IsInt() || acc != 0 || bf.Sign() < 0 {
			d.fieldErrorf(f, "Invalid size", "%s must be a whole number of bytes or a string like \"900GiB\", not %s.", f.name, bf.Text('g', -1))
			return 0, false
		}
		return n, true
	}
	d.wrongType(f, v, "a size like \"900GiB\"")
	return 0, false
}

func (d *decoder) durationOf(f field, allowZero bool) (time.Duration, bool) {
	s, ok := d.stringOf(f)
	if !ok {
		return 0, false
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.fieldErrorf(f, "Invalid duration", "%s: %v.", f.name, err)
		return 0, false
	}
	if dur == 0 && !allowZero {
		d.fieldErrorf(f, "Invalid duration", "%s must be more than 0; remove it for no limit.", f.name)
		return 0, false
	}
	return dur, true
}

func (d *decoder) listOf(f field) []hcl.Expression {
	list, diags := hcl.ExprList(f.expr)
	if diags.HasErrors() {
		if v, ok := d.valueOf(f); ok {
			if !v.IsNull() && (v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType()) {
				d.fieldErrorf(f, "List not written out", "%s must be written out element by element, like [\"gpu1\", \"gpu2\"]; a computed list cannot be checked entry by entry.", f.name)
			} else {
				d.wrongType(f, v, "a list in brackets, like [\"gpu1\"]")
			}
		}
		return nil
	}
	return list
}

func (d *decoder) stringListOf(f field) ([]string, bool) {
	list := d.listOf(f)
	if list == nil {
		return nil, false
	}
	out := make([]string, 0, len(list))
	ok := true
	for _, e := range list {
		s, good := d.stringOf(field{name: f.name + " element", expr: e, ctx: f.ctx})
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

type mapEntry struct {
	key      string
	keyRange hcl.Range
	value    hcl.Expression
	rng      hcl.Range // key = value
}

// mapOf reads a map written as an object, { K = V, … }, entry by entry so
// each diagnostic can point at its own key or value. Duplicate keys are
// reported and dropped.
func (d *decoder) mapOf(f field) []mapEntry {
	pairs, diags := hcl.ExprMap(f.expr)
	if diags.HasErrors() {
		if v, ok := d.valueOf(f); ok {
			if !v.IsNull() && (v.Type().IsObjectType() || v.Type().IsMapType()) {
				d.fieldErrorf(f, "Map not written out", "%s must be written out entry by entry, like { K = \"V\" }; a computed map cannot be checked entry by entry.", f.name)
			} else {
				d.wrongType(f, v, "a map in braces, like { K = \"V\" }")
			}
		}
		return nil
	}
	var out []mapEntry
	seen := map[string]hcl.Range{}
	for _, p := range pairs {
		kf := field{name: f.name + " key", expr: p.Key, ctx: hcl.RangeBetween(p.Key.Range(), p.Value.Range())}
		k, ok := d.stringOf(kf)
		if !ok {
			continue
		}
		if first, dup := seen[k]; dup {
			d.fieldErrorf(kf, "Duplicate key", "%s sets %q twice (first at %s). Delete one of them.", f.name, k, first.String())
			continue
		}
		seen[k] = p.Key.Range()
		out = append(out, mapEntry{key: k, keyRange: p.Key.Range(), value: p.Value, rng: kf.ctx})
	}
	return out
}
