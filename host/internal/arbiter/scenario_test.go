package arbiter

import (
	"container/heap"
	"fmt"
	"testing"
	"time"
)

// The scenario driver: a small discrete-event loop on a ManualClock. A
// processor runs one task at a time; each task asks for the processor's
// locks, holds them for the task's duration and releases them. Jobs come
// either from an unlimited backlog or at a fixed interval into a queue.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type event struct {
	at  time.Time
	seq int
	fn  func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type proc struct {
	owner, stage string
	locks        []string
	hold         time.Duration
	backlog      bool          // unlimited jobs
	every        time.Duration // else one job arrives every `every`, from t0
	start        time.Duration // first job at t0 + start

	queue   []time.Time // arrival times of jobs not yet granted
	pending bool        // a request is waiting in the arbiter
	lease   *Lease
	jobWait []jobWait
}

type jobWait struct {
	arrived time.Time
	wait    time.Duration
}

type world struct {
	t      testing.TB
	clk    *ManualClock
	a      *Arbiter
	q      eventQueue
	seq    int
	procs  map[string]*proc
	byReq  map[RequestID]*proc
	submit bool // submit the next request before releasing (see doc: barging)
}

func newWorld(t testing.TB, cfg Config, submitFirst bool, procs ...*proc) *world {
	t.Helper()
	clk := NewManualClock(t0)
	cfg.Clock = clk
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, clk: clk, a: a, procs: map[string]*proc{}, byReq: map[RequestID]*proc{}, submit: submitFirst}
	for _, p := range procs {
		w.procs[p.owner] = p
		p := p
		if p.backlog {
			w.at(t0.Add(p.start), func() { w.want(p) })
		} else {
			var arrive func()
			arrive = func() {
				p.queue = append(p.queue, w.clk.Now())
				w.want(p)
				w.at(w.clk.Now().Add(p.every), arrive)
			}
			w.at(t0.Add(p.start), arrive)
		}
	}
	return w
}

func (w *world) at(t time.Time, fn func()) {
	w.seq++
	heap.Push(&w.q, event{t, w.seq, fn})
}

// want submits p's next request if it has a job and none is pending.
func (w *world) want(p *proc) {
	if p.pending || (!p.backlog && len(p.queue) == 0) {
		return
	}
	if p.lease != nil && !w.submit {
		return
	}
	id, grants, err := w.a.Submit(Request{Stage: p.stage, Owner: p.owner, Locks: p.locks})
	if err != nil {
		w.t.Fatal(err)
	}
	p.pending = true
	w.byReq[id] = p
	w.granted(grants)
}

func (w *world) granted(ls []Lease) {
	for _, l := range ls {
		p := w.byReq[l.Request]
		delete(w.byReq, l.Request)
		if p == nil || !p.pending {
			w.t.Fatalf("grant %+v for no pending request", l)
		}
		if p.lease != nil {
			// submitted ahead while holding: starts when the current ends,
			// so the processor still runs one task at a time
			w.t.Fatalf("%s granted while holding (a processor runs one task at a time)", p.owner)
		}
		p.pending = false
		l := l
		p.lease = &l
		arrived := l.Requested
		if !p.backlog {
			arrived = p.queue[0]
			p.queue = p.queue[1:]
		}
		p.jobWait = append(p.jobWait, jobWait{arrived, l.Granted.Sub(arrived)})
		w.at(l.Granted.Add(p.hold), func() { w.finish(p) })
	}
}

func (w *world) finish(p *proc) {
	tok := p.lease.Token
	if w.submit {
		// the processor's next job asks before the current one lets go,
		// as a damocles thread already blocked on the lock would
		w.want(p)
	}
	p.lease = nil
	grants, err := w.a.Release(tok)
	if err != nil {
		w.t.Fatal(err)
	}
	w.granted(grants)
	w.want(p)
}

func (w *world) run(d time.Duration) {
	end := t0.Add(d)
	for w.q.Len() > 0 {
		e := heap.Pop(&w.q).(event)
		if !e.at.Before(end) {
			break
		}
		w.clk.Set(e.at)
		e.fn()
	}
	w.clk.Set(end)
}

// worstWait is the longest job wait of p, counting jobs still queued at
// the end by their age, split at half time.
func (w *world) worstWait(p *proc, half time.Time) (first, second time.Duration) {
	now := w.clk.Now()
	for _, j := range p.jobWait {
		if j.arrived.Before(half) {
			first = max(first, j.wait)
		} else {
			second = max(second, j.wait)
		}
	}
	for _, a := range p.queue {
		if a.Before(half) {
			first = max(first, now.Sub(a))
		} else {
			second = max(second, now.Sub(a))
		}
	}
	return first, second
}

// fieldFacts5 builds the scenario of field-facts §5: pc2 has three
// processors with unlimited backlog and 12-minute holds; c2 has one
// processor, a job every c2Every, holding c2Hold; all share "gpu".
func fieldFacts5(t *testing.T, cfg Config, submitFirst bool, c2Every, c2Hold time.Duration) (*world, *proc) {
	c2 := &proc{owner: "c2.0#1", stage: "c2", locks: []string{"gpu"}, hold: c2Hold, every: c2Every}
	procs := []*proc{c2}
	for i := 0; i < 3; i++ {
		procs = append(procs, &proc{owner: fmt.Sprintf("pc2.%d#1", i), stage: "pc2", locks: []string{"gpu"}, hold: 12 * time.Minute, backlog: true})
	}
	// pc2 asks first at t0: the lock is already busy when c2's first job comes.
	procs = append(procs[1:], c2)
	if cfg.Locks == nil {
		cfg.Locks = map[string]int{"gpu": 1}
	}
	w := newWorld(t, cfg, submitFirst, procs...)
	w.run(24 * time.Hour)
	return w, c2
}

func TestFieldFacts5(t *testing.T) {
	half := t0.Add(12 * time.Hour)
	for _, submitFirst := range []bool{false, true} {
		order := "release-then-request"
		if submitFirst {
			order = "request-then-release"
		}
		t.Run("greedy/"+order, func(t *testing.T) {
			w, c2 := fieldFacts5(t, Config{Policy: Greedy}, submitFirst, 40*time.Minute, 18*time.Minute)
			st := w.a.Stats()
			if g := st.Stages["c2"].Grants; g != 0 {
				t.Errorf("c2 grants = %d, want 0 (starved)", g)
			}
			if n := len(c2.queue); n != 36 {
				t.Errorf("c2 backlog = %d jobs, want all 36", n)
			}
		})
		t.Run("fifo/"+order, func(t *testing.T) {
			w, c2 := fieldFacts5(t, Config{Policy: FIFO}, submitFirst, 40*time.Minute, 18*time.Minute)
			st := w.a.Stats()
			share := st.Locks["gpu"].Share["c2"]
			if share < 0.31 || share > 0.35 {
				t.Errorf("c2 share = %.3f, want ~0.33", share)
			}
			first, second := w.worstWait(c2, half)
			t.Logf("c2 share %.3f, worst wait first 12h %v, last 12h %v", share, first, second)
			if second < 300*time.Minute || second <= first {
				t.Errorf("c2 worst wait %v then %v: want several hundred minutes and growing", first, second)
			}
		})
		t.Run("fair/"+order, func(t *testing.T) {
			w, c2 := fieldFacts5(t, Config{}, submitFirst, 40*time.Minute, 18*time.Minute)
			st := w.a.Stats()
			gpu := st.Locks["gpu"]
			share := gpu.Share["c2"]
			first, second := w.worstWait(c2, half)
			t.Logf("c2 share %.4f, grants %d, worst wait %v/%v, busy %.4f", share, st.Stages["c2"].Grants, first, second, gpu.BusyFraction)
			if share < 0.43 || share > 0.47 {
				t.Errorf("c2 share = %.4f, want 0.45 ± 0.02", share)
			}
			if worst := max(first, second); worst > 12*time.Minute {
				t.Errorf("c2 worst wait = %v, want ≤ one pc2 hold (12m)", worst)
			}
			if gpu.IdleWhileWaiting != 0 || gpu.Withheld != 0 {
				t.Errorf("idle while waiting %v, withheld %v: want 0", gpu.IdleWhileWaiting, gpu.Withheld)
			}
			if gpu.BusyFraction < 0.999 {
				t.Errorf("gpu busy %.4f, want 1 (pc2 always waits)", gpu.BusyFraction)
			}
		})
	}
}

// One pc2 processor against c2: only barging starves c2 now (most-waiters
// is a tie), and it does so only when the releaser already has its next
// request queued, which is how the simulator should model a processor with
// more work.
func TestGreedyBarging(t *testing.T) {
	for _, tc := range []struct {
		submitFirst bool
		wantStarved bool
	}{{true, true}, {false, false}} {
		t.Run(fmt.Sprintf("submitFirst=%v", tc.submitFirst), func(t *testing.T) {
			c2 := &proc{owner: "c2.0#1", stage: "c2", locks: []string{"gpu"}, hold: 18 * time.Minute, every: 40 * time.Minute}
			pc2 := &proc{owner: "pc2.0#1", stage: "pc2", locks: []string{"gpu"}, hold: 12 * time.Minute, backlog: true}
			w := newWorld(t, Config{Policy: Greedy, Locks: map[string]int{"gpu": 1}}, tc.submitFirst, pc2, c2)
			w.run(24 * time.Hour)
			g := w.a.Stats().Stages["c2"].Grants
			if starved := g == 0; starved != tc.wantStarved {
				t.Errorf("c2 grants = %d, want starved=%v", g, tc.wantStarved)
			}
		})
	}
}

func pc2s(n int, lock string, hold time.Duration) []*proc {
	var ps []*proc
	for i := 0; i < n; i++ {
		ps = append(ps, &proc{owner: fmt.Sprintf("pc2.%d#1", i), stage: "pc2", locks: []string{lock}, hold: hold, backlog: true})
	}
	return ps
}

func TestWeights(t *testing.T) {
	half := t0.Add(12 * time.Hour)
	for _, tc := range []struct {
		name      string
		weight    float64
		c2        proc
		wantShare float64
		// releaseFirst releases before asking for the next job; c2 then
		// never waits at its own release, so the lock goes to pc2 for a
		// hold each time (18/(18+12) = 0.6 at most, whatever the weight)
		releaseFirst bool
		// bounded: worst c2 wait ≤ 12m; else the backlog grows
		bounded bool
	}{
		{"saturated 1:1", 1, proc{hold: 18 * time.Minute, backlog: true}, 0.5, false, true},
		{"saturated 1:3", 3, proc{hold: 18 * time.Minute, backlog: true}, 0.75, false, true},
		{"saturated 1:3 release first", 3, proc{hold: 18 * time.Minute, backlog: true}, 0.6, true, true},
		{"demand 0.7 at 1:1", 1, proc{hold: 28 * time.Minute, every: 40 * time.Minute}, 0.5, false, false},
		{"demand 0.7 at 1:3", 3, proc{hold: 28 * time.Minute, every: 40 * time.Minute}, 0.7, false, true},
		{"demand 0.45 at 1:3", 3, proc{hold: 18 * time.Minute, every: 40 * time.Minute}, 0.45, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c2 := tc.c2
			c2.owner, c2.stage, c2.locks = "c2.0#1", "c2", []string{"gpu"}
			cfg := Config{Locks: map[string]int{"gpu": 1}, Weights: map[string]float64{"c2": tc.weight}}
			w := newWorld(t, cfg, !tc.releaseFirst, append(pc2s(3, "gpu", 12*time.Minute), &c2)...)
			w.run(24 * time.Hour)
			st := w.a.Stats()
			share := st.Locks["gpu"].Share["c2"]
			first, second := w.worstWait(&c2, half)
			t.Logf("c2 share %.4f, worst job wait %v then %v", share, first, second)
			if share < tc.wantShare-0.02 || share > tc.wantShare+0.02 {
				t.Errorf("c2 share %.4f, want %.2f ± 0.02", share, tc.wantShare)
			}
			if !c2.backlog {
				if tc.bounded && max(first, second) > 12*time.Minute {
					t.Errorf("c2 worst wait %v, want ≤ 12m (full demand served)", max(first, second))
				}
				if !tc.bounded && (second < 2*time.Hour || second <= first) {
					t.Errorf("c2 worst wait %v then %v, want a growing backlog", first, second)
				}
			}
			if st.Locks["gpu"].IdleWhileWaiting != 0 {
				t.Errorf("idle while waiting %v", st.Locks["gpu"].IdleWhileWaiting)
			}
		})
	}
}

func TestCapacity2(t *testing.T) {
	t.Run("c2 demand served", func(t *testing.T) {
		c2 := &proc{owner: "c2.0#1", stage: "c2", locks: []string{"gpu"}, hold: 18 * time.Minute, every: 40 * time.Minute}
		w := newWorld(t, Config{Locks: map[string]int{"gpu": 2}}, false, append(pc2s(3, "gpu", 12*time.Minute), c2)...)
		w.run(24 * time.Hour)
		st := w.a.Stats()
		gpu := st.Locks["gpu"]
		first, second := w.worstWait(c2, t0.Add(12*time.Hour))
		t.Logf("c2 share %.4f grants %d worst wait %v busy %.4f", gpu.Share["c2"], st.Stages["c2"].Grants, max(first, second), gpu.BusyFraction)
		if g := st.Stages["c2"].Grants; g != 36 {
			t.Errorf("c2 grants %d, want 36", g)
		}
		if max(first, second) > 12*time.Minute {
			t.Errorf("c2 worst wait %v, want ≤ 12m", max(first, second))
		}
		if gpu.BusyFraction < 0.999 || gpu.IdleWhileWaiting != 0 {
			t.Errorf("busy %.4f idle-while-waiting %v: want 1 and 0", gpu.BusyFraction, gpu.IdleWhileWaiting)
		}
		if want := 36 * 18.0 / (2 * 24 * 60); gpu.Share["c2"] < want-0.01 || gpu.Share["c2"] > want+0.01 {
			t.Errorf("c2 share %.4f, want %.4f", gpu.Share["c2"], want)
		}
	})
	t.Run("both saturated", func(t *testing.T) {
		ps := pc2s(3, "gpu", 12*time.Minute)
		for i := 0; i < 2; i++ {
			ps = append(ps, &proc{owner: fmt.Sprintf("c2.%d#1", i), stage: "c2", locks: []string{"gpu"}, hold: 18 * time.Minute, backlog: true})
		}
		w := newWorld(t, Config{Locks: map[string]int{"gpu": 2}}, false, ps...)
		w.run(24 * time.Hour)
		share := w.a.Stats().Locks["gpu"].Share["c2"]
		if share < 0.48 || share > 0.52 {
			t.Errorf("c2 share %.4f, want 0.5 ± 0.02", share)
		}
	})
}

// A request for {gpu, scratch} while narrow requests keep each lock busy in
// turn, never both free at once: without a bypass bound it starves; with
// one it waits at most the bound plus one narrow hold.
func TestWideRequestBoundedBypass(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bound     time.Duration
		wantWorst time.Duration // 0: starved
	}{
		{"no bound", 1000 * time.Hour, 0},
		{"bound 30m", 30 * time.Minute, 40 * time.Minute},
		{"adaptive", 0, 30 * time.Minute}, // 2 × 10m mean hold + 10m
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps []*proc
			for i := 0; i < 2; i++ {
				ps = append(ps,
					&proc{owner: fmt.Sprintf("pc2.%d#1", i), stage: "pc2", locks: []string{"gpu"}, hold: 10 * time.Minute, backlog: true},
					&proc{owner: fmt.Sprintf("tree_d.%d#1", i), stage: "tree_d", locks: []string{"scratch"}, hold: 10 * time.Minute, backlog: true, start: 5 * time.Minute})
			}
			wide := &proc{owner: "c2.0#1", stage: "c2", locks: []string{"scratch", "gpu"}, hold: 10 * time.Minute, every: 60 * time.Minute, start: 7 * time.Minute}
			cfg := Config{Locks: map[string]int{"gpu": 1, "scratch": 1}, BypassBound: tc.bound}
			w := newWorld(t, cfg, false, append(ps, wide)...)
			w.run(24 * time.Hour)
			st := w.a.Stats()
			first, second := w.worstWait(wide, t0.Add(12*time.Hour))
			worst := max(first, second)
			withheld := st.Locks["gpu"].Withheld + st.Locks["scratch"].Withheld
			t.Logf("wide grants %d worst %v withheld %v", st.Stages["c2"].Grants, worst, withheld)
			if tc.wantWorst == 0 {
				if g := st.Stages["c2"].Grants; g != 0 {
					t.Fatalf("wide request granted %d times without a bound; the scenario no longer tests starvation", g)
				}
				return
			}
			if g := st.Stages["c2"].Grants; g != 24 {
				t.Errorf("wide grants %d, want 24", g)
			}
			if worst > tc.wantWorst {
				t.Errorf("wide worst wait %v, want ≤ %v", worst, tc.wantWorst)
			}
			if withheld == 0 {
				t.Errorf("no unit withheld: the reservation did not happen or was not measured")
			}
			for _, l := range []string{"gpu", "scratch"} {
				if d := st.Locks[l].IdleWhileWaiting; d != 0 {
					t.Errorf("%s idle while waiting %v outside reservation", l, d)
				}
			}
		})
	}
}
