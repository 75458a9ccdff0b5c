package damoclesconf

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk/pluginclient"
)

// Options shape the written config.
type Options struct {
	// File names the TOML file in diagnostics and in the written header.
	File string
	// PluginDir is the folder of sealhost's plugin binaries as the written
	// config names it (relative paths resolve from the config file's
	// folder); default "bin/plugins". plugins/ffi is DIR/ffi, the damocles
	// bridge DIR/damocles.
	PluginDir string
	// SectorSize is written as sector_size; when empty it is taken from
	// sealing.allowed_sizes if that names exactly one size, else 32GiB.
	SectorSize string
}

// DefaultPluginDir is Options.PluginDir when it is empty.
const DefaultPluginDir = "bin/plugins"

// Result is a translation: the config (nil when Diagnostics has errors)
// and everything that behaves differently, in file order.
type Result struct {
	HCL         []byte
	Diagnostics Diagnostics
}

// Translate reads a damocles-worker TOML file and writes the equivalent
// sealhost config. It never panics on any input; the config it returns
// decodes without errors (it is checked with package config first).
func Translate(src []byte, opt Options) Result {
	if opt.File == "" {
		opt.File = "damocles.toml"
	}
	if opt.PluginDir == "" {
		opt.PluginDir = DefaultPluginDir
	}
	t := &translator{opt: opt, locks: map[string]*lockBlock{}}
	t.run(src)
	t.diags.sort()
	if t.diags.HasErrors() {
		return Result{Diagnostics: t.diags}
	}
	out := t.m.write(opt.File)
	if len(out) > config.MaxFileSize {
		t.diags = append(t.diags, Diagnostic{Severity: Error, Code: CodeTOML,
			Summary: "Translated config too large",
			Detail:  fmt.Sprintf("The config would be %d bytes, over the 1 MiB sealhost reads (%d processors); a real machine's is a few KB. Is it the right file?", len(out), len(t.m.procs))})
		return Result{Diagnostics: t.diags}
	}
	// What is written must load: a translation bug is an error here, not
	// a config `host validate` refuses later.
	if _, cd := config.Parse(out, "imported.hcl"); cd.HasErrors() {
		var msgs []string
		for _, d := range cd {
			if d.Severity == hcl.DiagError {
				msgs = append(msgs, d.Error())
			}
		}
		t.diags = append(t.diags, Diagnostic{Severity: Error, Code: CodeInternal,
			Summary: "The translated config does not load",
			Detail:  "This is a bug in host import; please report it with the TOML file. sealhost said: " + strings.Join(msgs, "; ")})
		return Result{Diagnostics: t.diags}
	}
	return Result{HCL: out, Diagnostics: t.diags}
}

type translator struct {
	opt   Options
	d     *doc
	diags Diagnostics
	m     model

	locks     map[string]*lockBlock
	lockOrder []string
	declared  int // the first declared of lockOrder are ext_locks
	// limits and staggers of the stages that have translated processors.
	limits map[config.Stage]int
	// stagesWithProcs counts the processors translated per stage.
	stagesWithProcs map[config.Stage]int
}

func (t *translator) add(sev Severity, code Code, path, summary, format string, args ...any) {
	t.diags = append(t.diags, Diagnostic{
		Severity: sev, Code: code, Pos: t.posOf(path), Key: path,
		Summary: summary, Detail: fmt.Sprintf(format, args...),
	})
}

// addValue is add for a diagnostic about path's value rather than its key:
// it points at the value.
func (t *translator) addValue(sev Severity, code Code, path, summary, format string, args ...any) {
	t.add(sev, code, path, summary, format, args...)
	if t.d != nil {
		if p, ok := t.d.vpos[path]; ok {
			t.diags[len(t.diags)-1].Pos = p
		}
	}
}

func (t *translator) posOf(path string) Position {
	if t.d == nil || path == "" {
		return Position{}
	}
	return t.d.posOf(path)
}

func (t *translator) run(src []byte) {
	if len(src) > config.MaxFileSize {
		t.add(Error, CodeTOML, "", "File too large",
			"%s is over %d bytes (1 MiB); a damocles-worker config is a few KB. Is it the right file?", t.opt.File, config.MaxFileSize)
		return
	}
	d, err := parseTOML(src)
	if err != nil {
		var te *errTOML
		pos := Position{}
		msg := err.Error()
		if errors.As(err, &te) {
			pos, msg = te.pos, te.msg
		}
		t.diags = append(t.diags, Diagnostic{Severity: Error, Code: CodeTOML, Pos: pos,
			Summary: "Not valid TOML",
			Detail:  msg + ". damocles-worker could not read this file either; fix it and import again."})
		return
	}
	t.d = d
	t.m.sourceFile = t.opt.File
	t.limits = map[config.Stage]int{}
	t.stagesWithProcs = map[config.Stage]int{}

	var procs map[string]any
	var allowedSizes any
	hasSizes := false
	for _, k := range t.sortedKeys("", d.root) {
		v := d.root[k]
		path := joinKey("", k)
		switch {
		case k == "processors":
			if m, ok := t.table(path, v); ok {
				procs = m
			}
		case contains(topSections, k):
			t.add(Info, CodeNotTranslated, path, "Not translated: handled by damocles, not sealhost",
				"[%s] configures damocles-worker itself; keep it in the worker's TOML. Only [processors] moves to sealhost.", k)
			if k == "sealing" {
				if m, ok := v.(map[string]any); ok {
					allowedSizes, hasSizes = m["allowed_sizes"]
				}
			}
			if k == "sealing_thread" {
				if list, ok := v.([]any); ok && len(list) > 0 {
					t.m.sealingThreads = len(list)
				}
			}
		default:
			t.unknownKey(path, k, topSections, "the top level")
		}
	}
	t.sectorSize(allowedSizes, hasSizes)
	if procs == nil {
		t.add(Warning, CodeNotTranslated, "", "No [processors] section",
			"%s has no [processors] section, so damocles runs every stage inside the worker and there is nothing for sealhost to run. The written config has no processors.", t.opt.File)
		return
	}
	t.processors(procs)
}

// sortedKeys returns m's keys in file order (decoded maps have none).
func (t *translator) sortedKeys(path string, m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := t.d.posOf(joinKey(path, keys[i])), t.d.posOf(joinKey(path, keys[j]))
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return keys[i] < keys[j]
	})
	return keys
}

func (t *translator) unknownKey(path, key string, known []string, where string) {
	t.add(Warning, CodeUnknownKey, path, "Unknown key ignored",
		"damocles-worker does not know %q in %s and silently ignores it, so it had no effect there and is not translated.%s Fix or delete it.",
		key, where, suggest(key, known))
}

func (t *translator) sectorSize(allowed any, has bool) {
	if s := t.opt.SectorSize; s != "" {
		for _, ss := range config.SectorSizes {
			if ss.Name == s {
				t.m.sectorSize = s
				return
			}
		}
		t.add(Error, CodeSectorSize, "", "Unsupported sector size",
			"-sector-size %q is not a size the proofs support; use one of %s.", s, sectorSizeNames())
		return
	}
	t.m.sectorSize = "32GiB"
	if has {
		path := "sealing.allowed_sizes"
		list, _ := allowed.([]any)
		var names []string
		for _, v := range list {
			s, ok := v.(string)
			if !ok {
				continue
			}
			for _, ss := range config.SectorSizes {
				if strings.EqualFold(ss.Name, s) {
					names = append(names, ss.Name)
				}
			}
		}
		if len(names) == 1 {
			t.m.sectorSize = names[0]
			t.add(Info, CodeSectorSize, path, "Sector size from sealing.allowed_sizes",
				"sector_size = %q, the one size the worker seals.", names[0])
			return
		}
		t.add(Warning, CodeSectorSize, path, "Sector size assumed",
			"sealing.allowed_sizes does not name exactly one supported size; sealhost plans memory and SDR units for one. Wrote sector_size = \"32GiB\"; import with -sector-size SIZE to choose (one of %s).", sectorSizeNames())
		return
	}
	t.add(Warning, CodeSectorSize, "", "Sector size assumed",
		"The file does not say which sector size the worker seals (sealing.allowed_sizes); sealhost plans memory and SDR units for one. Wrote sector_size = \"32GiB\"; import with -sector-size SIZE to choose (one of %s).", sectorSizeNames())
}

func sectorSizeNames() string {
	var names []string
	for _, s := range config.SectorSizes {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// rawProc is a processor block read from the TOML, before its concurrency
// is settled (that needs every lock and limit).
type rawProc struct {
	path       string
	bin        string // "" for damocles' built-in processor
	stage      config.Stage
	block      *procBlock
	concurrent int // 0: not set
	locks      []string
}

func (t *translator) processors(procs map[string]any) {
	const where = "[processors]"
	// Locks first: a processor's lock is checked against them.
	if v, ok := procs["ext_locks"]; ok {
		t.extLocks("processors.ext_locks", v)
	}
	var raws []*rawProc
	for _, k := range t.sortedKeys("processors", procs) {
		path := joinKey("processors", k)
		v := procs[k]
		switch {
		case contains(sealStages, k):
			list, ok := t.list(path, v, "an array of tables, [[processors."+k+"]]")
			if !ok {
				continue
			}
			for i, e := range list {
				ep := indexKey(path, i)
				m, ok := t.table(ep, e)
				if !ok {
					continue
				}
				if r := t.processor(config.Stage(k), ep, m); r != nil {
					raws = append(raws, r)
					t.stagesWithProcs[r.stage]++
				}
			}
		case contains(otherStages, k):
			n := 0
			if list, ok := v.([]any); ok {
				n = len(list)
			}
			t.add(Warning, CodeUnsupportedStage, path, "Not translated: "+noStage(k),
				"`host processor` serves damocles' %s; the %d [[processors.%s]] block(s) stay with damocles-worker. Keep them in its TOML.", strings.Join(sealStages, ", "), n, k)
		case k == "static_tree_d":
			t.add(Info, CodeNotTranslated, path, "Not translated: handled by damocles, not sealhost",
				"damocles-worker uses a static tree_d file for CC sectors before it sends any task; keep it in its TOML.")
		case k == "ext_locks", k == "limit", k == "limitation":
		default:
			t.unknownKey(path, k, append(append(append([]string{}, processorsKeys...), sealStages...), otherStages...), where)
		}
	}
	t.stageLimits(procs)
	for _, r := range raws {
		t.settleConcurrent(r)
	}
	t.m.procs = groupByLock(raws)
	for _, name := range t.lockOrder {
		l := t.locks[name]
		if len(l.holders) == 0 {
			t.add(Info, CodeNotTranslated, l.path, "Lock held by no processor",
				"ext_locks declares %q, but no processor lists it; it is declared in the config all the same, and holds nothing back.", name)
		}
		if stages := holderStages(l.holders); len(stages) > 1 {
			t.add(Warning, CodeSharedLock, l.path, "Lock shared by stages: sealhost shares it fairly",
				"%q is held by %s (%s). Under damocles the processor that releases it, if it has more work, in effect takes it again, so one stage can keep it while the other's sectors pile up (the seed document's warning about Plan B). sealhost's arbiter shares it between stages by weight (policy \"fair\", equal weights) and never leaves it idle while a task waits. `host simulate` shows the difference; add arbiter { policy = \"greedy\" } to the config for damocles' behaviour.",
				name, andList(stages), strings.Join(l.holders, ", "))
		}
		t.m.locks = append(t.m.locks, *l)
	}
}

// andList is "a", "a and b", "a, b and c".
func andList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// holderStages returns the distinct stages of processor ids, in order.
func holderStages(ids []string) []string {
	var out []string
	for _, id := range ids {
		st, _, _ := strings.Cut(id, ".")
		if !contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}

// groupByLock returns the processors in TOML order, except that one
// holding a lock is written right after the last earlier processor sharing
// a lock with it, so the processors that take turns read together (Plan B's
// GPU groups, as config.hcl writes them). It never moves a processor before
// an earlier one of its own stage: ids (<stage>.<n>, in file order) stay
// the TOML's indices.
//
// The grouping is cosmetic and quadratic, so a file with more than
// maxGrouped processors (no real machine has) keeps plain file order.
func groupByLock(raws []*rawProc) []procBlock {
	if len(raws) > maxGrouped {
		blocks := make([]procBlock, len(raws))
		for i, r := range raws {
			blocks[i] = *r.block
		}
		return blocks
	}
	var out []*rawProc
	for _, r := range raws {
		at := len(out)
		if len(r.locks) > 0 {
			sharer, same := -1, -1
			for i, o := range out {
				if o.stage == r.stage {
					same = i
				}
				for _, l := range r.locks {
					if contains(o.locks, l) {
						sharer = i
					}
				}
			}
			if sharer >= 0 {
				at = max(sharer, same) + 1
			}
		}
		out = append(out, nil)
		copy(out[at+1:], out[at:])
		out[at] = r
	}
	blocks := make([]procBlock, len(out))
	for i, r := range out {
		blocks[i] = *r.block
	}
	return blocks
}

const maxGrouped = 512

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

type lockBlock struct {
	name     string
	capacity int
	path     string
	comment  string
	holders  []string
	declared bool // in ext_locks
}

func (t *translator) extLocks(path string, v any) {
	m, ok := t.table(path, v)
	if !ok {
		return
	}
	for _, name := range t.sortedKeys(path, m) {
		lp := joinKey(path, name)
		n, ok := t.count(lp, m[name])
		if !ok {
			continue
		}
		if n == 0 {
			t.addValue(Error, CodeBadValue, lp, "Lock of capacity 0",
				"damocles would block every processor that lists %q forever. Give it a capacity of 1 or more (1: one holder at a time), or delete it and its uses.", name)
			continue
		}
		if !nameRE.MatchString(name) {
			t.add(Error, CodeBadValue, lp, "Lock name sealhost cannot use",
				"%q: lock names are letters, digits, '_', '.' and '-', starting with a letter, digit or '_'. Rename it here and in every processor's locks, then import again.", name)
			continue
		}
		t.locks[name] = &lockBlock{name: name, capacity: n, path: lp, declared: true}
		t.lockOrder = append(t.lockOrder, name)
		t.declared++
	}
}

func (t *translator) stageLimits(procs map[string]any) {
	var conc map[string]any
	concPath := ""
	lim, hasLimitation := procs["limitation"]
	var limitation map[string]any
	if hasLimitation {
		limitation, _ = t.table("processors.limitation", lim)
		for _, k := range t.sortedKeys("processors.limitation", limitation) {
			if !contains(limitationKeys, k) {
				t.unknownKey(joinKey("processors.limitation", k), k, limitationKeys, "[processors.limitation]")
			}
		}
	}
	if v, ok := limitation["concurrent"]; ok {
		conc, _ = t.table("processors.limitation.concurrent", v)
		concPath = "processors.limitation.concurrent"
	}
	if v, ok := procs["limit"]; ok {
		if conc != nil {
			t.add(Warning, CodeNotTranslated, "processors.limit", "Ignored: limitation.concurrent is set",
				"damocles reads [processors.limit] only when [processors.limitation.concurrent] is absent, so these limits had no effect and are not translated. Delete them.")
		} else if m, ok := t.table("processors.limit", v); ok {
			conc, concPath = m, "processors.limit"
		}
	}
	for _, k := range t.sortedKeys(concPath, conc) {
		lp := joinKey(concPath, k)
		n, ok := t.count(lp, conc[k])
		if !ok {
			continue
		}
		if !t.stageLimitApplies(lp, k, "limit") {
			continue
		}
		if n == 0 {
			t.addValue(Error, CodeBadValue, lp, "Stage limit of 0",
				"damocles would never run a %s task. Give it 1 or more, or delete the stage's processors.", k)
			continue
		}
		if n > math.MaxInt32 {
			t.addValue(Error, CodeBadValue, lp, "Stage limit too large", "%d is more than sealhost accepts (%d); no machine runs that many.", n, math.MaxInt32)
			continue
		}
		st := config.Stage(k)
		t.limits[st] = n
		t.m.limits = append(t.m.limits, stageValue{stage: st, value: fmt.Sprint(n)})
	}
	if v, ok := limitation["staggered"]; ok {
		sp := "processors.limitation.staggered"
		stag, _ := t.table(sp, v)
		for _, k := range t.sortedKeys(sp, stag) {
			lp := joinKey(sp, k)
			s, ok := t.str(lp, stag[k])
			if !ok {
				continue
			}
			dur, err := parseHumanDuration(s)
			if err != nil {
				t.addValue(Error, CodeBadValue, lp, "Invalid duration", "%v. damocles-worker refuses it too.", err)
				continue
			}
			if !t.stageLimitApplies(lp, k, "stagger") {
				continue
			}
			t.m.stagger = append(t.m.stagger, stageValue{stage: config.Stage(k), value: formatDuration(dur)})
		}
	}
	sortStageValues(t.m.limits)
	sortStageValues(t.m.stagger)
}

// stageLimitApplies reports whether a limit on stage k moves to sealhost:
// only for stages whose processors do. A limit on a stage damocles runs
// in-process (no processor block, or c1) keeps working there.
func (t *translator) stageLimitApplies(path, k, what string) bool {
	if !contains(limitStages, k) {
		t.unknownKey(path, k, limitStages, "stage "+what+"s (no damocles stage has this name)")
		return false
	}
	st := config.Stage(k)
	if t.stagesWithProcs[st] > 0 {
		return true
	}
	why := fmt.Sprintf("no [[processors.%s]] block moves to sealhost, so damocles runs %s itself and its %s stays there", k, k, what)
	if !contains(sealStages, k) && k != string(config.StageC1) {
		why = fmt.Sprintf("%s; the %s stays with damocles-worker", noStage(k), what)
	}
	t.add(Info, CodeNotTranslated, path, "Not translated: handled by damocles, not sealhost", "%s. Keep it in the worker's TOML.", why)
	return false
}

// processor translates one [[processors.STAGE]] block; nil when it is not
// translated (an error was reported, or it is left out).
func (t *translator) processor(stage config.Stage, path string, m map[string]any) *rawProc {
	// sealhost numbers a stage's processors in file order; a block left
	// out (one already running `host processor`) takes no number.
	id := fmt.Sprintf("%s.%d", stage, t.stagesWithProcs[stage])
	for _, k := range t.sortedKeys(path, m) {
		if !contains(extKeys, k) {
			t.unknownKey(joinKey(path, k), k, extKeys, fmt.Sprintf("[[processors.%s]]", stage))
		}
	}
	r := &rawProc{path: path, stage: stage, block: &procBlock{stage: stage, id: id, line: t.d.posOf(path).Line}}
	for _, step := range []func(*rawProc, map[string]any) bool{
		t.binary, t.confinement, t.envs, t.concurrency, t.procLocks, t.restartAndEnv,
	} {
		if !step(r, m) {
			return nil
		}
	}
	if stage == config.StagePC1 {
		if err := plan.SDREnvError(r.block.envMap()); err != nil {
			t.add(Error, CodeEnvInvalid, path+".envs", "Invalid rust-fil-proofs setting",
				"%v. rust-fil-proofs cannot run pc1 with it (under damocles too); `host validate` refuses it. Fix it in envs and import again.", err)
			return nil
		}
	}
	return r
}

// binary reads bin, args and stable_wait: the built-in processor
// (plugins/ffi) or the bridge running bin.
func (t *translator) binary(r *rawProc, m map[string]any) bool {
	path, stage, p := r.path, r.stage, r.block
	var bin string
	hasBin := false
	if v, ok := m["bin"]; ok {
		s, ok := t.str(path+".bin", v)
		if !ok {
			return false
		}
		if strings.TrimSpace(s) == "" {
			t.addValue(Error, CodeBadValue, path+".bin", "Empty bin", "damocles could not start an empty path (the worker stops at start). Name the processor binary, or delete bin to use the built-in processor.")
			return false
		}
		bin, hasBin = s, true
	}
	r.bin = bin
	var args []string
	hasArgs := false
	if v, ok := m["args"]; ok {
		a, ok := t.strList(path+".args", v)
		if !ok {
			return false
		}
		args, hasArgs = a, true
	}
	stableWait := ""
	if v, ok := m["stable_wait"]; ok {
		sp := path + ".stable_wait"
		s, ok := t.str(sp, v)
		if !ok {
			return false
		}
		dur, err := parseHumanDuration(s)
		if err != nil {
			t.addValue(Error, CodeBadValue, sp, "Invalid duration", "%v. damocles-worker refuses it too.", err)
			return false
		}
		if dur < time.Millisecond {
			t.addValue(Error, CodeBadValue, sp, "stable_wait too short",
				"%s leaves the processor no time to print its ready line: damocles would fail to start it. Delete it (default %s) or give it time.", s, defaultStableWait)
			return false
		}
		stableWait = dur.String() // the bridge's -stable-wait is a Go duration
		switch {
		case hasBin && dur >= pluginclient.DefaultStartTimeout:
			t.add(Warning, CodeStableWait, sp, "stable_wait longer than the host's plugin start",
				"The damocles bridge waits up to %s for %q's ready line (-stable-wait), but the host gives a plugin %v to start, that wait included: a processor slower than that fails to start and is retried with backoff. Lower stable_wait below %v if the processor allows.",
				stableWait, bin, pluginclient.DefaultStartTimeout, pluginclient.DefaultStartTimeout)
		case hasBin:
			t.add(Info, CodeStableWait, sp, "stable_wait passed to the bridge",
				"The damocles bridge waits up to %s for %q's ready line, as damocles did (-stable-wait).", stableWait, bin)
		default:
			t.add(Warning, CodeStableWait, sp, "stable_wait not translated",
				"It is damocles' wait for its built-in processor's ready line; plugins/ffi answers sealhost's plugin handshake instead, under the host's own start timeout. Nothing replaces it; delete it.")
		}
	}
	if hasBin {
		base := filepath.Base(bin)
		if base == "host" && (!hasArgs || len(args) > 0 && args[0] == "processor") {
			t.add(Warning, CodeBridge, path+".bin", "Already runs sealhost: not translated",
				"This block runs `host processor %s`, sealhost's own adapter: it is the damocles side of a migration already done, and importing it would make the host call itself. Import the worker's TOML from before the migration.", stage)
			return false
		}
		if !contains(damocles.BridgeStages, string(stage)) {
			t.add(Warning, CodeUnsupportedStage, path+".bin", "Not translated: the damocles bridge does not serve "+string(stage),
				"plugins/damocles runs damocles-protocol binaries for %s only, so %q stays with damocles-worker: keep this block in its TOML, or delete bin to run %s on plugins/ffi.",
				strings.Join(damocles.BridgeStages, ", "), bin, stage)
			return false
		}
		if !hasArgs {
			args = []string{"processor", string(stage)}
		}
		p.plugin = t.bridgePlugin(stage, bin, args, stableWait)
		detail := fmt.Sprintf("%q runs inside the processor's cgroup under plugins/damocles, which speaks damocles' protocol to it", bin)
		if !hasArgs {
			detail += fmt.Sprintf(" (with damocles' default arguments %q, written out)", strings.Join(args, " "))
		}
		detail += ". Check that the bridge is built (bin/plugins/damocles)."
		if strings.HasPrefix(base, "damocles-worker") {
			detail += " This is damocles' own built-in processor run by path; delete bin (and args) to run the stage on plugins/ffi instead."
		}
		if !filepath.IsAbs(bin) {
			detail += " The path is relative: damocles resolved it from the worker's folder, the bridge from the host's; write it absolute."
		}
		t.add(Info, CodeBridge, path+".bin", "Own binary: run through the damocles bridge", "%s", detail)
	} else {
		p.plugin = t.ffiPlugin()
		if hasArgs {
			t.add(Warning, CodeBridge, path+".args", "args not translated",
				"Without bin these are arguments to damocles' built-in processor; plugins/ffi takes none, so they are dropped. Set bin as well to run damocles' own binary through the bridge.")
		}
	}
	return true
}

// confinement reads cgroup and numa_preferred, which the host applies now.
func (t *translator) confinement(r *rawProc, m map[string]any) bool {
	path, id, p := r.path, r.block.id, r.block
	if v, ok := m["cgroup"]; ok {
		cp := path + ".cgroup"
		cg, ok := t.table(cp, v)
		if !ok {
			return false
		}
		for _, k := range t.sortedKeys(cp, cg) {
			if !contains(cgroupKeys, k) {
				t.unknownKey(joinKey(cp, k), k, cgroupKeys, fmt.Sprintf("[[processors.%s]] cgroup", r.stage))
			}
		}
		if v, ok := cg["group_name"]; ok {
			if _, ok := t.str(cp+".group_name", v); !ok {
				return false
			}
			t.add(Info, CodeHostOwned, cp+".group_name", "group_name not translated: the host names cgroups",
				"sealhost puts each processor in a cgroup of its own under the host's, named after the processor (%s); the name is not needed.", id)
		}
		if v, ok := cg["cpuset"]; ok {
			sp := cp + ".cpuset"
			s, ok := t.str(sp, v)
			if !ok {
				return false
			}
			set, err := config.ParseCPUs(s)
			switch {
			case err != nil:
				t.addValue(Error, CodeBadValue, sp, "Invalid cpuset", "%v.", err)
				return false
			case set.IsEmpty():
				t.addValue(Error, CodeBadValue, sp, "Empty cpuset", "An empty cpuset runs nowhere. List the processor's cpus, like \"0-41\", or delete cgroup.cpuset to let it use every cpu.")
				return false
			}
			p.cpuset = set.String()
			if r.bin != "" {
				t.add(Warning, CodeHostOwned, sp, "cpuset now enforced by the host",
					"damocles only told %q its cpuset (VC_CG_CPUSET) and the binary confined itself, if it read it. The host now confines it, and whatever it starts, to cpus %s before its first instruction, and no longer sets VC_CG_*.", r.bin, p.cpuset)
			} else {
				t.add(Info, CodeHostOwned, sp, "cpuset enforced by the host",
					"The host confines %s to cpus %s before its first instruction, where damocles' built-in processor confined itself from VC_CG_CPUSET.", id, p.cpuset)
			}
		}
	}
	if v, ok := m["numa_preferred"]; ok {
		np := path + ".numa_preferred"
		n, ok := t.count(np, v)
		if !ok {
			return false
		}
		if n > math.MaxInt32 {
			t.addValue(Error, CodeBadValue, np, "NUMA node out of range", "%d is not a NUMA node; nodes are numbered from 0, as in /sys/devices/system/node.", n)
			return false
		}
		p.numa = &n
		t.add(Info, CodeHostOwned, np, "NUMA preference set by the host",
			"The host sets %s's memory policy to prefer node %d (MPOL_PREFERRED) before it starts, where damocles passed VENUS_WORKER_NUMA_PREFERRED for the process to apply.", id, n)
	}
	return true
}

// concurrency reads concurrent; unset is settled later (settleConcurrent).
func (t *translator) concurrency(r *rawProc, m map[string]any) bool {
	path := r.path
	if v, ok := m["concurrent"]; ok {
		cp := path + ".concurrent"
		n, ok := t.count(cp, v)
		if !ok {
			return false
		}
		if n == 0 {
			t.addValue(Error, CodeBadValue, cp, "concurrent = 0",
				"damocles would never start a task on this processor. Set 1 or more, or delete the block.")
			return false
		}
		if n > math.MaxInt32 {
			t.addValue(Error, CodeBadValue, cp, "concurrent too large", "%d is more than sealhost accepts (%d).", n, math.MaxInt32)
			return false
		}
		r.concurrent = n
	}
	return true
}

// procLocks reads locks; an undeclared one is declared with capacity 1.
func (t *translator) procLocks(r *rawProc, m map[string]any) bool {
	path, id, p := r.path, r.block.id, r.block
	if v, ok := m["locks"]; ok {
		lp := path + ".locks"
		names, ok := t.strList(lp, v)
		if !ok {
			return false
		}
		for i, name := range names {
			ep := indexKey(lp, i)
			if contains(r.locks, name) {
				t.add(Warning, CodeUndeclaredLock, ep, "Lock listed twice: dropped",
					"damocles takes %q twice for each task, so with capacity 1 the processor blocks itself forever. sealhost takes each lock once; the second is dropped.", name)
				continue
			}
			l := t.locks[name]
			if l == nil {
				if !nameRE.MatchString(name) {
					t.add(Error, CodeBadValue, ep, "Lock name sealhost cannot use",
						"%q: lock names are letters, digits, '_', '.' and '-', starting with a letter, digit or '_'. Rename it, then import again.", name)
					return false
				}
				l = &lockBlock{name: name, capacity: 1, path: ep,
					comment: fmt.Sprintf("not in ext_locks (damocles: no limit); capacity 1 chosen by host import (%s)", t.lineRef(ep))}
				t.locks[name] = l
				t.lockOrder = append(t.lockOrder, name)
				t.add(Warning, CodeUndeclaredLock, ep, "Undeclared lock: declared with capacity 1",
					"No [processors.ext_locks] entry declares %q, so damocles put no limit on it at all: its holders ran together.%s sealhost refuses an undeclared lock; the config declares `lock %q { capacity = 1 }`, so its holders now take turns. If they may run together, raise capacity to how many may, or drop the lock from their locks.",
					name, suggest(name, t.declaredLocks()), name)
			}
			l.holders = append(l.holders, id)
			r.locks = append(r.locks, name)
		}
		p.locks = r.locks
	}
	return true
}

// restartAndEnv reads auto_restart and inherit_envs.
func (t *translator) restartAndEnv(r *rawProc, m map[string]any) bool {
	path, stage, p := r.path, r.stage, r.block
	if v, ok := m["auto_restart"]; ok {
		ap := path + ".auto_restart"
		b, ok := t.boolean(ap, v)
		if !ok {
			return false
		}
		if !b {
			t.add(Warning, CodeRestart, ap, "auto_restart = false not translated: sealhost always restarts",
				"damocles left a dead %s processor down. sealhost fails its running tasks at once with how it died, then restarts it with exponential backoff, and marks it failed (rest of the host working) after a crash loop; there is no switch to turn that off. Delete the line.", stage)
		}
	}
	if v, ok := m["inherit_envs"]; ok {
		ip := path + ".inherit_envs"
		b, ok := t.boolean(ip, v)
		if !ok {
			return false
		}
		if !b {
			f := false
			p.inheritEnv = &f
			t.add(Warning, CodeInheritEnv, ip, "inherit_envs = false: a few variables still pass",
				"damocles started the process with only its envs. sealhost's inherit_env = false still passes PATH, HOME, LANG and LD_LIBRARY_PATH, and gives each processor its own TMPDIR; set them in envs if the process must see other values.")
		}
	}
	return true
}

// declaredLocks lists ext_locks' names: they enter lockOrder before any
// processor adds an undeclared one.
func (t *translator) declaredLocks() []string {
	return t.lockOrder[:t.declared]
}

func (t *translator) lineRef(path string) string {
	if p := t.posOf(path); p.Line > 0 {
		return fmt.Sprintf("%s:%d", filepath.Base(t.opt.File), p.Line)
	}
	return filepath.Base(t.opt.File)
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envs translates a processor's envs, less what the host owns and what
// rust-fil-proofs ignores.
func (t *translator) envs(r *rawProc, block map[string]any) bool {
	v, ok := block["envs"]
	if !ok {
		return true
	}
	path, p := r.path+".envs", r.block
	m, ok := t.table(path, v)
	if !ok {
		return false
	}
	for _, k := range t.sortedKeys(path, m) {
		ep := joinKey(path, k)
		s, ok := t.str(ep, m[k])
		if !ok {
			return false
		}
		if !envNameRE.MatchString(k) {
			t.add(Error, CodeBadValue, ep, "Invalid environment variable name",
				"%q is not a usable variable name: names are letters, digits and '_', not starting with a digit, like CUDA_VISIBLE_DEVICES. Rename or delete it.", k)
			return false
		}
		if key, owned := hostOwnedEnv[k]; owned || strings.HasPrefix(k, "VC_CG_") {
			if key == "" {
				key = "cgroup.cpuset"
			}
			t.add(Warning, CodeHostOwned, ep, "Dropped: the host confines the process",
				"%s is how damocles asks a processor to confine itself; under sealhost the host has done it before the process starts (set %s in the block instead), and a child reading %s=%s would move itself out of the host's cgroup.", k, key, k, s)
			continue
		}
		if why, obsolete := plan.ObsoleteEnv(k); obsolete {
			t.add(Warning, CodeObsoleteEnv, ep, "Obsolete environment variable dropped",
				"%s=%s has no effect: %s. It is left out of the config (as config.hcl leaves it out); `host plan` would warn about it.", k, s, why)
			continue
		}
		p.env = append(p.env, envVar{name: k, value: s})
	}
	return true
}

func (t *translator) ffiPlugin() string {
	for _, pl := range t.m.plugins {
		if pl.name == "ffi" {
			return "ffi"
		}
	}
	t.m.plugins = append(t.m.plugins, pluginBlock{name: "ffi", path: t.opt.PluginDir + "/ffi",
		comment: "damocles' built-in processors (no bin): filecoin-ffi, as plugins/ffi"})
	return "ffi"
}

// bridgePlugin returns the plugin block running bin under the damocles
// bridge, one block per distinct stage, binary, arguments and ready wait.
func (t *translator) bridgePlugin(stage config.Stage, bin string, args []string, stableWait string) string {
	bargs := []string{"-stage", string(stage)}
	if stableWait != "" {
		bargs = append(bargs, "-stable-wait", stableWait)
	}
	bargs = append(bargs, "--", bin)
	bargs = append(bargs, args...)
	for _, pl := range t.m.plugins {
		if pl.bridge && equalStrings(pl.args, bargs) {
			return pl.name
		}
	}
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, filepath.Base(bin))
	if len(base) > 40 {
		base = base[:40]
	}
	name := "damocles-" + string(stage) + "-" + base
	taken := func(n string) bool {
		for _, pl := range t.m.plugins {
			if pl.name == n {
				return true
			}
		}
		return false
	}
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("damocles-%s-%s-%d", stage, base, i)
	}
	t.m.plugins = append(t.m.plugins, pluginBlock{name: name, path: t.opt.PluginDir + "/damocles", args: bargs, bridge: true,
		comment: fmt.Sprintf("%s under the damocles bridge (plugins/damocles)", bin)})
	return name
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// settleConcurrent writes how many tasks the processor runs at once: its
// own concurrent, or, when unset, the bound damocles really applied.
func (t *translator) settleConcurrent(r *rawProc) {
	p := r.block
	if r.concurrent > 0 {
		p.concurrent = r.concurrent
		return
	}
	bound, by := 0, ""
	if n, ok := t.limits[r.stage]; ok {
		bound, by = n, fmt.Sprintf("limitation.concurrent.%s = %d", r.stage, n)
	}
	for _, name := range r.locks {
		l := t.locks[name]
		if !l.declared {
			continue // no limit in damocles
		}
		if bound == 0 || l.capacity < bound {
			bound, by = l.capacity, fmt.Sprintf("lock %q of capacity %d", name, l.capacity)
		}
	}
	switch {
	case bound == 0:
		p.concurrent = 1
		t.add(Warning, CodeConcurrent, r.path, "concurrent not set: damocles had no bound, sealhost runs 1",
			"With no concurrent, no limitation.concurrent.%s and no declared lock, damocles sent this process every %s task that came. sealhost runs `concurrent` tasks in it at once, 1 by default; set concurrent to what the process can take.", r.stage, r.stage)
	case bound == 1:
		p.concurrent = 1
		t.add(Info, CodeConcurrent, r.path, "concurrent not set: 1, as damocles' bound",
			"damocles ran one task at a time here because of %s; sealhost's default concurrent = 1 is the same.", by)
	default:
		p.concurrent = bound
		t.add(Info, CodeConcurrent, r.path, fmt.Sprintf("concurrent not set: %d, as damocles' bound", bound),
			"damocles ran up to %d tasks at once in this process because of %s; the config says concurrent = %d (sealhost's default is 1).", bound, by, bound)
	}
}

// ---- typed values: damocles' serde types, refused as damocles refuses ----

func (t *translator) wrongType(path string, v any, want string) {
	t.addValue(Error, CodeBadValue, path, "Wrong type",
		"damocles reads %s as %s, not %s; damocles-worker refuses this file too. Fix the value and import again.", lastKey(path), want, describe(v))
}

func lastKey(path string) string {
	if i := strings.LastIndexAny(path, "."); i >= 0 && !strings.HasSuffix(path, "]") {
		return path[i+1:]
	}
	return path
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the number %g", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("a %T", v)
}

func (t *translator) table(path string, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		t.wrongType(path, v, "a table")
	}
	return m, ok
}

func (t *translator) list(path string, v any, want string) ([]any, bool) {
	l, ok := v.([]any)
	if !ok {
		t.wrongType(path, v, want)
	}
	return l, ok
}

func (t *translator) str(path string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		t.wrongType(path, v, "a string")
	}
	return s, ok
}

func (t *translator) boolean(path string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		t.wrongType(path, v, "true or false")
	}
	return b, ok
}

// count reads a non-negative integer (damocles' usize).
func (t *translator) count(path string, v any) (int, bool) {
	n, ok := v.(int64)
	if !ok || n < 0 {
		t.wrongType(path, v, "a whole number, 0 or more")
		return 0, false
	}
	if n > math.MaxInt32 {
		n = math.MaxInt32 + 1 // callers refuse it with their own words
	}
	return int(n), true
}

func (t *translator) strList(path string, v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		t.wrongType(path, v, "an array of strings")
		return nil, false
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, ok := t.str(indexKey(path, i), e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// noStage says why a damocles stage outside sealStages does not move: the
// stage may exist in sealhost (its task API serves snap, PoSt, unseal and
// add_pieces) while the damocles adapter does not translate its tasks.
func noStage(k string) string {
	if contains(stageNames(), k) {
		return "`host processor` does not serve damocles' " + k + " tasks yet"
	}
	return "sealhost has no " + k + " stage"
}

func stageNames() []string {
	var out []string
	for _, st := range config.Stages {
		out = append(out, string(st))
	}
	return out
}
