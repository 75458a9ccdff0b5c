package dispatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rig is a Core on a manual clock with the real arbiter, recording starts.
type rig struct {
	t      *testing.T
	clock  *arbiter.ManualClock
	core   *Core
	locker *ArbiterLocker
	arb    *arbiter.Arbiter
	starts []Start
	ids    map[string]TaskID // label -> task
}

func newRig(t *testing.T, spec Spec, locks map[string]int, policy arbiter.Policy) *rig {
	t.Helper()
	r := &rig{t: t, clock: arbiter.NewManualClock(t0), ids: map[string]TaskID{}}
	var l Locker
	if locks != nil {
		a, err := arbiter.New(arbiter.Config{Policy: policy, Locks: locks, Clock: r.clock})
		if err != nil {
			t.Fatal(err)
		}
		r.arb, r.locker = a, NewArbiterLocker(a)
		l = r.locker
	}
	c, err := NewCore(spec, l, r.clock, func(s Start) { r.starts = append(r.starts, s) })
	if err != nil {
		t.Fatal(err)
	}
	r.core = c
	return r
}

// do runs one scripted step and returns the processors that started tasks,
// as "label@proc" in start order.
func (r *rig) do(step string) string {
	r.t.Helper()
	r.starts = nil
	f := strings.Fields(step)
	switch f[0] {
	case "submit": // submit LABEL STAGE
		id, err := r.core.Submit(config.Stage(f[2]))
		if err != nil {
			r.t.Fatalf("%s: %v", step, err)
		}
		r.ids[f[1]] = id
	case "release": // release LABEL
		if !r.core.Release(r.ids[f[1]]) {
			r.t.Fatalf("%s: task not running", step)
		}
	case "cancel":
		if !r.core.Cancel(r.ids[f[1]]) {
			r.t.Fatalf("%s: unknown task", step)
		}
	case "drop": // drop PROC
		if _, err := r.core.DropProcessor(f[1]); err != nil {
			r.t.Fatal(err)
		}
	case "restore":
		if err := r.core.RestoreProcessor(f[1]); err != nil {
			r.t.Fatal(err)
		}
	case "wait": // wait DURATION: advance the clock and tick
		d, err := time.ParseDuration(f[1])
		if err != nil {
			r.t.Fatal(err)
		}
		r.clock.Advance(d)
		r.core.Tick()
	default:
		r.t.Fatalf("bad step %q", step)
	}
	if r.locker != nil && r.locker.Err != nil {
		r.t.Fatalf("%s: arbiter error: %v", step, r.locker.Err)
	}
	var out []string
	for _, s := range r.starts {
		label := "?"
		for l, id := range r.ids {
			if id == s.Task {
				label = l
			}
		}
		if label == "?" {
			// Started inside Submit, before the label was recorded.
			label = f[1]
		}
		out = append(out, label+"@"+s.Processor)
	}
	return strings.Join(out, " ")
}

func procs(specs ...string) []Processor {
	// "id:conc:lock,lock"
	var out []Processor
	for _, s := range specs {
		parts := strings.Split(s, ":")
		p := Processor{ID: parts[0], Stage: config.Stage(strings.Split(parts[0], ".")[0])}
		fmt.Sscan(parts[1], &p.Concurrent)
		if len(parts) > 2 && parts[2] != "" {
			p.Locks = strings.Split(parts[2], ",")
		}
		out = append(out, p)
	}
	return out
}

func TestCore(t *testing.T) {
	type step struct {
		do, want string // want: starts, "label@proc ..."
	}
	cases := []struct {
		name  string
		spec  Spec
		locks map[string]int
		steps []step
	}{
		{
			name: "stage limit caps running tasks across processors",
			spec: Spec{Processors: procs("pc1.0:2", "pc1.1:2"), Limits: map[config.Stage]int{"pc1": 3}},
			steps: []step{
				{"submit a pc1", "a@pc1.0"}, {"submit b pc1", "b@pc1.1"}, {"submit c pc1", "c@pc1.0"},
				{"submit d pc1", ""},     // limit 3 reached though pc1.1 has a free slot
				{"release a", "d@pc1.0"}, // both at 1/2: config order
			},
		},
		{
			name: "processor concurrency caps its tasks",
			spec: Spec{Processors: procs("pc2.0:1")},
			steps: []step{
				{"submit a pc2", "a@pc2.0"}, {"submit b pc2", ""}, {"release a", "b@pc2.0"},
			},
		},
		{
			name: "stagger spaces starts",
			spec: Spec{Processors: procs("pc1.0:10"), Stagger: map[config.Stage]time.Duration{"pc1": 30 * time.Second}},
			steps: []step{
				{"submit a pc1", "a@pc1.0"}, {"submit b pc1", ""}, {"submit c pc1", ""},
				{"wait 29s", ""}, {"wait 1s", "b@pc1.0"}, {"wait 10s", ""}, {"wait 20s", "c@pc1.0"},
			},
		},
		{
			name: "least loaded by fraction, then config order",
			spec: Spec{Processors: procs("pc1.0:4", "pc1.1:2")},
			steps: []step{
				{"submit a pc1", "a@pc1.0"}, // 0/4 vs 0/2: tie, config order
				{"submit b pc1", "b@pc1.1"}, // 1/4 vs 0/2
				{"submit c pc1", "c@pc1.0"}, // 1/4 vs 1/2
				{"submit d pc1", "d@pc1.1"}, // 2/4 vs 1/2: tie in fraction, fewer running wins
			},
		},
		{
			name: "a freed second processor is used at once",
			spec: Spec{Processors: procs("c2.0:1", "c2.1:1")},
			steps: []step{
				{"submit a c2", "a@c2.0"}, {"submit b c2", "b@c2.1"}, {"submit c c2", ""},
				{"release b", "c@c2.1"}, // damocles would block on c2.0, the first configured
			},
		},
		{
			name:  "prefer a processor whose locks are free now",
			spec:  Spec{Processors: procs("pc2.0:1:gpu1", "pc2.1:1:gpu2", "c2.0:1:gpu1")},
			locks: map[string]int{"gpu1": 1, "gpu2": 1},
			steps: []step{
				{"submit x c2", "x@c2.0"},   // gpu1 busy
				{"submit a pc2", "a@pc2.1"}, // pc2.0 is first and idle, but its lock is taken
			},
		},
		{
			name:  "a waiting task takes whichever lock frees first",
			spec:  Spec{Processors: procs("pc2.0:1:gpu1", "pc2.1:1:gpu2", "c2.0:1:gpu1", "c2.1:1:gpu2")},
			locks: map[string]int{"gpu1": 1, "gpu2": 1},
			steps: []step{
				{"submit x c2", "x@c2.0"}, {"submit y c2", "y@c2.1"},
				{"submit a pc2", ""},
				{"release y", "a@pc2.1"}, // gpu2 freed first, though pc2.0 comes first in the config
				{"release x", ""},
				{"submit b pc2", "b@pc2.0"},
			},
		},
		{
			name:  "locks of all kinds at once: a task waits while one of two is taken",
			spec:  Spec{Processors: procs("pc2.0:1:gpu1,disk", "c2.0:1:disk")},
			locks: map[string]int{"gpu1": 1, "disk": 1},
			steps: []step{
				{"submit x c2", "x@c2.0"}, {"submit a pc2", ""}, {"release x", "a@pc2.0"},
			},
		},
		{
			name: "cancelling a waiting task frees its place in the queue",
			spec: Spec{Processors: procs("pc2.0:1")},
			steps: []step{
				{"submit a pc2", "a@pc2.0"}, {"submit b pc2", ""}, {"submit c pc2", ""},
				{"cancel b", ""}, {"release a", "c@pc2.0"},
			},
		},
		{
			name:  "cancelling a running task frees slot, limit and locks",
			spec:  Spec{Processors: procs("pc2.0:1:gpu1", "c2.0:1:gpu1"), Limits: map[config.Stage]int{"pc2": 1}},
			locks: map[string]int{"gpu1": 1},
			steps: []step{
				{"submit a pc2", "a@pc2.0"}, {"submit x c2", ""}, {"submit b pc2", ""},
				{"cancel a", "x@c2.0"}, // the lock goes to c2, which asked first
				{"release x", "b@pc2.0"},
			},
		},
		{
			name:  "cancelling a task waiting on a lock withdraws its lock request",
			spec:  Spec{Processors: procs("pc2.0:1:gpu1", "c2.0:1:gpu1")},
			locks: map[string]int{"gpu1": 1},
			steps: []step{
				{"submit x c2", "x@c2.0"}, {"submit a pc2", ""}, {"cancel a", ""},
				{"release x", ""}, // nobody waits: the lock stays free
				{"submit b pc2", "b@pc2.0"},
			},
		},
		{
			name:  "dropping a dead processor ends its tasks and frees their locks",
			spec:  Spec{Processors: procs("pc2.0:1:gpu1", "pc2.1:1:gpu2", "c2.0:1:gpu1")},
			locks: map[string]int{"gpu1": 1, "gpu2": 1},
			steps: []step{
				{"submit a pc2", "a@pc2.0"}, {"submit b pc2", "b@pc2.1"}, {"submit x c2", ""},
				{"submit c pc2", ""},
				{"drop pc2.0", "x@c2.0"}, // gpu1 freed; c2 waited for it
				{"release b", "c@pc2.1"},
				{"release x", ""}, // pc2.0 is dead: gpu1 stays free
				{"submit d pc2", ""},
				{"restore pc2.0", "d@pc2.0"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.spec, tc.locks, arbiter.Fair)
			for i, s := range tc.steps {
				if got := r.do(s.do); got != s.want {
					t.Fatalf("step %d %q: started %q, want %q", i, s.do, got, s.want)
				}
			}
			if r.arb != nil {
				// Nothing held by tasks that ended: the arbiter agrees with
				// the dispatcher on what is held.
				held := 0
				for _, p := range tc.spec.Processors {
					n, _ := r.core.ProcessorLoad(p.ID)
					held += n * len(p.Locks)
				}
				got := 0
				for _, l := range r.arb.Stats().Locks {
					got += l.Held
				}
				if got != held {
					t.Fatalf("arbiter holds %d units, running tasks %d", got, held)
				}
			}
		})
	}
}

func TestCoreErrors(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		want string
	}{
		{"unknown stage", Spec{Processors: []Processor{{ID: "x.0", Stage: "x"}}}, "unknown stage"},
		{"duplicate id", Spec{Processors: procs("pc1.0:1", "pc1.0:1")}, "listed twice"},
		{"locks without arbiter", Spec{Processors: procs("pc2.0:1:gpu1")}, "no lock arbiter"},
		{"negative limit", Spec{Limits: map[config.Stage]int{"pc1": -1}}, "negative limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCore(tc.spec, nil, WallClock, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	c, err := NewCore(Spec{Processors: procs("pc1.0:1")}, nil, WallClock, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit("c2"); err == nil || !strings.Contains(err.Error(), "no processor") {
		t.Fatalf("submit to a stage without processors: %v", err)
	}
	if _, err := c.DropProcessor("nope"); err == nil {
		t.Fatal("dropping an unknown processor succeeded")
	}
}

// TestGreedyReTakes shows the policy reaches the arbiter through the
// dispatcher: under greedy a pc2 processor that finishes with more pc2 work
// waiting re-takes its lock and c2 never runs; under fair they alternate.
func TestGreedyReTakes(t *testing.T) {
	for _, tc := range []struct {
		policy arbiter.Policy
		want   string
	}{
		{arbiter.Greedy, "b@pc2.0"},
		{arbiter.Fair, "x@c2.0"},
		{arbiter.FIFO, "x@c2.0"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			r := newRig(t, Spec{Processors: procs("pc2.0:1:gpu1", "c2.0:1:gpu1")}, map[string]int{"gpu1": 1}, tc.policy)
			r.do("submit a pc2")
			r.do("submit x c2")
			r.do("submit b pc2")
			r.clock.Advance(12 * time.Minute)
			if got := r.do("release a"); got != tc.want {
				t.Fatalf("after pc2 released: started %q, want %q", got, tc.want)
			}
		})
	}
}
