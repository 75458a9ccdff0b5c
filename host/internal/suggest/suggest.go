package suggest

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/simulate"
	"github.com/sealhost/sealhost/host/internal/topology"
)

// Request is what to design for.
type Request struct {
	Machine *topology.Machine
	// SectorSize is a size name config accepts ("32GiB").
	SectorSize string
	// Spare is how many cores to keep free (the seed keeps 4).
	Spare int
	// GPUs are the indices of the GPUs to use; nil means all of them.
	GPUs []int
	// Durations override the built-in table's for the stages they name,
	// and are written to the config's simulation block.
	Durations map[config.Stage]time.Duration
	// PluginPath is the plugin's path as written in the config.
	PluginPath string
	// File is the name the config will be written under (for its
	// diagnostics and relative plugin path); "config.hcl" if empty.
	File string
	// For is the simulated span; 0 means 30 days.
	For time.Duration
	// PoSt are the PoSt stages (window_post, winning_post) every
	// candidate serves on its GPUs too, simulated with the default PoSt
	// workload; a candidate that misses a deadline ranks last.
	PoSt []config.Stage
}

// Result is every candidate, best first, and what they share.
type Result struct {
	Machine    string `json:"machine"`
	SectorSize string `json:"sector_size"`
	SpareCores int    `json:"spare_cores"`
	GPUs       []int  `json:"gpus"`
	// PoSt are the PoSt stages asked for (-post); empty for none.
	PoSt       []config.Stage `json:"post"`
	SimDays    int            `json:"simulated_days"`
	Layout     *Layout        `json:"layout"`
	Candidates []*Candidate   `json:"candidates"`
	// Dropped are the strategies that did not apply or failed a check.
	Dropped []Dropped `json:"dropped"`
}

// Dropped is a strategy that gave no candidate, and why.
type Dropped struct {
	Strategy Strategy `json:"strategy"`
	Reason   string   `json:"reason"`
}

// Candidate is one complete config and how it did.
type Candidate struct {
	Rank     int      `json:"rank"`
	Strategy Strategy `json:"strategy"`
	Describe string   `json:"describe"`
	// HCL is the config file, with its comments.
	HCL           string          `json:"hcl"`
	SectorsPerDay float64         `json:"sectors_per_day"`
	Bound         *simulate.Bound `json:"bound"`
	// Waits are p50/p99/max minutes per queued stage.
	Waits      map[string][3]float64 `json:"waits"`
	Processors []ProcessorSummary    `json:"processors"`
	Limits     map[string]int        `json:"limits"`
	// Warnings are the plan's warnings other than the ones that drop a
	// candidate (none is expected).
	Warnings []string `json:"warnings"`
	// With -post: each PoSt stage's simulated figures, the sealing work
	// preemption cost, the deadlines missed and, when any was, why the
	// candidate ranks below those that meet them.
	PoSt        map[string]*simulate.PoStStats  `json:"post,omitempty"`
	Preempted   map[string]*simulate.Preemption `json:"preempted,omitempty"`
	PoStMissed  int                             `json:"post_missed"`
	PoStProblem string                          `json:"post_problem,omitempty"`

	Config *config.Config   `json:"-"`
	Plan   *plan.Plan       `json:"-"`
	Sim    *simulate.Result `json:"-"`
	spec   *spec
}

// ProcessorSummary is one processor of a candidate, for the table.
type ProcessorSummary struct {
	ID         string   `json:"id"`
	CPUs       string   `json:"cpus"`
	Cores      int      `json:"cores"`
	Concurrent int      `json:"concurrent"`
	NUMA       *int     `json:"numa_preferred,omitempty"`
	GPU        *int     `json:"gpu,omitempty"`
	Locks      []string `json:"locks"`
}

// dropCodes are the plan diagnostics that disqualify a candidate.
var dropCodes = map[string]bool{string(config.CodeCPUOverlap): true, string(config.CodeGPUSharedWithoutLock): true}

// Run designs, checks, simulates and ranks the candidates.
func Run(req Request) (*Result, error) {
	if req.Machine == nil {
		return nil, fmt.Errorf("suggest: no machine")
	}
	if req.SectorSize == "" {
		req.SectorSize = "32GiB"
	}
	if req.File == "" {
		req.File = "config.hcl"
	}
	if req.PluginPath == "" {
		req.PluginPath = "bin/plugins/ffi"
	}
	if req.For == 0 {
		req.For = 30 * 24 * time.Hour
	}
	if req.Spare < 0 {
		return nil, fmt.Errorf("suggest: -spare %d: want 0 or more cores", req.Spare)
	}
	size, err := config.ParseSize(req.SectorSize)
	if err != nil {
		return nil, fmt.Errorf("suggest: sector size %q: %v", req.SectorSize, err)
	}
	sector := config.SectorSize{Name: req.SectorSize, Bytes: size}
	table, ok := simulate.BuiltinTable(req.SectorSize)
	durations := map[config.Stage]time.Duration{}
	if ok {
		for st, d := range table.Durations {
			durations[st] = d
		}
	}
	for st, d := range req.Durations {
		durations[st] = d
	}
	for _, st := range append([]config.Stage{config.StagePC1, config.StagePC2, config.StageC2}, req.PoSt...) {
		if durations[st] <= 0 {
			return nil, fmt.Errorf("suggest: no %s duration for %s sectors: give one with -durations", st, req.SectorSize)
		}
	}
	gpus := req.GPUs
	if gpus == nil {
		for _, g := range req.Machine.GPUs {
			gpus = append(gpus, g.Index)
		}
		sort.Ints(gpus)
	}
	for _, g := range gpus {
		if _, ok := req.Machine.GPUByIndex(g); !ok {
			return nil, fmt.Errorf("suggest: -gpus names GPU %d, which the machine does not have (see `host topology`)", g)
		}
	}
	l, err := layout(req.Machine, sector, req.Spare)
	if err != nil {
		return nil, fmt.Errorf("suggest: %v", err)
	}
	res := &Result{Machine: req.Machine.Source, SectorSize: req.SectorSize, SpareCores: req.Spare, GPUs: gpus, PoSt: append([]config.Stage{}, req.PoSt...),
		SimDays: int(req.For / (24 * time.Hour)), Layout: l, Candidates: []*Candidate{}, Dropped: []Dropped{}}
	if res.GPUs == nil {
		res.GPUs = []int{}
	}
	for _, s := range Strategies {
		sp, why := build(s, l, req.Machine, gpus, durations)
		if sp == nil {
			res.Dropped = append(res.Dropped, Dropped{s, why})
			continue
		}
		if why := addPoSt(sp, req.PoSt, durations, req.Durations, config.DefaultPoSt()); why != "" {
			res.Dropped = append(res.Dropped, Dropped{s, why})
			continue
		}
		c, why, err := evaluate(sp, req, l)
		if err != nil {
			return nil, err
		}
		if c == nil {
			res.Dropped = append(res.Dropped, Dropped{s, why})
			continue
		}
		res.Candidates = append(res.Candidates, c)
	}
	sort.SliceStable(res.Candidates, func(i, j int) bool { return better(res.Candidates[i], res.Candidates[j]) })
	for i, c := range res.Candidates {
		c.Rank = i + 1
	}
	// Rewrite each file now that its figures and rank are known.
	for _, c := range res.Candidates {
		c.HCL = string(writeHCL(c.spec, req.SectorSize, req.PluginPath, head(res, c, req), l.Spare, req.Durations))
	}
	return res, nil
}

// evaluate writes, checks and simulates one spec. A candidate that fails
// the plan's checks comes back nil with the reason.
func evaluate(sp *spec, req Request, l *Layout) (*Candidate, string, error) {
	src := writeHCL(sp, req.SectorSize, req.PluginPath, nil, l.Spare, req.Durations)
	cfg, diags := config.Parse(src, req.File)
	if diags.HasErrors() || cfg == nil {
		return nil, "", fmt.Errorf("suggest: internal error: the %s config does not parse: %s", sp.strategy, diagText(diags))
	}
	p := plan.Build(cfg, req.Machine)
	p.AddConfigDiagnostics(diags)
	c := &Candidate{Strategy: sp.strategy, Describe: sp.strategy.Describe(), Config: cfg, Plan: p, spec: sp,
		Waits: map[string][3]float64{}, Limits: map[string]int{}, Warnings: []string{}}
	var bad []string
	for _, d := range p.Diagnostics {
		code := config.CodeOf(d)
		if d.Severity == hcl.DiagError || dropCodes[code] {
			bad = append(bad, code+": "+d.Detail)
		} else {
			c.Warnings = append(c.Warnings, code+": "+d.Detail)
		}
	}
	if len(bad) > 0 {
		return nil, "the plan rejects it: " + strings.Join(bad, "; "), nil
	}
	sim, err := simulate.Run(simulate.Request{Config: cfg, Plan: p, For: req.For, Step: time.Hour,
		Policy: config.PolicyFair, Turnaround: time.Minute})
	if err != nil {
		return nil, "", fmt.Errorf("suggest: simulating %s: %v", sp.strategy, err)
	}
	c.Sim = sim
	if len(req.PoSt) > 0 {
		c.PoSt, c.Preempted = sim.PoSt, sim.Preempted
		if c.PoStMissed, c.PoStProblem, err = postVerdict(sim, req.PoSt); err != nil {
			return nil, "", err
		}
	}
	c.SectorsPerDay = sim.SectorsPerDay
	c.Bound = sim.Bound
	for st, s := range sim.Stages {
		for _, pl := range sim.Pipeline {
			if pl.Stage == st && pl.Mode == simulate.Dispatched {
				c.Waits[st] = [3]float64{s.WaitP50Minutes, s.WaitP99Minutes, s.WaitMaxMinutes}
			}
		}
	}
	for st, n := range cfg.Limits {
		c.Limits[string(st)] = n
	}
	for i, pr := range p.Processors {
		ps := ProcessorSummary{ID: pr.ID, CPUs: pr.CPUs.String(), Cores: len(req.Machine.Cores(pr.CPUs)),
			Concurrent: pr.Concurrent, NUMA: pr.NUMAPreferred, Locks: append([]string{}, pr.Locks...)}
		if g := sp.procs[i].gpu; g >= 0 {
			ps.GPU = &g
		}
		c.Processors = append(c.Processors, ps)
	}
	return c, "", nil
}

func diagText(diags hcl.Diagnostics) string {
	var s []string
	for _, d := range diags {
		s = append(s, d.Error())
	}
	return strings.Join(s, "; ")
}

// head is the comment at the top of a candidate's file.
func head(res *Result, c *Candidate, req Request) []string {
	machine := res.Machine
	if machine == "" {
		machine = "this machine"
	}
	out := []string{
		fmt.Sprintf("sealhost config written by `host suggest` for %s: %s sectors, strategy %s (%s), ranked %d of %d.",
			machine, res.SectorSize, c.Strategy, c.Describe, c.Rank, len(res.Candidates)),
	}
	out = append(out, c.spec.why...)
	b := c.Bound
	sim := fmt.Sprintf("Simulated (`host simulate`, %d days, fair policy, the real dispatcher and arbiter): %.1f sectors a day", res.SimDays, c.SectorsPerDay)
	if b != nil {
		sim += fmt.Sprintf(", %.1f%% of the bound %.1f set by %s", 100*b.Achieved, b.SectorsPerDay, strings.Join(b.Binding, ", "))
		for _, l := range b.Limits {
			if l.Resource == b.Binding[0] {
				sim += " (" + l.How + ")"
			}
		}
		if next := nextLimit(b); next != nil {
			sim += fmt.Sprintf(". Past it the next limit is %s at %.1f a day", next.Resource, next.SectorsPerDay)
		}
	}
	var waits []string
	for _, st := range []string{"pc1", "pc2", "c2"} {
		if w, ok := c.Waits[st]; ok {
			waits = append(waits, fmt.Sprintf("%s %s/%s/%s", st, trim(w[0]), trim(w[1]), trim(w[2])))
		}
	}
	sim += ". Wait for a processor p50/p99/max in minutes: " + strings.Join(waits, ", ") + "."
	out = append(out, sim)
	if c.PoSt != nil {
		p := "PoSt (-post, the default workload in the simulation block below): " + postLine(c)
		if c.PoStProblem != "" {
			p += " It ranks below every candidate that meets its PoSt deadlines: " + c.PoStProblem + "."
		}
		out = append(out, p)
	}
	if len(res.Candidates) > 1 {
		out = append(out, Compare(res))
	}
	out = append(out, fmt.Sprintf("Check it against the machine: host validate -config %s -topology %s", req.File, orThis(res.Machine)))
	return out
}

func orThis(s string) string {
	if s == "" || s == "live" {
		return "/ (this machine: leave -topology out)"
	}
	return s
}

// nextLimit is the lowest limit outside the binding ones: what would bind
// once the bottleneck is widened. The sealing threads are no resource (the
// simulator picks enough for the slowest stage), so they are passed over.
func nextLimit(b *simulate.Bound) *simulate.Limit {
	for i := range b.Limits {
		if b.Limits[i].Kind != "threads" && !containsStr(b.Binding, b.Limits[i].Resource) {
			return &b.Limits[i]
		}
	}
	return nil
}

func containsStr(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// sameThroughput is how close two candidates' sectors a day must be for
// the ranking to call them equal and look at the waits instead.
const sameThroughput = 0.01

// better ranks a before b: more sectors a day; within sameThroughput of
// each other, the shorter c2 wait (a sector waiting for c2 has its
// pre-commit on chain and its prove-commit deadline running; one waiting
// for pc2 has nothing on chain yet).
//
// Before both: a candidate that meets every simulated PoSt deadline ranks
// above one that misses any, whatever their throughput (a missed
// WindowPoSt is a fault, a missed WinningPoSt a lost block reward), and
// among those that miss, the fewer misses first.
func better(a, b *Candidate) bool {
	if a.PoStMissed != b.PoStMissed {
		return a.PoStMissed < b.PoStMissed
	}
	hi := max(a.SectorsPerDay, b.SectorsPerDay)
	if hi > 0 && math.Abs(a.SectorsPerDay-b.SectorsPerDay)/hi >= sameThroughput {
		return a.SectorsPerDay > b.SectorsPerDay
	}
	return a.Waits["c2"][0] < b.Waits["c2"][0]
}

// Compare says how the best candidate stands against each other one: by
// how much it finishes more and which resource binds each, or, when they
// finish the same, how their waits differ.
func Compare(res *Result) string {
	if len(res.Candidates) < 2 {
		return ""
	}
	a := res.Candidates[0]
	var out []string
	for _, b := range res.Candidates[1:] {
		if b.PoStMissed > a.PoStMissed {
			if a.PoStMissed == 0 {
				out = append(out, fmt.Sprintf("%s ranks below %s whatever its throughput (%.1f against %.1f a day): %s.", b.Strategy, a.Strategy, b.SectorsPerDay, a.SectorsPerDay, b.PoStProblem))
			} else {
				out = append(out, fmt.Sprintf("%s ranks below %s for more PoSt deadlines missed (%d against %d): %s.", b.Strategy, a.Strategy, b.PoStMissed, a.PoStMissed, b.PoStProblem))
			}
			continue
		}
		hi := max(a.SectorsPerDay, b.SectorsPerDay)
		if hi > 0 && math.Abs(a.SectorsPerDay-b.SectorsPerDay)/hi < sameThroughput {
			out = append(out, fmt.Sprintf("%s and %s finish the same within %.0f%% (%.1f and %.1f a day, both bound by %s); %s ranks first for its waits: c2 p50 %s against %s min, pc2 p50 %s against %s.",
				a.Strategy, b.Strategy, 100*sameThroughput, a.SectorsPerDay, b.SectorsPerDay, bindingNames(a.Bound), a.Strategy,
				trim(a.Waits["c2"][0]), trim(b.Waits["c2"][0]), trim(a.Waits["pc2"][0]), trim(b.Waits["pc2"][0])))
			continue
		}
		diff := a.SectorsPerDay - b.SectorsPerDay
		pct := 0.0
		if b.SectorsPerDay > 0 {
			pct = 100 * diff / b.SectorsPerDay
		}
		s := fmt.Sprintf("%s finishes %.1f sectors a day more than %s (+%.1f%%)", a.Strategy, diff, b.Strategy, pct)
		if a.Bound != nil && b.Bound != nil {
			s += fmt.Sprintf(": %s is bound by %s at %.1f (%s), %s by %s at %.1f (%s).",
				b.Strategy, bindingNames(b.Bound), b.Bound.SectorsPerDay, bindingHow(b.Bound),
				a.Strategy, bindingNames(a.Bound), a.Bound.SectorsPerDay, bindingHow(a.Bound))
		} else {
			s += "."
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

func bindingNames(b *simulate.Bound) string {
	if b == nil {
		return "nothing"
	}
	return strings.Join(b.Binding, ", ")
}

func bindingHow(b *simulate.Bound) string {
	for _, l := range b.Limits {
		if l.Resource == b.Binding[0] {
			return l.How
		}
	}
	return ""
}
