package simulate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

func load(t testing.TB, path string) *config.Config {
	t.Helper()
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", path, diags)
	}
	return cfg
}

func run(t testing.TB, req Request) *Result {
	t.Helper()
	r, err := Run(req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func encode(t testing.TB, r *Result) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var text, svg bytes.Buffer
	if err := WriteText(&text, r, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteSVG(&svg, r, "t"); err != nil {
		t.Fatal(err)
	}
	return append(append(b, text.Bytes()...), svg.Bytes()...)
}

// TestDeterministic runs the same request twice per policy and wants the
// same bytes out; maps and the arbiter's bookkeeping must not leak
// iteration order into results.
func TestDeterministic(t *testing.T) {
	for _, path := range []string{"testdata/plan-b-sealcalc.hcl", "testdata/plan-b.hcl", "post"} {
		var cfg *config.Config
		if path == "post" {
			cfg = loadPoSt(t)
		} else {
			cfg = load(t, path)
		}
		for _, p := range []config.Policy{config.PolicyFair, config.PolicyFIFO, config.PolicyGreedy} {
			t.Run(path+"/"+string(p), func(t *testing.T) {
				req := Request{Config: cfg, Policy: p, For: 5 * 24 * time.Hour, Step: 30 * time.Minute}
				a, b := encode(t, run(t, req)), encode(t, run(t, req))
				if !bytes.Equal(a, b) {
					t.Fatal("two runs of the same request differ")
				}
			})
		}
	}
}

func maxWaiting(r *Result, stage string, upTo int) int {
	m := 0
	for _, p := range r.Timeline {
		if p.Minute <= upTo {
			m = max(m, p.Waiting[stage])
		}
	}
	return m
}

func finishedAt(r *Result, minute int) int {
	for _, p := range r.Timeline {
		if p.Minute == minute {
			return p.Finished
		}
	}
	return -1
}

// TestPlanBStarvation is the seed's warning made visible: on Plan B, with
// sealcalc's example durations (pc2's work alone keeps each GPU busy),
// greedy lets pc2 keep the GPU lock, so c2 does not run for a day and its
// backlog climbs, while fair keeps c2's backlog at a couple of tasks and
// finishes more sectors.
func TestPlanBStarvation(t *testing.T) {
	cfg := load(t, "testdata/plan-b-sealcalc.hcl")
	req := Request{Config: cfg, For: 10 * 24 * time.Hour, Step: time.Hour}
	req.Policy = config.PolicyGreedy
	greedy := run(t, req)
	req.Policy = config.PolicyFair
	fair := run(t, req)
	const day = 24 * 60

	if n := finishedAt(greedy, day); n != 0 {
		t.Errorf("greedy: %d sectors finished in the first day; c2 should not have run", n)
	}
	if g := greedy.Locks["gpu1"].Grants["c2"]; g == 0 {
		t.Errorf("greedy: c2 never got gpu1 in 10 days: starvation without end is not what the model predicts")
	}
	prev := -1
	for _, p := range greedy.Timeline {
		if p.Minute > day {
			break
		}
		if p.Waiting["c2"] < prev {
			t.Errorf("greedy: c2's backlog fell from %d to %d at minute %d during the first day", prev, p.Waiting["c2"], p.Minute)
		}
		prev = p.Waiting["c2"]
	}
	if m := maxWaiting(greedy, "c2", day); m < 50 {
		t.Errorf("greedy: c2's backlog peaked at %d in the first day, want it climbing past 50", m)
	}
	if w := greedy.Stages["c2"].WaitMaxMinutes; w < 600 {
		t.Errorf("greedy: c2's worst wait %v min, want hours", w)
	}

	if m := maxWaiting(fair, "c2", 10*day); m > 4 {
		t.Errorf("fair: c2's backlog reached %d, want it bounded by a few tasks", m)
	}
	if w := fair.Stages["c2"].WaitMaxMinutes; w > 90 {
		t.Errorf("fair: c2's worst wait %v min, want under 90", w)
	}
	for _, name := range []string{"gpu1", "gpu2"} {
		if idle := fair.Locks[name].IdleWhileWaitingMinutes; idle != 0 {
			t.Errorf("fair: %s idle for %v min while a task waited", name, idle)
		}
	}
	if fair.Finished <= greedy.Finished {
		t.Errorf("fair finished %d, greedy %d: fair should finish more", fair.Finished, greedy.Finished)
	}

	// The same shows in the SVG: under greedy the c2 colour is absent from
	// the gpu1 band for the first day.
	var svg bytes.Buffer
	if err := WriteSVG(&svg, greedy, "greedy"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg.String(), colour("c2")) || !strings.Contains(svg.String(), "<polyline") {
		t.Error("greedy SVG lacks c2's colour or the backlog lines")
	}
	for k := 1; k < len(greedy.Timeline) && greedy.Timeline[k].Minute <= day; k++ {
		if f := greedy.Held[k]["gpu1"]["c2"]; f != 0 {
			t.Fatalf("greedy: c2 held gpu1 for %.2f of the hour ending at minute %d", f, greedy.Timeline[k].Minute)
		}
	}
}

// TestStageModes checks how stages without processors are treated.
func TestStageModes(t *testing.T) {
	cfg := load(t, "testdata/plan-b.hcl")
	r := run(t, Request{Config: cfg, For: 24 * time.Hour})
	modes := map[string]Mode{}
	for _, p := range r.Pipeline {
		modes[p.Stage] = p.Mode
	}
	want := map[string]Mode{"tree_d": Skipped, "pc1": Dispatched, "pc2": Dispatched, StageWaitSeed: InWorker, "c1": Skipped, "c2": Dispatched}
	for st, m := range want {
		if modes[st] != m {
			t.Errorf("without a simulation block: %s runs %q, want %q", st, modes[st], m)
		}
	}
	if _, ok := r.Stages["c1"]; ok {
		t.Error("a skipped stage has statistics")
	}

	// A duration for c1 in the simulation block brings it in, in-worker.
	cfg2 := *cfg
	cfg2.Simulation = &config.Simulation{WaitSeed: time.Hour, Durations: map[config.Stage]time.Duration{config.StageC1: time.Minute}}
	r = run(t, Request{Config: &cfg2, For: 24 * time.Hour})
	for _, p := range r.Pipeline {
		if p.Stage == "c1" && p.Mode != InWorker {
			t.Errorf("c1 with a duration and no processor runs %q", p.Mode)
		}
		if p.Stage == StageWaitSeed && p.Minutes != 60 {
			t.Errorf("wait_seed %v min, want the block's 60", p.Minutes)
		}
	}
	if r.Stages["c1"].Done == 0 {
		t.Error("c1 ran no task")
	}
}

func TestRequestErrors(t *testing.T) {
	cfg := load(t, "testdata/plan-b.hcl")
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{}, "no config"},
		{Request{Config: cfg, Step: 30 * time.Second}, "whole number of minutes"},
		{Request{Config: cfg, For: 90 * time.Second}, "whole number of minutes"},
		{Request{Config: cfg, Policy: "lottery"}, "unknown policy"},
		{Request{Config: cfg, For: 3650 * 24 * time.Hour, Step: time.Minute}, "take a longer step"},
		{Request{Config: &config.Config{SectorSize: config.SectorSize{Name: "2KiB"},
			Processors: []config.Processor{{ID: "c2.0", Stage: config.StageC2, Concurrent: 1}},
			Simulation: &config.Simulation{Durations: map[config.Stage]time.Duration{config.StageC2: 0}}}}, "takes no time"},
	} {
		if _, err := Run(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.req.Policy, err, tc.want)
		}
	}
}

// BenchmarkPlanB30Days simulates 30 days of the seed's Plan B (a copy of config.hcl,
// built-in durations) under fair; the target is under one second per run.
// BenchmarkOneSecond is the baseline measured in the same run: a sleep of
// one second, so the ratio of the two ns/op is the fraction of the target
// used.
func BenchmarkPlanB30Days(b *testing.B) {
	cfg := load(b, "testdata/plan-b.hcl")
	req := Request{Config: cfg, For: 30 * 24 * time.Hour, Step: time.Hour}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOneSecond(b *testing.B) {
	for b.Loop() {
		time.Sleep(time.Second)
	}
}

// BenchmarkSealcalcModel30Days runs the reference model of sealcalc
// (sealcalc_test.go) over 30 days with Plan B's concurrencies and the
// built-in durations: the minute-stepping calculator operators use today,
// as a second baseline.
func BenchmarkSealcalcModel30Days(b *testing.B) {
	p := sealcalcParams{treeD: [2]int{1, 1}, pc1: [2]int{177, 28}, pc2: [2]int{12, 2}, c2: [2]int{15, 2}, seed: 80, threads: 40}
	for b.Loop() {
		sealcalcFinished(p, 30*24*60)
	}
}

// TestStaggerAndLimits checks the simulator honours the dispatcher's stage
// limit and stagger: pc1 limited to 5 with starts 10 minutes apart.
func TestStaggerAndLimits(t *testing.T) {
	cfg := &config.Config{
		SectorSize: config.SectorSize{Name: "32GiB"},
		Limits:     map[config.Stage]int{config.StagePC1: 5},
		Stagger:    map[config.Stage]time.Duration{config.StagePC1: 10 * time.Minute},
		Processors: []config.Processor{
			{ID: "pc1.0", Stage: config.StagePC1, Concurrent: 14},
			{ID: "pc1.1", Stage: config.StagePC1, Concurrent: 14},
		},
		Simulation: &config.Simulation{SealingThreads: 20, WaitSeed: time.Minute,
			Durations: map[config.Stage]time.Duration{config.StagePC1: 100 * time.Minute}},
	}
	r := run(t, Request{Config: cfg, For: 4 * time.Hour, Step: 5 * time.Minute})
	for _, p := range r.Timeline {
		// Starts at 0, 10, 20, …: by minute m, m/10+1 have started, at most
		// 5 at once, none finished before minute 100.
		want := min(p.Minute/10+1, 5)
		if p.Minute >= 100 {
			continue
		}
		if got := p.Running["pc1"]; got != want {
			t.Fatalf("minute %d: %d pc1 running, want %d", p.Minute, got, want)
		}
	}
	if u := *r.Stages["pc1"].Utilization; u <= 0 || u > 1 {
		t.Fatalf("utilization %v", u)
	}
}

// TestPlanBWeights records what the built-in 32GiB durations mean for Plan
// B's shared GPUs: a sector needs 12 min of pc2 and 15 of c2, so c2 needs
// 56% of each GPU. Fair at equal weights gives it 50% while pc2 has work,
// so sectors pile up before c2 until the sealing threads run out; weighting
// c2 1.5 keeps its backlog to a few tasks.
func TestPlanBWeights(t *testing.T) {
	cfg := load(t, "testdata/plan-b.hcl")
	cfg.Simulation = &config.Simulation{SealingThreads: 200, WaitSeed: 80 * time.Minute, Durations: map[config.Stage]time.Duration{}}
	req := Request{Config: cfg, For: 5 * 24 * time.Hour, Step: time.Hour}
	equal := run(t, req)
	weighted := *cfg
	weighted.Arbiter.Weights = map[config.Stage]float64{config.StageC2: 1.5}
	req.Config = &weighted
	c2heavy := run(t, req)
	if m := maxWaiting(equal, "c2", 5*24*60); m < 50 {
		t.Errorf("equal weights: c2 backlog peaked at %d; expected it to grow", m)
	}
	if m := maxWaiting(c2heavy, "c2", 5*24*60); m > 10 {
		t.Errorf("c2 weighted 1.5: c2 backlog reached %d; expected a few tasks", m)
	}
}

// Processors of the stages besides sealing (PoSt here) are no step of a
// sector's pipeline: a config with one simulates as before, the processor
// idle, whether or not the simulation block gives the stage a duration.
func TestStagesBesidesSealing(t *testing.T) {
	cfg := load(t, "testdata/plan-b.hcl")
	base := run(t, Request{Config: cfg, For: 24 * time.Hour})
	for _, durations := range []map[config.Stage]time.Duration{nil, {config.StageWindowPoSt: 10 * time.Minute}} {
		c := *cfg
		c.Processors = append(append([]config.Processor(nil), cfg.Processors...), config.Processor{
			Stage: config.StageWindowPoSt, ID: "window_post.0", Plugin: cfg.Processors[0].Plugin, Concurrent: 1})
		if durations != nil {
			c.Simulation = &config.Simulation{WaitSeed: config.DefaultWaitSeed, Durations: durations}
		}
		r := run(t, Request{Config: &c, For: 24 * time.Hour})
		for _, p := range r.Pipeline {
			if p.Stage == string(config.StageWindowPoSt) {
				t.Errorf("window_post is a pipeline step (%s)", p.Mode)
			}
		}
		if durations == nil && r.Stages["c2"].Done != base.Stages["c2"].Done {
			t.Errorf("c2 done %d with an idle window_post processor, %d without", r.Stages["c2"].Done, base.Stages["c2"].Done)
		}
	}
}
