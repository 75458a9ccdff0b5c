package plan

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

// CodeEnvInvalid is an error this package adds to the stable set: a
// rust-fil-proofs setting in a processor's env that the proofs cannot parse
// (they panic loading their settings).
const CodeEnvInvalid config.Code = "env-invalid"

// Plan is where every processor of a config will run on a machine and what
// is wrong with that. It is computed once by Build and only read afterwards.
type Plan struct {
	// ConfigFile and Machine say what was planned, as the caller named them.
	ConfigFile string
	Machine    string

	SectorSize  string
	SectorBytes uint64
	// PC1TaskBytes is the memory one pc1 task needs for SectorSize.
	PC1TaskBytes uint64

	Processors []Processor
	CPUs       []CPU
	// Spare are the cpus in no processor's busy set.
	Spare  cpuset.CPUSet
	Locks  []Lock
	GPUs   []GPU
	Memory []Memory
	// Urgent are the arbiter's urgent stages and UrgentBurst their bound
	// (the arbiter's default filled in).
	Urgent      []string
	UrgentBurst int

	// Diagnostics are the config's own (when added with
	// AddConfigDiagnostics) and the plan's, errors first. Each carries a
	// stable code in Extra (see config.CodeOf).
	Diagnostics hcl.Diagnostics

	src []byte
	m   *machine
}

// Processor is one processor block placed on the machine.
type Processor struct {
	ID     string
	Stage  config.Stage
	Plugin string
	// Key is the character that stands for the processor in the core map.
	Key byte
	// CPUs is the configured cpuset, or every cpu of the machine when the
	// block gives none (Configured false). Cpus the machine lacks are
	// dropped (and reported as cpu-not-present).
	CPUs       cpuset.CPUSet
	Configured bool
	// Busy is what the processor's running tasks occupy: for pc1 with
	// multicore SDR the cores of its units and their SMT siblings,
	// otherwise its whole cpuset.
	Busy cpuset.CPUSet
	// unitsUnknown is set when pc1's cpuset cuts an L3 group
	// (pc1-partial-l3): rust-fil-proofs aborts on it, so which cores its
	// tasks would keep busy is unknown, and overlaps derived from a guess
	// would point away from the real mistake.
	unitsUnknown  bool
	NUMAPreferred *int
	Concurrent    int
	Locks         []string
	Env           map[string]string
	// GPUs are the indices (PCI bus order) of the machine's GPUs the
	// processor sees: those CUDA_VISIBLE_DEVICES names, or every GPU when
	// its env does not set it.
	GPUs []int
	// UsesGPU is true for stages that put work on a GPU: c2, snap_encode,
	// snap_prove, window_post and winning_post (unless BELLMAN_NO_GPU is
	// set) and pc2 with FIL_PROOFS_USE_GPU_TREE_BUILDER.
	UsesGPU bool
	// SDR is the multicore SDR model of a pc1 processor that enables it,
	// nil otherwise.
	SDR *SDR

	cfg *config.Processor
}

// CPU is one cpu of the machine and who uses it.
type CPU struct {
	CPU  int
	NUMA int
	// L3 is the machine's L3 group index, -1 when it reports none.
	L3 int
	// Processors are the ids whose busy set holds the cpu.
	Processors []string
	Spare      bool
}

// Lock is a declared lock and the processors that hold it.
type Lock struct {
	Name       string
	Capacity   int
	Processors []string
	// Preempt says a non-urgent holder is cancelled and requeued when an
	// urgent task has waited PreemptAfter for the lock.
	Preempt      bool
	PreemptAfter time.Duration
	// PreemptFor are per-stage bounds (arbiter { preempt = { L = { stage
	// = "0s" } } }), for those urgent stages only unless Preempt.
	PreemptFor map[string]time.Duration
}

// GPU is a GPU of the machine and the processors that see it.
type GPU struct {
	Index      int
	NUMA       int
	Address    string
	Processors []string
}

// Memory is what the pc1 tasks planned on a NUMA node need against what the
// node has.
type Memory struct {
	NUMA      int
	NeedBytes uint64
	HaveBytes uint64
	// Needs is each pc1 processor's share of NeedBytes.
	Needs []MemoryNeed
}

// MemoryNeed is one processor's share of a node's memory.
type MemoryNeed struct {
	Processor string
	Bytes     uint64
}

// PC1TaskBytes returns the memory one pc1 task needs: twice the sector
// (64 GiB for 32GiB sectors, 128 GiB for 64GiB; lotus budgets 56-64 GiB and
// 112-128 GiB), which makes the small test sizes negligible.
func PC1TaskBytes(sectorBytes uint64) uint64 { return 2 * sectorBytes }

type builder struct {
	p      *Plan
	cfg    *config.Config
	m      *machine
	locks  map[string]int // name -> capacity
	diags  hcl.Diagnostics
	procs  []*Processor
	byID   map[string]*Processor
	hasGPU bool
}

// Build places cfg on machine m. cfg should be free of errors: callers show
// the config's own errors first and plan only a config that decoded. Build
// never fails; what is wrong becomes a diagnostic.
func Build(cfg *config.Config, m *topology.Machine) *Plan {
	if cfg == nil {
		cfg = &config.Config{}
	}
	b := &builder{
		p: &Plan{
			ConfigFile:  cfg.File,
			SectorSize:  cfg.SectorSize.Name,
			SectorBytes: cfg.SectorSize.Bytes,
			src:         cfg.Source,
		},
		cfg:   cfg,
		m:     newMachine(m),
		locks: map[string]int{},
		byID:  map[string]*Processor{},
	}
	if m != nil {
		b.p.Machine = m.Source
	}
	b.p.m = b.m
	b.p.PC1TaskBytes = PC1TaskBytes(cfg.SectorSize.Bytes)
	for _, l := range cfg.Locks {
		b.locks[l.Name] = l.Capacity
	}
	b.hasGPU = len(b.m.gpus) > 0
	for i := range cfg.Processors {
		b.processor(i, &cfg.Processors[i])
	}
	b.pairs()
	if m != nil && m.Source == "live" {
		// Plugin paths are this machine's; planning for another machine
		// (-topology) says nothing about its files.
		b.plugins()
	}
	b.limits()
	b.memory()
	b.cpuMap()
	b.lockTable()
	b.gpuTable()
	b.p.Diagnostics = config.CapDiagnostics(sortDiags(b.diags))
	return b.p
}

// AddConfigDiagnostics puts the config's own diagnostics before the plan's.
// Package config checks plugin and lock names too; when it reported a kind
// of reference error, the plan's reports of that kind are dropped so each
// mistake is shown once.
func (p *Plan) AddConfigDiagnostics(diags hcl.Diagnostics) {
	seen := map[string]bool{}
	for _, d := range diags {
		seen[config.CodeOf(d)] = true
	}
	out := append(hcl.Diagnostics{}, diags...)
	for _, d := range p.Diagnostics {
		c := config.CodeOf(d)
		if seen[c] && (c == string(config.CodeUnknownPlugin) || c == string(config.CodeUnknownLock)) {
			continue
		}
		out = append(out, d)
	}
	p.Diagnostics = sortDiags(out)
}

// ConfigFailed returns a plan that holds only diags: the result of a config
// that did not decode, so it is shown and serialised like any plan.
func ConfigFailed(file string, src []byte, diags hcl.Diagnostics) *Plan {
	return &Plan{ConfigFile: file, src: src, Diagnostics: sortDiags(diags), m: newMachine(nil), Spare: cpuset.New()}
}

// HasErrors reports whether any diagnostic is an error.
func (p *Plan) HasErrors() bool { return p.Diagnostics.HasErrors() }

// Counts returns the number of errors and warnings.
func (p *Plan) Counts() (errors, warnings int) {
	for _, d := range p.Diagnostics {
		if d.Severity == hcl.DiagError {
			errors++
		} else {
			warnings++
		}
	}
	return
}

// sortDiags puts errors before warnings, keeping each group's order.
func sortDiags(d hcl.Diagnostics) hcl.Diagnostics {
	out := append(hcl.Diagnostics{}, d...)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Severity == hcl.DiagError && out[j].Severity != hcl.DiagError
	})
	return out
}

func rangeString(r *hcl.Range) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// at returns r, or the first of the fallbacks that is set, as a diagnostic
// subject (nil when none is: a hand-built config has no ranges).
func at(rs ...hcl.Range) *hcl.Range {
	for _, r := range rs {
		if r.Filename != "" || r.Start.Line != 0 {
			r := r
			return &r
		}
	}
	return nil
}

func (b *builder) add(sev hcl.DiagnosticSeverity, code config.Code, subject *hcl.Range, summary, detail string, args ...any) {
	b.diags = append(b.diags, &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  subject,
		Extra:    code,
	})
}

const keys = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (b *builder) processor(i int, c *config.Processor) {
	p := &Processor{
		ID:            c.ID,
		Stage:         c.Stage,
		Plugin:        c.Plugin,
		Key:           '#',
		NUMAPreferred: c.NUMAPreferred,
		Concurrent:    c.Concurrent,
		Locks:         append([]string{}, c.Locks...),
		Env:           map[string]string{},
		cfg:           c,
	}
	if i < len(keys) {
		p.Key = keys[i]
	}
	if p.Concurrent < 1 {
		p.Concurrent = 1
	}
	for k, v := range c.Env {
		p.Env[k] = v
	}
	b.procs = append(b.procs, p)
	b.byID[p.ID] = p
	cpusAt := at(c.CPUsRange, c.Range)

	b.references(p)

	// cpus
	if c.HasCPUs {
		p.Configured = true
		if missing := c.CPUs.Difference(b.m.all); missing.Size() > 0 {
			b.add(hcl.DiagError, config.CodeCPUNotPresent, cpusAt,
				"Cpu not present",
				"Processor %s's cpuset %q names %s %s, which this machine (%s) does not have: it has cpus %s. Use only cpus the machine has (see `host topology`), or plan against the machine the config is meant for with -topology.",
				p.ID, c.CPUs.String(), cpuWord(missing), missing.String(), b.machineName(), orDash(b.m.all.String()))
		}
		p.CPUs = c.CPUs.Intersection(b.m.all)
	} else {
		p.CPUs = b.m.all
	}

	// NUMA preference
	if n := c.NUMAPreferred; n != nil {
		if !b.m.hasNode(*n) {
			b.add(hcl.DiagError, config.CodeNUMANotPresent, at(c.NUMARange, c.Range),
				"NUMA node not present",
				"Processor %s prefers NUMA node %d, which this machine (%s) does not have: its nodes are %s. Name one of those nodes, or drop numa_preferred.",
				p.ID, *n, b.machineName(), b.nodeList())
		} else if out := p.CPUs.Difference(b.m.nodeCPUs(*n)); out.Size() > 0 {
			what := fmt.Sprintf("cpuset %q", c.CPUs.String())
			if !c.HasCPUs {
				what = "cpuset (none given, so every cpu)"
			}
			b.add(hcl.DiagWarning, config.CodeCPUSetNUMAMismatch, at(c.CPUsRange, c.NUMARange, c.Range),
				"Cpuset reaches outside the preferred NUMA node",
				"Processor %s prefers memory on NUMA node %d (cpus %s), but its %s also holds cpus %s of other nodes: threads there reach their memory across the interconnect. Keep the cpuset inside node %d, or prefer the node the cpus are on.",
				p.ID, *n, b.m.nodeCPUs(*n).String(), what, out.String(), *n)
		}
	}

	b.env(p)

	// busy cpus
	p.Busy = p.CPUs
	if p.Stage == config.StagePC1 {
		b.pc1(p)
	}
}

func (b *builder) machineName() string {
	if b.m.src != nil && b.m.src.Source != "" {
		return b.m.src.Source
	}
	return "the machine planned on"
}

func (b *builder) nodeList() string {
	var ids []string
	for _, n := range b.m.nodes {
		ids = append(ids, strconv.Itoa(n.id))
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// references checks the plugin and lock names; package config checks them
// too, and AddConfigDiagnostics keeps one of each.
func (b *builder) references(p *Processor) {
	c := p.cfg
	found := false
	for _, pl := range b.cfg.Plugins {
		if pl.Name == c.Plugin {
			found = true
		}
	}
	if !found {
		var names []string
		for _, pl := range b.cfg.Plugins {
			names = append(names, strconv.Quote(pl.Name))
		}
		decl := "no plugin blocks"
		if len(names) > 0 {
			decl = "plugin blocks " + strings.Join(names, ", ")
		}
		b.add(hcl.DiagError, config.CodeUnknownPlugin, at(c.PluginRange, c.Range),
			"Unknown plugin",
			"Processor %s uses plugin %q, but the config declares %s. Add a plugin %q block, or name a declared plugin.",
			p.ID, c.Plugin, decl, c.Plugin)
	}
	for _, l := range c.Locks {
		if _, ok := b.locks[l]; !ok {
			b.add(hcl.DiagError, config.CodeUnknownLock, within(b.cfg.Source, at(c.LocksRange, c.Range), strconv.Quote(l)),
				"Unknown lock",
				"Processor %s holds lock %q, which no lock block declares (damocles would silently run it without a lock). Add a lock %q block, or fix the name.",
				p.ID, l, l)
		}
	}
}

// obsoleteEnv are variables rust-fil-proofs no longer reads, with why.
var obsoleteEnv = []struct{ name, why string }{
	{"FIL_PROOFS_MAXIMIZE_CACHING", "it was removed from rust-fil-proofs in September 2020 and is ignored"},
	{"FIL_PROOFS_USE_FIL_BLST", "it was removed from rust-fil-proofs in October 2020 and is ignored"},
	{"FIL_PROOFS_USE_GPU_COLUMN_BUILDER", "it does nothing on its own: FIL_PROOFS_USE_GPU_TREE_BUILDER=1 moves both tree_c and tree_r_last to the GPU"},
}

func (b *builder) env(p *Processor) {
	c := p.cfg
	envAt := at(c.EnvRange, c.Range)
	for _, o := range obsoleteEnv {
		if v, ok := p.Env[o.name]; ok {
			b.add(hcl.DiagWarning, config.CodeObsoleteEnv, within(b.cfg.Source, envAt, o.name),
				"Obsolete environment variable",
				"Processor %s sets %s=%s, but %s. Remove it from env.", p.ID, o.name, v, o.why)
		}
	}

	// GPUs seen. CUDA stops enumerating at the first entry it cannot
	// use, so every index must exist.
	if v, ok := p.Env["CUDA_VISIBLE_DEVICES"]; ok {
		p.GPUs = []int{}
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			if strings.HasPrefix(tok, "GPU-") || strings.HasPrefix(tok, "MIG-") {
				// A UUID: the topology has no UUIDs to check it against.
				continue
			}
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || !b.m.hasGPU(n) {
				b.add(hcl.DiagError, config.CodeGPUNotPresent, within(b.cfg.Source, envAt, "CUDA_VISIBLE_DEVICES"),
					"GPU not present",
					"Processor %s sets CUDA_VISIBLE_DEVICES=%s, but the machine (%s) has no GPU %q: its GPUs are %s, in PCI bus order. CUDA ignores that entry and every one after it. Name GPUs the machine has (see `host topology`).",
					p.ID, v, b.machineName(), tok, b.gpuList())
				continue
			}
			if !containsInt(p.GPUs, n) {
				p.GPUs = append(p.GPUs, n)
			}
		}
	} else {
		for _, g := range b.m.gpus {
			p.GPUs = append(p.GPUs, g.Index)
		}
	}
	_, noGPU := p.Env["BELLMAN_NO_GPU"]
	switch p.Stage {
	case config.StageC2, config.StageSnapEncode, config.StageSnapProve, config.StageWindowPoSt, config.StageWinningPoSt:
		// SNARKs (c2, snap_prove, PoSt) and snap_encode's tree building
		// run on the GPU unless bellman is told not to.
		p.UsesGPU = !noGPU
	case config.StagePC2:
		if v, ok := p.Env["FIL_PROOFS_USE_GPU_TREE_BUILDER"]; ok {
			p.UsesGPU, _ = parseBoolEnv(v)
		}
	}
}

func (b *builder) gpuList() string {
	if len(b.m.gpus) == 0 {
		return "none"
	}
	var s []string
	for _, g := range b.m.gpus {
		s = append(s, strconv.Itoa(g.Index))
	}
	return strings.Join(s, ", ")
}

func containsInt(s []int, n int) bool {
	for _, x := range s {
		if x == n {
			return true
		}
	}
	return false
}

func (b *builder) pc1(p *Processor) {
	c := p.cfg
	on, producers, err := sdrSettings(p.Env)
	if err != nil {
		b.add(hcl.DiagError, CodeEnvInvalid, at(c.EnvRange, c.Range),
			"Invalid rust-fil-proofs setting",
			"Processor %s: %v. rust-fil-proofs fails to load its settings and the pc1 task panics. Fix the value in env.", p.ID, err)
		return
	}
	if !on || p.CPUs.Size() == 0 {
		return
	}
	cpusAt := at(c.CPUsRange, c.Range)
	s, partial, ok := b.m.sdrModel(p.CPUs, producers, p.Concurrent)
	if !ok {
		var parts []string
		var fix cpuset.CPUSet = cpuset.New()
		for _, g := range partial {
			parts = append(parts, fmt.Sprintf("L3 group %d (cpus %s) only in part (%s)", g.group, g.whole.String(), g.have.String()))
			fix = fix.Union(g.whole)
		}
		what := "it covers " + strings.Join(parts, "; ")
		do := fmt.Sprintf("Give it whole L3 groups: add cpus %s, or drop %s.", fix.Difference(p.CPUs).String(), p.CPUs.Intersection(fix).String())
		if len(partial) == 0 {
			what = "the L3 groups it covers hold different numbers of cores"
			do = "Give it L3 groups of equal size."
		}
		b.add(hcl.DiagError, config.CodePC1PartialL3, cpusAt,
			"pc1 cpuset does not cover whole L3 groups",
			"Processor %s runs pc1 with multicore SDR on cpuset %s, but %s. rust-fil-proofs splits the cpuset into one group per L3 cache and aborts when its cores do not divide evenly among them (damocles #329, #334). %s See `host topology` for the groups.",
			p.ID, p.CPUs.String(), what, do)
		p.unitsUnknown = true
		return
	}
	p.SDR = s
	p.Busy = b.m.sdrBusy(s, p.CPUs)
	if n := len(s.Units); p.Concurrent > n {
		suggest := ""
		for q := producers - 1; q >= 1; q-- {
			if b.m.unitsFor(p.CPUs, q) >= p.Concurrent {
				suggest = fmt.Sprintf(", or set %s=%d (units of %d cores fit %d tasks)", envProducers, q, q+1, b.m.unitsFor(p.CPUs, q))
				break
			}
		}
		lower := fmt.Sprintf("Lower concurrent to %d", n)
		if n == 0 {
			lower = "Give it L3 groups with more cores"
		}
		b.add(hcl.DiagWarning, config.CodePC1UnitsShort, at(c.ConcurRange, c.Range),
			"More pc1 tasks than multicore SDR units",
			"Processor %s runs %d pc1 tasks at once, but its cpuset %s holds %s of %d cores (%s + main) in %s of %d cores: %s without a unit, anywhere in the cpuset, slowing the bound ones. %s%s.",
			p.ID, p.Concurrent, p.CPUs.String(), plural(n, "unit"), s.UnitCores, plural(s.Producers, "producer"), plural(len(s.Groups), "L3 group"), s.GroupCores, runs(p.Concurrent-n), lower, suggest)
	}
}

// exclusive reports why a and b never run tasks at the same time, or "" when
// they can: a shared lock too small for one task of each, or a stage limit
// of one shared by two processors of that stage.
func (b *builder) exclusive(a, c *Processor) string {
	for _, l := range a.Locks {
		capacity, ok := b.locks[l]
		if !ok || !containsStr(c.Locks, l) {
			continue
		}
		if capacity < 2 {
			return fmt.Sprintf("they share lock %q of capacity %d", l, capacity)
		}
	}
	if a.Stage == c.Stage {
		if lim, ok := b.cfg.Limits[a.Stage]; ok && lim < 2 {
			return fmt.Sprintf("the %s limit is %d", a.Stage, lim)
		}
	}
	return ""
}

func containsStr(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pairs checks what two processors that can run at once may not share.
// Processors are compared for cpus only with those they share a busy cpu
// with (an index by cpu), and for GPUs only among those that use one, so a
// config of 2000 processors is checked in moments, not minutes. Past
// maxPairWarnings overlapping pairs, each processor gets one warning
// naming all it overlaps instead of one per pair.
func (b *builder) pairs() {
	byCPU := map[int][]int{}
	for i, a := range b.procs {
		if a.unitsUnknown {
			continue
		}
		for _, c := range a.Busy.UnsortedList() {
			byCPU[c] = append(byCPU[c], i)
		}
	}
	// One pass finds, for each processor j, the earlier ones it may run
	// beside on a shared cpu. stamp[i] == j+1 marks i as found for j, so
	// no per-processor map is made; only counts and the first few names
	// are kept, and cpusets are intersected only for what is reported.
	type overlaps struct {
		first []int // up to maxPairWarnings earlier processors, in order
		n     int
		cpus  cpuset.CPUSet
	}
	stamp := make([]int, len(b.procs))
	per := make([]overlaps, len(b.procs))
	total := 0
	var earlier []int // reused: a fresh one per processor is N² ints in all
	for j, c := range b.procs {
		if c.unitsUnknown {
			continue
		}
		earlier = earlier[:0]
		for _, cpu := range c.Busy.UnsortedList() {
			for _, i := range byCPU[cpu] {
				if i < j && stamp[i] != j+1 {
					stamp[i] = j + 1
					earlier = append(earlier, i)
				}
			}
		}
		sort.Ints(earlier)
		var busy []int
		for _, i := range earlier {
			if b.exclusive(b.procs[i], c) != "" {
				stamp[i] = 0
				continue
			}
			if len(per[j].first) < maxPairWarnings {
				per[j].first = append(per[j].first, i)
			}
			per[j].n++
			total++
		}
		// The shared cpus: those of j that some earlier, non-exclusive
		// processor (still stamped) also keeps busy.
		for _, cpu := range c.Busy.UnsortedList() {
			for _, i := range byCPU[cpu] {
				if i < j && stamp[i] == j+1 {
					busy = append(busy, cpu)
					break
				}
			}
		}
		per[j].cpus = cpuset.New(busy...)
	}
	if total <= maxPairWarnings {
		type pair struct{ i, j int }
		var found []pair
		for j := range per {
			for _, i := range per[j].first {
				found = append(found, pair{i, j})
			}
		}
		sort.Slice(found, func(x, y int) bool {
			if found[x].i != found[y].i {
				return found[x].i < found[y].i
			}
			return found[x].j < found[y].j
		})
		for _, o := range found {
			a, c := b.procs[o.i], b.procs[o.j]
			b.add(hcl.DiagWarning, config.CodeCPUOverlap, at(c.cfg.CPUsRange, c.cfg.Range),
				"Processors that can run at once share cpus",
				"Processors %s and %s both keep cpus %s busy and nothing stops them running at the same time, so their tasks compete for those cores. Give them disjoint cpusets, or, if they must take turns, make both hold a lock of capacity 1.",
				a.ID, c.ID, a.Busy.Intersection(c.Busy).String())
		}
	} else {
		for j, o := range per {
			if o.n == 0 {
				continue
			}
			c := b.procs[j]
			var ids []string
			for _, i := range o.first[:min(len(o.first), 5)] {
				ids = append(ids, b.procs[i].ID)
			}
			who := strings.Join(ids, ", ")
			if o.n > len(ids) {
				who += fmt.Sprintf(" and %d more", o.n-len(ids))
			}
			b.add(hcl.DiagWarning, config.CodeCPUOverlap, at(c.cfg.CPUsRange, c.cfg.Range),
				"Processors that can run at once share cpus",
				"Processor %s keeps cpus %s busy, as do %s, and nothing stops them running at the same time, so their tasks compete for those cores. Give them disjoint cpusets, or, if they must take turns, make them hold a lock of capacity 1.",
				c.ID, o.cpus.String(), who)
		}
	}

	var gpu []*Processor
	for _, p := range b.procs {
		if p.UsesGPU {
			gpu = append(gpu, p)
		}
	}
	for i, a := range gpu {
		for _, c := range gpu[i+1:] {
			if b.exclusive(a, c) != "" {
				continue
			}
			var shared []string
			for _, g := range a.GPUs {
				if containsInt(c.GPUs, g) {
					shared = append(shared, strconv.Itoa(g))
				}
			}
			if len(shared) > 0 {
				how := "both set CUDA_VISIBLE_DEVICES to include it"
				// The diagnostic points at what puts c on the GPU: its
				// CUDA_VISIBLE_DEVICES entry, or, without one, its block
				// (where the entry or a lock belongs).
				subject := at(c.cfg.EnvRanges["CUDA_VISIBLE_DEVICES"], c.cfg.Range)
				if _, ok := a.Env["CUDA_VISIBLE_DEVICES"]; !ok {
					how = a.ID + " sets no CUDA_VISIBLE_DEVICES and so sees every GPU"
				} else if _, ok := c.Env["CUDA_VISIBLE_DEVICES"]; !ok {
					how = c.ID + " sets no CUDA_VISIBLE_DEVICES and so sees every GPU"
				}
				b.add(hcl.DiagWarning, config.CodeGPUSharedWithoutLock, subject,
					"Processors that can run at once share a GPU",
					"Processors %s and %s both put work on GPU %s (%s) and share no lock of capacity 1, so a %s and a %s task can run on it together and run out of GPU memory (damocles #572). Declare a lock of capacity 1 and list it in both processors' locks, or give them different GPUs with CUDA_VISIBLE_DEVICES.",
					a.ID, c.ID, strings.Join(shared, ","), how, a.Stage, c.Stage)
			}
		}
	}
}

// Kernel limits on what exec takes (Linux: MAX_ARG_STRLEN per string; the
// whole argv and environment must fit ARG_MAX, a quarter of the 8 MiB
// default stack, of which half is left here for the environment).
const (
	maxArgLen  = 128 << 10
	maxArgvLen = 1 << 20
)

// plugins checks that each plugin the processors use can be executed: it
// exists (following links, without a loop), is a regular file with an
// execute bit, and its arguments fit what exec accepts. Otherwise every
// processor on it would fail at start with a less direct message.
func (b *builder) plugins() {
	used := map[string]bool{}
	for _, p := range b.cfg.Processors {
		used[p.Plugin] = true
	}
	for _, pl := range b.cfg.Plugins {
		if !used[pl.Name] {
			continue
		}
		fail := func(format string, args ...any) {
			b.add(hcl.DiagError, config.CodePluginNotRunnable, at(pl.PathRange, pl.Range), "Plugin cannot be run",
				"Plugin %q: "+format, append([]any{pl.Name}, args...)...)
		}
		st, err := os.Stat(pl.Path)
		switch {
		case err != nil:
			fail("%v. Build or install it there (e.g. `make build` for bin/plugins/…), or fix path.", err)
			continue
		case !st.Mode().IsRegular():
			fail("%s is not a regular file (%s). Point path at the plugin's binary.", pl.Path, st.Mode().Type())
			continue
		case st.Mode().Perm()&0o111 == 0:
			fail("%s is not executable (mode %s). chmod +x it.", pl.Path, st.Mode().Perm())
			continue
		}
		total := len(pl.Path) + 1
		for i, a := range pl.Args {
			if len(a) >= maxArgLen {
				fail("args[%d] is %d bytes; the kernel takes at most %d per argument. Pass large values in a file.", i, len(a), maxArgLen-1)
				break
			}
			total += len(a) + 1
		}
		if total > maxArgvLen {
			fail("its arguments add up to %d bytes; exec takes about %d with the environment. Pass large values in a file.", total, maxArgvLen)
		}
	}
}

// maxPairWarnings is how many cpu-overlap pairs are reported one by one.
const maxPairWarnings = 50

func (b *builder) limits() {
	for _, st := range config.Stages {
		lim, ok := b.cfg.Limits[st]
		if !ok {
			continue
		}
		sum := 0
		var ids []string
		for _, p := range b.procs {
			if p.Stage == st {
				sum += p.Concurrent
				ids = append(ids, p.ID)
			}
		}
		if lim > sum {
			who := "there is no " + string(st) + " processor"
			fix := fmt.Sprintf("Remove limits.%s, or add a processor \"%s\" block.", st, st)
			if len(ids) > 0 {
				who = fmt.Sprintf("its processors (%s) run at most %d at once", strings.Join(ids, ", "), sum)
				fix = fmt.Sprintf("Lower limits.%s to %d, or raise the processors' concurrent.", st, sum)
			}
			b.add(hcl.DiagWarning, config.CodeLimitUnreachable, nil,
				"Stage limit cannot be reached",
				"The %s limit is %d, but %s, so the limit never binds and misstates the plan's capacity. %s",
				st, lim, who, fix)
		}
	}
}

// memory attributes each pc1 processor's need to its preferred node, or
// splits it over the nodes of its cpus in proportion to their count.
func (b *builder) memory() {
	need := map[int][]MemoryNeed{}
	for _, p := range b.procs {
		if p.Stage != config.StagePC1 {
			continue
		}
		total := uint64(p.Concurrent) * b.p.PC1TaskBytes
		if n := p.NUMAPreferred; n != nil && b.m.hasNode(*n) {
			need[*n] = append(need[*n], MemoryNeed{p.ID, total})
			continue
		}
		size := uint64(p.CPUs.Size())
		if size == 0 {
			continue
		}
		var given uint64
		var first = -1
		for _, nd := range b.m.nodes {
			k := uint64(nd.cpus.Intersection(p.CPUs).Size())
			if k == 0 {
				continue
			}
			if first < 0 {
				first = nd.id
			}
			share := total * k / size
			given += share
			need[nd.id] = append(need[nd.id], MemoryNeed{p.ID, share})
		}
		if first >= 0 && given < total { // rounding remainder
			s := need[first]
			s[len(s)-1].Bytes += total - given
		}
	}
	for _, nd := range b.m.nodes {
		mem := Memory{NUMA: nd.id, HaveBytes: nd.memory, Needs: need[nd.id]}
		var parts []string
		for _, n := range mem.Needs {
			mem.NeedBytes += n.Bytes
			parts = append(parts, fmt.Sprintf("%s %s", n.Processor, config.HumanSize(n.Bytes)))
		}
		if mem.Needs == nil {
			mem.Needs = []MemoryNeed{}
		}
		b.p.Memory = append(b.p.Memory, mem)
		if mem.NeedBytes > mem.HaveBytes {
			b.add(hcl.DiagWarning, config.CodeMemoryOvercommit, nil,
				"NUMA node memory overcommitted",
				"NUMA node %d has %s, but the pc1 tasks planned on it need %s (%s; %s a task for %s sectors): tasks will swap, spill to the other node, or be killed. Lower pc1 concurrent, or move pc1 to another node with numa_preferred and its cpuset.",
				nd.id, config.HumanSize(mem.HaveBytes), config.HumanSize(mem.NeedBytes), strings.Join(parts, ", "), config.HumanSize(b.p.PC1TaskBytes), b.p.SectorSize)
		}
	}
}

func (b *builder) cpuMap() {
	busy := cpuset.New()
	for _, p := range b.procs {
		busy = busy.Union(p.Busy)
	}
	b.p.Spare = b.m.all.Difference(busy)
	for _, id := range b.m.all.List() {
		c := CPU{CPU: id, NUMA: b.m.nodeOf(id), L3: b.m.cpus[id].L3, Processors: []string{}}
		for _, p := range b.procs {
			if p.Busy.Contains(id) {
				c.Processors = append(c.Processors, p.ID)
			}
		}
		c.Spare = len(c.Processors) == 0
		b.p.CPUs = append(b.p.CPUs, c)
	}
	for _, p := range b.procs {
		b.p.Processors = append(b.p.Processors, *p)
	}
}

func (b *builder) lockTable() {
	for _, st := range b.cfg.Arbiter.Urgent {
		b.p.Urgent = append(b.p.Urgent, string(st))
	}
	if len(b.p.Urgent) > 0 {
		b.p.UrgentBurst = b.cfg.Arbiter.UrgentBurst
		if b.p.UrgentBurst == 0 {
			b.p.UrgentBurst = arbiter.DefaultUrgentBurst
		}
	}
	for _, l := range b.cfg.Locks {
		lk := Lock{Name: l.Name, Capacity: l.Capacity, Processors: []string{}}
		lk.PreemptAfter, lk.Preempt = b.cfg.Arbiter.Preempt[l.Name]
		for st, d := range b.cfg.Arbiter.PreemptFor[l.Name] {
			if lk.PreemptFor == nil {
				lk.PreemptFor = map[string]time.Duration{}
			}
			lk.PreemptFor[string(st)] = d
		}
		for _, p := range b.procs {
			if containsStr(p.Locks, l.Name) {
				lk.Processors = append(lk.Processors, p.ID)
			}
		}
		b.p.Locks = append(b.p.Locks, lk)
	}
}

func (b *builder) gpuTable() {
	for _, g := range b.m.gpus {
		gu := GPU{Index: g.Index, NUMA: g.Node, Address: g.Address, Processors: []string{}}
		for _, p := range b.procs {
			if p.UsesGPU && containsInt(p.GPUs, g.Index) {
				gu.Processors = append(gu.Processors, p.ID)
			}
		}
		b.p.GPUs = append(b.p.GPUs, gu)
	}
}

// Source returns the config file's bytes, for quoting lines in diagnostics.
func (p *Plan) Source() []byte { return p.src }

// within narrows r to the first occurrence of needle in the source text r
// covers (an env key inside an env map, a lock name inside a list), so a
// diagnostic points at the very word. It returns r unchanged when the text
// is not at hand or does not hold needle.
func within(src []byte, r *hcl.Range, needle string) *hcl.Range {
	if r == nil || needle == "" || r.End.Byte > len(src) || r.Start.Byte >= r.End.Byte {
		return r
	}
	i := strings.Index(string(src[r.Start.Byte:r.End.Byte]), needle)
	if i < 0 {
		return r
	}
	pos := r.Start
	for _, ch := range string(src[r.Start.Byte : r.Start.Byte+i]) {
		pos.Byte += len(string(ch))
		if ch == '\n' {
			pos.Line++
			pos.Column = 1
		} else {
			pos.Column++
		}
	}
	end := pos
	end.Byte += len(needle)
	end.Column += len([]rune(needle))
	return &hcl.Range{Filename: r.Filename, Start: pos, End: end}
}

func runs(n int) string {
	if n == 1 {
		return "1 task runs"
	}
	return strconv.Itoa(n) + " tasks run"
}

func cpuWord(s cpuset.CPUSet) string {
	if s.Size() == 1 {
		return "cpu"
	}
	return "cpus"
}
