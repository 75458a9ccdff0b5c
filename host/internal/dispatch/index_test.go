package dispatch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
)

// TestIndexesMatchASweep checks the Core's incremental bookkeeping against
// what sweeping every processor would give, after every call of a random
// run: each stage's ready list is exactly its pickable processors sorted
// least loaded first by their current load, and every processor with locks
// has as many bids as it can use (its free slots, at most the stage's
// waiting tasks, none while limit or stagger hold the stage back), whose
// ids the Core maps back to it. The runs mix concurrencies, processors
// with no lock, one or two locks, limits, staggers and processor deaths.
func TestIndexesMatchASweep(t *testing.T) {
	for _, policy := range []arbiter.Policy{arbiter.Fair, arbiter.FIFO, arbiter.Greedy} {
		for seed := uint64(0); seed < 60; seed++ {
			t.Run(fmt.Sprintf("%s/%d", policy, seed), func(t *testing.T) {
				indexRun(t, policy, seed)
			})
		}
	}
}

func indexRun(t *testing.T, policy arbiter.Policy, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x1d))
	clock := arbiter.NewManualClock(t0)
	locks := map[string]int{}
	var names []string
	for i := range 1 + rng.IntN(5) {
		n := fmt.Sprintf("gpu%d", i)
		locks[n] = 1 + rng.IntN(2)
		names = append(names, n)
	}
	stages := []config.Stage{config.StagePC1, config.StagePC2, config.StageC2}
	spec := Spec{Limits: map[config.Stage]int{}, Stagger: map[config.Stage]time.Duration{}}
	for _, st := range stages {
		for i := range 1 + rng.IntN(6) {
			p := Processor{ID: fmt.Sprintf("%s.%d", st, i), Stage: st, Concurrent: []int{1, 1, 2, 3}[rng.IntN(4)]}
			for _, k := range rng.Perm(len(names))[:rng.IntN(min(2, len(names))+1)] {
				p.Locks = append(p.Locks, names[k])
			}
			spec.Processors = append(spec.Processors, p)
		}
		if rng.IntN(3) == 0 {
			spec.Limits[st] = 1 + rng.IntN(5)
		}
		if rng.IntN(4) == 0 {
			spec.Stagger[st] = time.Duration(1+rng.IntN(3)) * time.Minute
		}
	}
	arb, err := arbiter.New(arbiter.Config{Policy: policy, Locks: locks, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	locker := NewArbiterLocker(arb)
	var started []TaskID // running, as far as the test knows
	c, err := NewCore(spec, locker, clock, func(s Start) { started = append(started, s.Task) })
	if err != nil {
		t.Fatal(err)
	}
	var waiting []TaskID
	for step := 0; step < 400; step++ {
		var what string
		switch op := rng.IntN(20); {
		case op < 8:
			st := stages[rng.IntN(len(stages))]
			id, err := c.Submit(st)
			if err != nil {
				t.Fatal(err)
			}
			waiting = append(waiting, id)
			what = "submit " + string(st)
		case op < 14 && len(started) > 0:
			i := rng.IntN(len(started))
			c.Release(started[i])
			what = fmt.Sprint("release ", started[i])
			started = slices.Delete(started, i, i+1)
		case op < 15 && len(waiting) > 0:
			i := rng.IntN(len(waiting))
			c.Cancel(waiting[i])
			what = fmt.Sprint("cancel ", waiting[i])
			waiting = slices.Delete(waiting, i, i+1)
		case op < 17:
			p := spec.Processors[rng.IntN(len(spec.Processors))].ID
			if rng.IntN(2) == 0 {
				if _, err := c.DropProcessor(p); err != nil {
					t.Fatal(err)
				}
				what = "drop " + p
			} else {
				if err := c.RestoreProcessor(p); err != nil {
					t.Fatal(err)
				}
				what = "restore " + p
			}
		default:
			clock.Advance(time.Duration(rng.IntN(90)) * time.Second)
			c.Tick()
			what = "tick"
		}
		// tasks that started or ended are no longer waiting; ended ones
		// (dropped with their processor) are no longer running
		waiting = slices.DeleteFunc(waiting, func(id TaskID) bool { tk := c.tasks[id]; return tk == nil || tk.state == running })
		started = slices.DeleteFunc(started, func(id TaskID) bool { tk := c.tasks[id]; return tk == nil || tk.state != running })
		if locker.Err != nil {
			t.Fatalf("step %d (%s): %v", step, what, locker.Err)
		}
		checkIndexes(t, c, fmt.Sprintf("step %d (%s)", step, what))
	}
}

// checkIndexes compares the Core's indexes with a sweep of its processors.
func checkIndexes(t *testing.T, c *Core, when string) {
	t.Helper()
	for _, s := range c.order {
		var want []*procState
		for _, p := range s.procs {
			if p.free() > 0 && (len(p.Locks) == 0 || p.bids == 0) {
				want = append(want, p)
			}
		}
		slices.SortStableFunc(want, func(a, b *procState) int {
			// load now, not as indexed: running/concurrent, running, order
			l, r := len(a.running)*b.Concurrent, len(b.running)*a.Concurrent
			switch {
			case l != r:
				return l - r
			case len(a.running) != len(b.running):
				return len(a.running) - len(b.running)
			}
			return a.index - b.index
		})
		if !slices.Equal(s.ready, want) {
			t.Fatalf("%s: %s ready %v, a sweep gives %v", when, s.name, ids(s.ready), ids(want))
		}
		q := len(s.queue)
		may := q > 0 && c.mayStart(s, c.clock.Now())
		for _, p := range s.procs {
			if p.inReady != slices.Contains(s.ready, p) {
				t.Fatalf("%s: %s marked ready %v", when, p.ID, p.inReady)
			}
			if len(p.Locks) == 0 {
				continue
			}
			wantBids := 0
			if may {
				wantBids = min(p.free(), q)
			}
			if p.bids != wantBids || len(p.bidIDs) != p.bids || !slices.IsSorted(p.bidIDs) {
				t.Fatalf("%s: %s has %d bids %v, a sweep wants %d (free %d, %d waiting, may start %v)", when, p.ID, p.bids, p.bidIDs, wantBids, p.free(), q, may)
			}
			for _, id := range p.bidIDs {
				if c.bids[id] != p {
					t.Fatalf("%s: bid %d of %s not mapped to it", when, id, p.ID)
				}
			}
		}
	}
	n := 0
	for _, s := range c.order {
		for _, p := range s.procs {
			n += len(p.bidIDs)
		}
	}
	if n != len(c.bids) {
		t.Fatalf("%s: %d bids mapped, processors hold %d", when, len(c.bids), n)
	}
}

func ids(ps []*procState) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s(%d/%d)", p.ID, len(p.running), p.Concurrent))
	}
	return out
}
