package dispatch

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
)

// TestCoreRandomised drives cores with random specs and random operations
// (submit, release, cancel, processor death and restart, time passing)
// under each policy, checking after every step that nothing exceeds a
// processor's concurrency, a stage's limit or a lock's capacity, that the
// arbiter holds exactly the locks of running tasks, that starts respect the
// stagger, that no waiting task is left while a lock-free processor could
// take it, and at the end that every task still waiting eventually runs.
func TestCoreRandomised(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	for _, policy := range []arbiter.Policy{arbiter.Fair, arbiter.FIFO, arbiter.Greedy} {
		for seed := 0; seed < seeds; seed++ {
			t.Run(fmt.Sprintf("%s/%d", policy, seed), func(t *testing.T) {
				randomRun(t, policy, uint64(seed))
			})
		}
	}
}

func randomRun(t *testing.T, policy arbiter.Policy, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 77))
	lockNames := []string{"a", "b", "c"}[:1+rng.IntN(3)]
	locks := map[string]int{}
	for _, l := range lockNames {
		locks[l] = 1 + rng.IntN(2)
	}
	stages := []config.Stage{config.StagePC1, config.StagePC2, config.StageC2}
	spec := Spec{Limits: map[config.Stage]int{}, Stagger: map[config.Stage]time.Duration{}}
	for _, st := range stages {
		n := 1 + rng.IntN(3)
		for i := 0; i < n; i++ {
			p := Processor{ID: fmt.Sprintf("%s.%d", st, i), Stage: st, Concurrent: 1 + rng.IntN(3)}
			for _, l := range lockNames {
				if rng.IntN(3) == 0 {
					p.Locks = append(p.Locks, l)
				}
			}
			spec.Processors = append(spec.Processors, p)
		}
		if rng.IntN(2) == 0 {
			spec.Limits[st] = 1 + rng.IntN(4)
		}
		if rng.IntN(3) == 0 {
			spec.Stagger[st] = time.Duration(1+rng.IntN(5)) * time.Minute
		}
	}
	clock := arbiter.NewManualClock(t0)
	arb, err := arbiter.New(arbiter.Config{Policy: policy, Locks: locks, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	locker := NewArbiterLocker(arb)
	lastStart := map[config.Stage]time.Time{}
	started := map[TaskID]bool{}
	c, err := NewCore(spec, locker, clock, func(s Start) {
		if prev, ok := lastStart[s.Stage]; ok && s.Started.Sub(prev) < spec.Stagger[s.Stage] {
			t.Fatalf("%s started %v after the previous start, stagger %v", s.Stage, s.Started.Sub(prev), spec.Stagger[s.Stage])
		}
		lastStart[s.Stage] = s.Started
		if started[s.Task] {
			t.Fatalf("task %d started twice", s.Task)
		}
		started[s.Task] = true
	})
	if err != nil {
		t.Fatal(err)
	}
	var live []TaskID // submitted, not ended
	procIDs := make([]string, len(spec.Processors))
	for i, p := range spec.Processors {
		procIDs[i] = p.ID
	}

	check := func(step string) {
		t.Helper()
		if locker.Err != nil {
			t.Fatalf("after %s: arbiter error: %v", step, locker.Err)
		}
		want := map[string]int{}
		for _, st := range stages {
			s := c.stages[st]
			running := 0
			for _, p := range s.procs {
				if len(p.running) > p.Concurrent {
					t.Fatalf("after %s: %s runs %d > %d", step, p.ID, len(p.running), p.Concurrent)
				}
				if p.dead && len(p.running) > 0 {
					t.Fatalf("after %s: dead %s runs %d", step, p.ID, len(p.running))
				}
				running += len(p.running)
				for range p.running {
					for _, l := range p.Locks {
						want[l]++
					}
				}
			}
			if running != s.running {
				t.Fatalf("after %s: %s counts %d running, processors %d", step, st, s.running, running)
			}
			if s.limit > 0 && s.running > s.limit {
				t.Fatalf("after %s: %s runs %d over its limit %d", step, st, s.running, s.limit)
			}
			if len(s.queue) > 0 && c.mayStart(s, clock.Now()) {
				for _, p := range s.procs {
					if len(p.Locks) == 0 && p.free() > 0 {
						t.Fatalf("after %s: %s has %d waiting while lock-free %s has a free slot", step, st, len(s.queue), p.ID)
					}
				}
			}
		}
		for name, ls := range arb.Stats().Locks {
			if ls.Held > ls.Capacity {
				t.Fatalf("after %s: lock %s holds %d of %d", step, name, ls.Held, ls.Capacity)
			}
			if ls.Held != want[name] {
				t.Fatalf("after %s: lock %s: arbiter holds %d, running tasks need %d", step, name, ls.Held, want[name])
			}
		}
	}

	pick := func() (TaskID, int) {
		i := rng.IntN(len(live))
		return live[i], i
	}
	drop := func(i int) { live = append(live[:i], live[i+1:]...) }
	for n := 0; n < 300; n++ {
		var step string
		switch op := rng.IntN(10); {
		case op < 4:
			st := stages[rng.IntN(len(stages))]
			id, err := c.Submit(st)
			if err != nil {
				t.Fatal(err)
			}
			live = append(live, id)
			step = "submit " + string(st)
		case op < 6 && len(live) > 0:
			id, i := pick()
			if c.Release(id) {
				drop(i)
			}
			step = fmt.Sprint("release ", id)
		case op < 7 && len(live) > 0:
			id, i := pick()
			if !c.Cancel(id) {
				t.Fatalf("cancel of live task %d refused", id)
			}
			drop(i)
			step = fmt.Sprint("cancel ", id)
		case op < 8:
			p := procIDs[rng.IntN(len(procIDs))]
			if rng.IntN(2) == 0 {
				ended, err := c.DropProcessor(p)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range ended {
					for i, l := range live {
						if l == id {
							drop(i)
							break
						}
					}
				}
				step = "drop " + p
			} else {
				if err := c.RestoreProcessor(p); err != nil {
					t.Fatal(err)
				}
				step = "restore " + p
			}
		default:
			clock.Advance(time.Duration(rng.IntN(4)) * time.Minute)
			c.Tick()
			step = "tick"
		}
		check(step)
	}

	// Drain: every processor back, everything running released, time
	// passing; every waiting task must run.
	for _, p := range procIDs {
		if err := c.RestoreProcessor(p); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; len(live) > 0; round++ {
		if round > 10000 {
			t.Fatalf("%d tasks never ran", len(live))
		}
		sort.Slice(live, func(i, j int) bool { return live[i] < live[j] })
		var rest []TaskID
		for _, id := range live {
			if !c.Release(id) {
				rest = append(rest, id)
			}
		}
		live = rest
		clock.Advance(5 * time.Minute)
		c.Tick()
		check("drain")
	}
}
