package arbiter

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// urgentArbiter has a one-unit gpu and a one-unit scratch disk, with
// winning_post and window_post urgent.
func urgentArbiter(t *testing.T, mod func(*Config)) (*Arbiter, *ManualClock) {
	t.Helper()
	clock := NewManualClock(t0)
	cfg := Config{
		Locks:  map[string]int{"gpu": 1, "scratch": 1},
		Urgent: []string{"winning_post", "window_post"},
		Clock:  clock,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, clock
}

func mustSubmit(t *testing.T, a *Arbiter, r Request) (RequestID, []Lease) {
	t.Helper()
	id, gs, err := a.Submit(r)
	if err != nil {
		t.Fatal(err)
	}
	return id, gs
}

func mustRelease(t *testing.T, a *Arbiter, tok Token) []Lease {
	t.Helper()
	gs, err := a.Release(tok)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func stagesOf(ls []Lease) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Stage)
	}
	return strings.Join(s, ",")
}

func TestUrgentOrder(t *testing.T) {
	gpu := []string{"gpu"}
	tests := []struct {
		name string
		// after c2 takes the gpu, these are submitted in order (one
		// second apart); then the gpu is released by each holder in turn
		waiters []Request
		want    string // grant order
	}{
		{"urgent before fair waiters", []Request{
			{Stage: "pc2", Owner: "pc2.0", Locks: gpu},
			{Stage: "c2", Owner: "c2.1", Locks: gpu},
			{Stage: "winning_post", Owner: "wp.0", Locks: gpu},
		}, "winning_post,pc2,c2"},
		{"deadline order within urgent", []Request{
			{Stage: "window_post", Owner: "w.0", Locks: gpu, Deadline: t0.Add(time.Hour)},
			{Stage: "winning_post", Owner: "wp.0", Locks: gpu, Deadline: t0.Add(time.Minute)},
		}, "winning_post,window_post"},
		{"no deadline after every deadline", []Request{
			{Stage: "window_post", Owner: "w.0", Locks: gpu},
			{Stage: "window_post", Owner: "w.1", Locks: gpu, Deadline: t0.Add(time.Hour)},
			{Stage: "winning_post", Owner: "wp.0", Locks: gpu},
		}, "window_post,window_post,winning_post"},
		{"FIFO without deadlines", []Request{
			{Stage: "winning_post", Owner: "wp.0", Locks: gpu},
			{Stage: "window_post", Owner: "w.0", Locks: gpu},
		}, "winning_post,window_post"},
		{"a deadline on a fair stage orders nothing", []Request{
			{Stage: "pc2", Owner: "pc2.0", Locks: gpu},
			{Stage: "c2", Owner: "c2.1", Locks: gpu, Deadline: t0},
		}, "pc2,c2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, clock := urgentArbiter(t, nil)
			_, gs := mustSubmit(t, a, Request{Stage: "c2", Owner: "c2.0", Locks: gpu})
			if len(gs) != 1 {
				t.Fatalf("c2 not granted at once: %v", gs)
			}
			for _, r := range tc.waiters {
				clock.Advance(time.Second)
				if _, gs := mustSubmit(t, a, r); len(gs) != 0 {
					t.Fatalf("%s granted while the gpu is held: %v", r.Stage, gs)
				}
			}
			var order []Lease
			held := gs[0]
			for range tc.waiters {
				clock.Advance(time.Minute)
				gs := mustRelease(t, a, held.Token)
				if len(gs) != 1 {
					t.Fatalf("release granted %d, want 1", len(gs))
				}
				order = append(order, gs[0])
				held = gs[0]
			}
			if got := stagesOf(order); got != tc.want {
				t.Errorf("grant order %s, want %s", got, tc.want)
			}
		})
	}
}

// An urgent request that does not fit keeps the free units of its locks
// from fair requests: the gpu stays free for it while the scratch disk it
// also needs is busy.
func TestUrgentReserves(t *testing.T) {
	a, clock := urgentArbiter(t, nil)
	_, gs := mustSubmit(t, a, Request{Stage: "add_pieces", Owner: "ap.0", Locks: []string{"scratch"}})
	scratch := gs[0]
	clock.Advance(time.Second)
	if _, gs := mustSubmit(t, a, Request{Stage: "window_post", Owner: "w.0", Locks: []string{"gpu", "scratch"}}); len(gs) != 0 {
		t.Fatalf("granted with scratch busy: %v", gs)
	}
	clock.Advance(time.Second)
	if _, gs := mustSubmit(t, a, Request{Stage: "c2", Owner: "c2.0", Locks: []string{"gpu"}}); len(gs) != 0 {
		t.Fatalf("c2 took the gpu an urgent request waits for: %v", gs)
	}
	clock.Advance(time.Minute)
	gs = mustRelease(t, a, scratch.Token)
	if got := stagesOf(gs); got != "window_post" {
		t.Fatalf("scratch release granted %q, want window_post", got)
	}
	st := a.Stats()
	if st.Locks["gpu"].Withheld != 61*time.Second {
		t.Errorf("gpu withheld %v, want 1m1s from its request on (reported, not idle)", st.Locks["gpu"].Withheld)
	}
	if st.Locks["gpu"].IdleWhileWaiting != 0 {
		t.Errorf("gpu idle while waiting %v, want 0", st.Locks["gpu"].IdleWhileWaiting)
	}
}

// The starvation bound: a flood of urgent requests on a lock gets
// UrgentBurst grants in a row while a fair request waits, then the fair
// request is granted, then the urgent ones go first again.
func TestUrgentBurstBoundsStarvation(t *testing.T) {
	for _, burst := range []int{1, 2, 4, 7} {
		t.Run("burst="+string(rune('0'+burst)), func(t *testing.T) {
			a, clock := urgentArbiter(t, func(c *Config) { c.UrgentBurst = burst })
			_, gs := mustSubmit(t, a, Request{Stage: "winning_post", Owner: "wp.x", Locks: []string{"gpu"}})
			held := gs[0]
			mustSubmit(t, a, Request{Stage: "c2", Owner: "c2.0", Locks: []string{"gpu"}})
			// every holder is followed by another urgent request: a flood
			var order []string
			for k := 0; k < 3*(burst+1); k++ {
				mustSubmit(t, a, Request{Stage: "window_post", Owner: "w.0", Locks: []string{"gpu"}})
				clock.Advance(time.Second)
				gs := mustRelease(t, a, held.Token)
				if len(gs) != 1 {
					t.Fatalf("release %d granted %d", k, len(gs))
				}
				held = gs[0]
				order = append(order, held.Stage)
				if held.Stage == "c2" {
					mustSubmit(t, a, Request{Stage: "c2", Owner: "c2.0", Locks: []string{"gpu"}})
				}
			}
			// the first urgent grant before c2 waited counts: the
			// flood's run starts at the first release
			for k, st := range order {
				want := "window_post"
				if (k+1)%(burst+1) == 0 {
					want = "c2"
				}
				if st != want {
					t.Fatalf("grant %d is %s, want %s (order %v)", k, st, want, order)
				}
			}
		})
	}
}

func TestPreemptions(t *testing.T) {
	a, clock := urgentArbiter(t, func(c *Config) {
		c.Locks = map[string]int{"gpu": 2}
		c.Preempt = map[string]time.Duration{"gpu": 30 * time.Second}
	})
	gpu := []string{"gpu"}
	_, gs := mustSubmit(t, a, Request{Stage: "c2", Owner: "c2.0", Locks: gpu})
	first := gs[0]
	clock.Advance(time.Minute)
	_, gs = mustSubmit(t, a, Request{Stage: "pc2", Owner: "pc2.0", Locks: gpu})
	second := gs[0]
	if v, next := a.Preemptions(); len(v) != 0 || !next.IsZero() {
		t.Fatalf("nothing urgent waits, yet victims %v next %v", v, next)
	}
	clock.Advance(time.Second)
	submitted := clock.Now()
	mustSubmit(t, a, Request{Stage: "winning_post", Owner: "wp.0", Locks: gpu})
	v, next := a.Preemptions()
	if len(v) != 0 || !next.Equal(submitted.Add(30*time.Second)) {
		t.Fatalf("before the bound: victims %v next %v, want none and %v", v, next, submitted.Add(30*time.Second))
	}
	clock.Advance(30 * time.Second)
	v, next = a.Preemptions()
	if len(v) != 1 || v[0].Token != second.Token || !next.IsZero() {
		t.Fatalf("at the bound: victims %v next %v, want the pc2 lease granted last (%d) and no next", v, next, second.Token)
	}
	if v, _ := a.Preemptions(); len(v) != 0 {
		t.Fatalf("victims chosen twice for one request: %v", v)
	}
	st := a.Stats().Stages["pc2"]
	if st.Preempted != 1 || st.PreemptedWork != 31*time.Second {
		t.Errorf("pc2 preempted %d work %v, want 1 and 31s", st.Preempted, st.PreemptedWork)
	}
	gs = mustRelease(t, a, second.Token)
	if stagesOf(gs) != "winning_post" {
		t.Fatalf("the victim's unit went to %q, want winning_post", stagesOf(gs))
	}
	// another urgent request gets the other holder, not the urgent one
	clock.Advance(time.Second)
	mustSubmit(t, a, Request{Stage: "window_post", Owner: "w.0", Locks: gpu})
	clock.Advance(time.Minute)
	if v, _ := a.Preemptions(); len(v) != 1 || v[0].Token != first.Token {
		t.Fatalf("second preemption %v, want the c2 lease %d (urgent holders are never victims)", v, first.Token)
	}
}

func TestPreemptNeedsADeclaredLock(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown lock", Config{Locks: map[string]int{"gpu": 1}, Preempt: map[string]time.Duration{"gpo": time.Second}}, `preemption of unknown lock "gpo"`},
		{"negative bound", Config{Locks: map[string]int{"gpu": 1}, Preempt: map[string]time.Duration{"gpu": -1}}, "negative"},
		{"negative burst", Config{UrgentBurst: -1}, "urgent burst -1 is negative"},
		{"empty urgent stage", Config{Urgent: []string{""}}, "empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if tc.name == "unknown lock" && !errors.Is(err, ErrUnknownLock) {
				t.Errorf("not ErrUnknownLock: %v", err)
			}
		})
	}
}

// PreemptFor preempts a lock for the stages it lists only, each with its
// own bound.
func TestPreemptFor(t *testing.T) {
	a, clock := urgentArbiter(t, func(c *Config) {
		c.PreemptFor = map[string]map[string]time.Duration{"gpu": {"winning_post": 10 * time.Second}}
	})
	gpu := []string{"gpu"}
	_, gs := mustSubmit(t, a, Request{Stage: "c2", Owner: "c2.0", Locks: gpu})
	c2 := gs[0]
	mustSubmit(t, a, Request{Stage: "window_post", Owner: "w.0", Locks: gpu})
	clock.Advance(time.Hour)
	if v, next := a.Preemptions(); len(v) != 0 || !next.IsZero() {
		t.Fatalf("window_post, not listed, preempted: %v next %v", v, next)
	}
	mustSubmit(t, a, Request{Stage: "winning_post", Owner: "wp.0", Locks: gpu})
	if _, next := a.Preemptions(); !next.Equal(clock.Now().Add(10 * time.Second)) {
		t.Fatalf("next %v, want winning_post's own 10s bound", next)
	}
	clock.Advance(10 * time.Second)
	if v, _ := a.Preemptions(); len(v) != 1 || v[0].Token != c2.Token {
		t.Fatalf("victims %v, want c2 for the winning_post", v)
	}
	if _, err := New(Config{Locks: map[string]int{"gpu": 1}, PreemptFor: map[string]map[string]time.Duration{"gpu": {"c2": 0}}}); err == nil || !strings.Contains(err.Error(), "not urgent") {
		t.Fatalf("preempting for a non-urgent stage: %v", err)
	}
}

// One lease holding both locks an urgent request waits for is preempted
// once, not once per lock.
func TestPreemptOneVictimForTwoLocks(t *testing.T) {
	a, clock := urgentArbiter(t, func(c *Config) {
		c.Locks = map[string]int{"gpu": 1, "scratch": 2}
		c.Preempt = map[string]time.Duration{"gpu": 0, "scratch": 0}
	})
	both := []string{"gpu", "scratch"}
	_, gs := mustSubmit(t, a, Request{Stage: "c2", Owner: "c2.0", Locks: both})
	first := gs[0]
	clock.Advance(time.Second)
	if _, gs := mustSubmit(t, a, Request{Stage: "add_pieces", Owner: "ap.0", Locks: []string{"scratch"}}); len(gs) != 1 {
		t.Fatalf("add_pieces not granted scratch's second unit: %v", gs)
	}
	mustSubmit(t, a, Request{Stage: "window_post", Owner: "w.0", Locks: both})
	v, _ := a.Preemptions()
	if len(v) != 1 || v[0].Token != first.Token {
		t.Fatalf("victims %v, want only c2's lease %d, which holds both locks", v, first.Token)
	}
}
