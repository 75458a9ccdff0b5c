package arbiter

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustNew(t *testing.T, cfg Config) (*Arbiter, *ManualClock) {
	t.Helper()
	clk := NewManualClock(t0)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, clk
}

func submit(t *testing.T, a *Arbiter, stage, owner string, locks ...string) (RequestID, []Lease) {
	t.Helper()
	id, g, err := a.Submit(Request{Stage: stage, Owner: owner, Locks: locks})
	if err != nil {
		t.Fatal(err)
	}
	return id, g
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"policy", Config{Policy: "lottery"}, `unknown policy "lottery": use "fair", "fifo" or "greedy"`},
		{"capacity 0", Config{Locks: map[string]int{"gpu": 0}}, `lock "gpu" has capacity 0: capacity must be at least 1`},
		{"empty lock name", Config{Locks: map[string]int{"": 1}}, "empty name"},
		{"weight 0", Config{Weights: map[string]float64{"c2": 0}}, `stage "c2" has weight 0`},
		{"weight negative", Config{Weights: map[string]float64{"c2": -1}}, "positive finite"},
		{"weight NaN", Config{Weights: map[string]float64{"c2": math.NaN()}}, "positive finite"},
		{"weight Inf", Config{Weights: map[string]float64{"c2": math.Inf(1)}}, "positive finite"},
		{"bypass negative", Config{BypassBound: -time.Second}, "bypass bound -1s is negative"},
		{"grace negative", Config{ReentryGrace: -time.Second}, "reentry grace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want error containing %q", err, tc.want)
			}
		})
	}
	a, err := New(Config{})
	if err != nil || a.Policy() != Fair {
		t.Fatalf("zero Config: %v, policy %q; want fair", err, a.Policy())
	}
}

func TestSubmitErrors(t *testing.T) {
	a, _ := mustNew(t, Config{Locks: map[string]int{"gpu": 1}})
	for _, tc := range []struct {
		name string
		req  Request
		is   error
		want string
	}{
		{"unknown lock", Request{Stage: "c2", Owner: "c2.0#1", Locks: []string{"gpu", "gpu2"}}, ErrUnknownLock, `unknown lock "gpu2" in request of stage "c2": declare it with its capacity`},
		{"duplicate lock", Request{Stage: "c2", Owner: "c2.0#1", Locks: []string{"gpu", "gpu"}}, ErrBadRequest, `lock "gpu" named twice`},
		{"no stage", Request{Owner: "x", Locks: []string{"gpu"}}, ErrBadRequest, "empty stage"},
		{"no owner", Request{Stage: "c2", Locks: []string{"gpu"}}, ErrBadRequest, "empty owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, g, err := a.Submit(tc.req)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) || g != nil {
				t.Fatalf("Submit: %v, %v; want %v containing %q", g, err, tc.is, tc.want)
			}
		})
	}
	if st := a.Stats(); st.Locks["gpu"].Held != 0 || st.Locks["gpu"].Waiting != 0 || len(st.Stages) != 0 {
		t.Fatalf("refused requests left state: %+v", st)
	}
}

func TestNoLocksGrantedAtOnce(t *testing.T) {
	a, _ := mustNew(t, Config{Locks: map[string]int{"gpu": 1}})
	submit(t, a, "pc2", "pc2.0#1", "gpu")
	id, g := submit(t, a, "tree_d", "tree_d.0#1")
	if len(g) != 1 || g[0].Request != id || len(g[0].Locks) != 0 || g[0].Wait() != 0 {
		t.Fatalf("grants %+v, want the lock-free request at once", g)
	}
	if _, err := a.Release(g[0].Token); err != nil {
		t.Fatal(err)
	}
}

func TestFencing(t *testing.T) {
	a, clk := mustNew(t, Config{Locks: map[string]int{"gpu": 1}})
	_, g1 := submit(t, a, "pc2", "pc2.0#1", "gpu")
	_, g := submit(t, a, "c2", "c2.0#1", "gpu")
	if len(g1) != 1 || len(g) != 0 {
		t.Fatalf("grants %v %v", g1, g)
	}
	clk.Advance(time.Minute)
	g2, err := a.Release(g1[0].Token)
	if err != nil || len(g2) != 1 || g2[0].Stage != "c2" {
		t.Fatalf("release: %v %v", g2, err)
	}
	if g2[0].Token <= g1[0].Token {
		t.Fatalf("token %d after %d: not monotonic", g2[0].Token, g1[0].Token)
	}
	if g2[0].Wait() != time.Minute {
		t.Fatalf("wait %v, want 1m", g2[0].Wait())
	}
	for _, tok := range []Token{g1[0].Token, 0, 999} {
		if _, err := a.Release(tok); !errors.Is(err, ErrStaleToken) {
			t.Fatalf("Release(%d): %v, want ErrStaleToken", tok, err)
		}
	}
	if !a.Held(g2[0].Token) || a.Held(g1[0].Token) {
		t.Fatal("a stale release changed who holds the lock")
	}
	if st := a.Stats().Locks["gpu"]; st.Held != 1 {
		t.Fatalf("held %d, want 1", st.Held)
	}
}

func TestCancel(t *testing.T) {
	a, _ := mustNew(t, Config{Policy: FIFO, Locks: map[string]int{"gpu": 1, "x": 1}})
	_, g := submit(t, a, "pc2", "pc2.0#1", "gpu")
	wide, _ := submit(t, a, "c2", "c2.0#1", "gpu", "x")
	// FIFO: the wide head blocks x for later requests
	narrow, g2 := submit(t, a, "tree_d", "tree_d.0#1", "x")
	if len(g2) != 0 {
		t.Fatalf("FIFO granted %v past the head of line", g2)
	}
	g3, err := a.Cancel(wide)
	if err != nil || len(g3) != 1 || g3[0].Request != narrow {
		t.Fatalf("Cancel: %v %v; want the narrow request granted", g3, err)
	}
	if _, err := a.Cancel(wide); !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("second Cancel: %v", err)
	}
	if _, err := a.Cancel(g[0].Request); !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("Cancel of a granted request: %v", err)
	}
	st := a.Stats()
	if st.Stages["c2"].Cancels != 1 || st.Stages["c2"].Waiting != 0 {
		t.Fatalf("stats %+v", st.Stages["c2"])
	}
}

func TestReleaseOwner(t *testing.T) {
	a, clk := mustNew(t, Config{Locks: map[string]int{"gpu": 2, "x": 1}})
	_, g1 := submit(t, a, "pc2", "pc2.0#1", "gpu")
	_, g2 := submit(t, a, "pc2", "pc2.0#1", "x")
	w1, _ := submit(t, a, "pc2", "pc2.0#1", "x")
	other, _ := submit(t, a, "c2", "c2.0#1", "x", "gpu")
	clk.Advance(time.Minute)
	rel, canc, granted := a.ReleaseOwner("pc2.0#1")
	if len(rel) != 2 || rel[0].Token != g1[0].Token || rel[1].Token != g2[0].Token {
		t.Fatalf("released %v", rel)
	}
	if !slices.Equal(canc, []RequestID{w1}) {
		t.Fatalf("cancelled %v, want [%d]", canc, w1)
	}
	if len(granted) != 1 || granted[0].Request != other {
		t.Fatalf("granted %v, want c2's request", granted)
	}
	if _, err := a.Release(g1[0].Token); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("dead owner's release: %v", err)
	}
	if r, c, g := a.ReleaseOwner("nobody"); r != nil || c != nil || g != nil {
		t.Fatal("ReleaseOwner of an unknown owner did something")
	}
}

// A stage idle for hours must not bank credit: when it comes back it shares
// the lock, it does not monopolise it.
func TestNoBanking(t *testing.T) {
	a, clk := mustNew(t, Config{Locks: map[string]int{"gpu": 1}})
	// pc2 alone for 10 hours, then c2 with a backlog too
	var pc2, c2 int
	hold := func(l Lease, d time.Duration) []Lease {
		clk.Advance(d)
		if l.Stage == "pc2" {
			pc2++
		} else {
			c2++
		}
		_, g := submit(t, a, l.Stage, l.Owner, "gpu") // next job asks first
		g2, err := a.Release(l.Token)
		if err != nil {
			t.Fatal(err)
		}
		return append(g, g2...)
	}
	_, g := submit(t, a, "pc2", "pc2.0#1", "gpu")
	cur := g[0]
	for i := 0; i < 50; i++ {
		cur = hold(cur, 12*time.Minute)[0]
	}
	pc2 = 0
	submit(t, a, "c2", "c2.0#1", "gpu")
	for i := 0; i < 40; i++ {
		cur = hold(cur, 12*time.Minute)[0]
	}
	if c2 < 18 || c2 > 22 {
		t.Fatalf("after 10 idle hours c2 got %d of 40 turns, pc2 %d; want about half", c2, pc2)
	}
}

// Keeping V when re-requesting at the instant of release: a stage whose V is
// below the other's stays ahead; arriving later it would be lifted.
func TestReentry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gap   time.Duration
		grace time.Duration
		keeps bool
	}{
		{"same instant", 0, 0, true},
		{"later", time.Second, 0, false},
		{"within grace", time.Second, 2 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, clk := mustNew(t, Config{Locks: map[string]int{"gpu": 1, "x": 1}, ReentryGrace: tc.grace, Weights: map[string]float64{"pc2": 0.1}})
			// pc2 (weight 0.1) holds x 6 min and asks again: V 3600,
			// active; c2 holds gpu twice 10 min, then goes idle: V 1200
			_, gp := submit(t, a, "pc2", "pc2.0#1", "x")
			_, gc := submit(t, a, "c2", "c2.0#1", "gpu")
			clk.Advance(6 * time.Minute)
			submit(t, a, "pc2", "pc2.0#1", "x")
			if _, err := a.Release(gp[0].Token); err != nil {
				t.Fatal(err)
			}
			clk.Advance(4 * time.Minute)
			submit(t, a, "c2", "c2.0#1", "gpu")
			g, err := a.Release(gc[0].Token)
			if err != nil || len(g) != 1 {
				t.Fatal(g, err)
			}
			clk.Advance(10 * time.Minute)
			if _, err := a.Release(g[0].Token); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.gap)
			submit(t, a, "c2", "c2.0#1", "gpu")
			st := a.Stats().Stages
			if st["pc2"].VirtualTime != 3600 {
				t.Fatalf("pc2 V = %v, want 3600", st["pc2"].VirtualTime)
			}
			want := 3600.0
			if tc.keeps {
				want = 1200
			}
			if v := st["c2"].VirtualTime; v != want {
				t.Fatalf("c2 V = %v after re-entry, want %v", v, want)
			}
		})
	}
}

func TestClockBackwardsIgnored(t *testing.T) {
	a, clk := mustNew(t, Config{Locks: map[string]int{"gpu": 1}})
	_, g := submit(t, a, "c2", "c2.0#1", "gpu")
	clk.Advance(time.Hour)
	a.Stats()
	clk.Set(t0)
	if _, err := a.Release(g[0].Token); err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	if st.Locks["gpu"].Busy != time.Hour || st.Stages["c2"].HoldTime != time.Hour {
		t.Fatalf("busy %v hold %v, want 1h", st.Locks["gpu"].Busy, st.Stages["c2"].HoldTime)
	}
}

func TestHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, scale := range []time.Duration{1, time.Microsecond, time.Minute, 100 * time.Hour} {
		var h histogram
		var vals []time.Duration
		for i := 0; i < 5000; i++ {
			v := time.Duration(rng.ExpFloat64() * float64(scale))
			vals = append(vals, v)
			h.add(v)
		}
		slices.Sort(vals)
		s := h.summary()
		if s.Count != len(vals) || s.Max != vals[len(vals)-1] {
			t.Fatalf("scale %v: count %d max %v", scale, s.Count, s.Max)
		}
		for _, q := range []struct {
			got  time.Duration
			want time.Duration
		}{{s.P50, vals[2499]}, {s.P99, vals[4949]}} {
			if d := math.Abs(float64(q.got-q.want)) / float64(q.want); d > 0.01 && q.got-q.want > 1 && q.want-q.got > 1 {
				t.Errorf("scale %v: quantile %v, exact %v (off %.3f)", scale, q.got, q.want, d)
			}
		}
	}
	var empty histogram
	if empty.summary() != (Distribution{}) {
		t.Fatal("empty histogram summary not zero")
	}
}
