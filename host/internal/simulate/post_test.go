package simulate

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// c2Hold is the built-in 32GiB c2 duration: the longest hold a PoSt task
// can wait behind on a GPU it shares with sealing, without preemption.
const c2Hold = 15 * time.Minute

// loadPoSt is the seed's Plan B with PoSt: plan-b.hcl without its arbiter
// block, then post.hcl.
func loadPoSt(t testing.TB) *config.Config {
	t.Helper()
	planB, err := os.ReadFile("testdata/plan-b.hcl")
	if err != nil {
		t.Fatal(err)
	}
	post, err := os.ReadFile("testdata/post.hcl")
	if err != nil {
		t.Fatal(err)
	}
	const arbiter = "arbiter {\n  policy = \"fair\"\n}\n"
	if !strings.Contains(string(planB), arbiter) {
		t.Fatalf("plan-b.hcl has no %q to replace", arbiter)
	}
	src := strings.Replace(string(planB), arbiter, "", 1) + "\n" + string(post)
	cfg, diags := config.Parse([]byte(src), "testdata/plan-b+post.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

// postConfig is loadPoSt's config with gpu1's preemption bound set to
// preempt (negative: no preemption), and WindowPoSt moved to gpu1 when
// sameGPU.
func postConfig(t *testing.T, preempt time.Duration, sameGPU bool) *config.Config {
	t.Helper()
	cfg := loadPoSt(t)
	cfg.Arbiter.Preempt = nil
	if preempt >= 0 {
		cfg.Arbiter.Preempt = map[string]time.Duration{"gpu1": preempt}
	}
	if sameGPU {
		for i := range cfg.Processors {
			if cfg.Processors[i].Stage == config.StageWindowPoSt {
				cfg.Processors[i].Locks = []string{"gpu1"}
			}
		}
	}
	return cfg
}

// TestPoStOnSharedGPUs is issue #13's Done-when for PoSt: WinningPoSt
// shares gpu1 with a backlogged c2 (and pc2), WindowPoSt shares gpu2 the
// same way, for 30 days. Without preemption a WinningPoSt waits at most
// one c2 hold; with preemption it starts within its bound; WindowPoSt
// never misses its 30-minute deadline either way.
func TestPoStOnSharedGPUs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		preempt time.Duration // negative: none
	}{
		{"no preemption", -1},
		{"preempt at once", 0},
		{"preempt after 100ms", 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, Request{Config: postConfig(t, tc.preempt, false)})
			if c2 := r.Stages["c2"]; c2.BacklogMean < 1 {
				t.Fatalf("c2 backlog mean %v: the premise, c2 backlogged on the GPUs, does not hold", c2.BacklogMean)
			}
			win, wd := r.PoSt["winning_post"], r.PoSt["window_post"]
			if win == nil || wd == nil {
				t.Fatalf("post stats %v", r.PoSt)
			}
			t.Logf("winning_post: %d submitted, %d missed its %s s, wait p50 %v s p99 %v s max %v s; window_post: %d submitted, %d missed, wait p50 %v s p99 %v s max %v s; preempted %v; %.1f sectors a day",
				win.Submitted, win.Missed, trimFloat(win.DeadlineMinutes*60), win.WaitP50Seconds, win.WaitP99Seconds, win.WaitMaxSeconds,
				wd.Submitted, wd.Missed, wd.WaitP50Seconds, wd.WaitP99Seconds, wd.WaitMaxSeconds, preemptedText(r), r.SectorsPerDay)

			// Ten wins a day over 30 days: enough samples for a p99. The
			// last may still wait when the run ends.
			if win.Submitted < 200 || win.Done < win.Submitted-1 {
				t.Errorf("winning_post: %d submitted, %d done", win.Submitted, win.Done)
			}
			if wd.Submitted != 30*48 || wd.Done != wd.Submitted || wd.Missed != 0 || wd.Pending != 0 {
				t.Errorf("window_post: %d submitted, %d done, %d missed, %d pending; want 1440 done in time", wd.Submitted, wd.Done, wd.Missed, wd.Pending)
			}
			if got := time.Duration(wd.WaitMaxSeconds*float64(time.Second)) + 4*time.Minute; got > 30*time.Minute {
				t.Errorf("window_post: longest wait plus run %s, past its deadline", got)
			}
			if tc.preempt < 0 {
				if max := c2Hold.Seconds(); win.WaitP99Seconds > max || win.WaitMaxSeconds > max {
					t.Errorf("winning_post waits p99 %v s, max %v s; want at most one c2 hold (%v s)", win.WaitP99Seconds, win.WaitMaxSeconds, max)
				}
				// Not vacuous: without preemption it does wait behind sealing.
				if win.WaitP99Seconds < 60 || win.Missed == 0 {
					t.Errorf("winning_post p99 %v s, %d missed: without preemption it should wait behind c2 and pc2", win.WaitP99Seconds, win.Missed)
				}
				if len(r.Preempted) != 0 {
					t.Errorf("preempted without preemption configured: %v", preemptedText(r))
				}
				return
			}
			if win.WaitP99Seconds >= 1 || win.WaitMaxSeconds >= 1 || win.Missed != 0 {
				t.Errorf("winning_post waits p99 %v s, max %v s, %d missed; want under 1 s and none missed", win.WaitP99Seconds, win.WaitMaxSeconds, win.Missed)
			}
			if bound := tc.preempt.Seconds(); win.WaitMaxSeconds > bound+0.001 {
				t.Errorf("winning_post waited %v s, past the preemption bound %v s", win.WaitMaxSeconds, bound)
			}
			// Each win found gpu1 busy, almost always: a victim each, pc2
			// or c2, never window_post (gpu2 is not preempted).
			var n int
			for stage, p := range r.Preempted {
				if stage != "pc2" && stage != "c2" {
					t.Errorf("preempted %s", stage)
				}
				n += p.Tasks
				if p.LostMinutes <= 0 || p.LostMinutes > float64(p.Tasks)*c2Hold.Minutes() {
					t.Errorf("%s: %d preempted, %v min lost", stage, p.Tasks, p.LostMinutes)
				}
			}
			if n == 0 || n > win.Submitted {
				t.Errorf("%d tasks preempted for %d WinningPoSts", n, win.Submitted)
			}
		})
	}
}

// TestPoStOneGPUForBoth puts WindowPoSt on gpu1 with WinningPoSt. Urgent
// work is never preempted for urgent work, so a WinningPoSt arriving
// during a WindowPoSt waits for it: preemption bounds its wait by one
// WindowPoSt (4 min), not by the preemption bound.
func TestPoStOneGPUForBoth(t *testing.T) {
	for _, preempt := range []time.Duration{-1, 0} {
		r := run(t, Request{Config: postConfig(t, preempt, true)})
		win, wd := r.PoSt["winning_post"], r.PoSt["window_post"]
		t.Logf("preempt %v: winning_post missed %d of %d, wait p50 %v s p99 %v s max %v s; window_post missed %d, max wait %v s; preempted %s; %.1f sectors a day",
			preempt, win.Missed, win.Submitted, win.WaitP50Seconds, win.WaitP99Seconds, win.WaitMaxSeconds, wd.Missed, wd.WaitMaxSeconds, preemptedText(r), r.SectorsPerDay)
		if wd.Missed != 0 || wd.Done != wd.Submitted {
			t.Errorf("preempt %v: window_post %d missed, %d of %d done", preempt, wd.Missed, wd.Done, wd.Submitted)
		}
		limit := c2Hold
		if preempt >= 0 {
			limit = 4 * time.Minute
			if win.WaitMaxSeconds == 0 {
				t.Errorf("winning_post never waited behind a WindowPoSt on one GPU: the case this test is for did not happen")
			}
		}
		if win.WaitMaxSeconds > limit.Seconds() {
			t.Errorf("preempt %v: winning_post waited up to %v s, more than %s", preempt, win.WaitMaxSeconds, limit)
		}
	}
}

// TestUrgentKeepsFairShares: with no PoSt waiting, configuring the urgent
// class (and preemption) leaves the fair shares of pc2 and c2 as they are
// without it, within 2% of the lock's busy time, under every policy.
func TestUrgentKeepsFairShares(t *testing.T) {
	for _, policy := range Policies {
		t.Run(string(policy), func(t *testing.T) {
			// PoSt turned off (with no post block the PoSt processors
			// would run the default workload)
			off := config.DefaultPoSt()
			off.WindowPartitions, off.WinningPerDay = 0, 0
			urgent := loadPoSt(t)
			urgent.Simulation.Post = &off
			plain := loadPoSt(t)
			plain.Simulation.Post = &off
			plain.Arbiter.Urgent, plain.Arbiter.Preempt = nil, nil
			req := Request{Policy: policy, For: 10 * 24 * time.Hour}
			req.Config = urgent
			a := run(t, req)
			req.Config = plain
			b := run(t, req)
			for _, lock := range []string{"gpu1", "gpu2"} {
				for _, stage := range []string{"pc2", "c2"} {
					sa, sb := a.Locks[lock].Share[stage], b.Locks[lock].Share[stage]
					t.Logf("%s %s share: %.4f with urgent, %.4f without", lock, stage, sa, sb)
					if sa == 0 || math.Abs(sa-sb) > 0.02 {
						t.Errorf("%s %s share %.4f with the urgent class, %.4f without", lock, stage, sa, sb)
					}
				}
			}
			if a.Finished != b.Finished {
				t.Errorf("finished %d with the urgent class, %d without", a.Finished, b.Finished)
			}
			if a.PoSt != nil || a.Preempted != nil {
				t.Errorf("PoSt results with PoSt turned off: %v %v", a.PoSt, a.Preempted)
			}
		})
	}
}

func TestPoStErrors(t *testing.T) {
	const base = `sector_size = "32GiB"
plugin "ffi" {
  path = "x"
}
lock "gpu" {}
processor "c2" {
  plugin = "ffi"
  locks  = ["gpu"]
}
`
	for _, tc := range []struct{ name, src, want string }{
		{"no winning_post processor", base + "simulation {\n  post {\n    window_post_partitions = 0\n  }\n}\n",
			`post.hcl:11,3-7: the simulation block's post block asks for winning_post tasks, but no processor serves winning_post: add a processor "winning_post" block, or set winning_post_per_day = 0`},
		{"no window_post processor", base + "simulation {\n  post {}\n}\n",
			`but no processor serves window_post: add a processor "window_post" block, or set window_post_partitions = 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := config.Parse([]byte(tc.src), "post.hcl")
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			_, err := Run(Request{Config: cfg, For: 24 * time.Hour})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestPoStDurationsFromTheBlock: the simulation block's durations set the
// PoSt stages' like the sealing ones, and the result says so.
func TestPoStDurationsFromTheBlock(t *testing.T) {
	cfg := postConfig(t, 0, false)
	cfg.Simulation.Durations[config.StageWinningPoSt] = 20 * time.Second
	r := run(t, Request{Config: cfg, For: 5 * 24 * time.Hour})
	win := r.PoSt["winning_post"]
	if win.Minutes != 20.0/60 || win.Source != "simulation block" {
		t.Errorf("winning_post %v min from %q", win.Minutes, win.Source)
	}
	if wd := r.PoSt["window_post"]; wd.Minutes != 4 || !strings.HasPrefix(wd.Source, "built-in table") {
		t.Errorf("window_post %v min from %q", wd.Minutes, wd.Source)
	}
	var said bool
	for _, d := range r.Defaults {
		said = said || strings.Contains(d, "PoSt durations from the built-in table") && strings.Contains(d, "window_post 4 min") && !strings.Contains(d, "winning_post")
	}
	if !said {
		t.Errorf("defaults do not say window_post's duration came from the table (and winning_post's not): %q", r.Defaults)
	}
}

func preemptedText(r *Result) string {
	var out []string
	for _, st := range config.Stages {
		if p := r.Preempted[string(st)]; p != nil {
			out = append(out, string(st)+" "+trimFloat(float64(p.Tasks))+" tasks "+trimFloat(p.LostMinutes)+" min lost")
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// TestPoStWithoutPostBlock: PoSt processors with no post block simulate
// the default workload for the stages served, no simulation block needed,
// and the result says it was assumed.
func TestPoStWithoutPostBlock(t *testing.T) {
	const src = `sector_size = "32GiB"
plugin "ffi" {
  path = "x"
}
lock "gpu" {}
processor "c2" {
  plugin = "ffi"
  locks  = ["gpu"]
}
processor "winning_post" {
  plugin = "ffi"
  locks  = ["gpu"]
}
`
	cfg, diags := config.Parse([]byte(src), "post.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r := run(t, Request{Config: cfg, For: 10 * 24 * time.Hour})
	win := r.PoSt["winning_post"]
	if win == nil || win.Submitted == 0 || win.PerDay != config.DefaultPoSt().WinningPerDay {
		t.Fatalf("winning_post workload %+v, want the default's", win)
	}
	if _, ok := r.PoSt["window_post"]; ok {
		t.Errorf("window_post simulated with no window_post processor")
	}
	var said bool
	for _, d := range r.Defaults {
		said = said || strings.Contains(d, "no post block, so the default one") && strings.Contains(d, "10 WinningPoSt a day") && !strings.Contains(d, "WindowPoSt")
	}
	if !said {
		t.Errorf("defaults do not say the PoSt workload was assumed: %q", r.Defaults)
	}
}
