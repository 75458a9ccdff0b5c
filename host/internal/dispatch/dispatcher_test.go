package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
)

func newDispatcher(t *testing.T, spec Spec, locks map[string]int) (*Dispatcher, *arbiter.Arbiter) {
	t.Helper()
	var l Locker
	var a *arbiter.Arbiter
	if locks != nil {
		var err error
		a, err = arbiter.New(arbiter.Config{Locks: locks})
		if err != nil {
			t.Fatal(err)
		}
		l = NewArbiterLocker(a)
	}
	d, err := New(spec, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, a
}

// acquireAsync runs Acquire in a goroutine.
func acquireAsync(ctx context.Context, d *Dispatcher, stage config.Stage) chan result {
	ch := make(chan result, 1)
	go func() {
		a, err := d.Acquire(ctx, stage)
		ch <- result{a, err}
	}()
	return ch
}

type result struct {
	a   *Assignment
	err error
}

// waitQueued waits until stage has n waiting tasks, so a test knows an
// Acquire goroutine is inside.
func waitQueued(t *testing.T, d *Dispatcher, stage config.Stage, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, w := d.Stats(stage); w == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stage %s never had %d waiting", stage, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAcquireWaitsForRelease(t *testing.T) {
	d, _ := newDispatcher(t, Spec{Processors: procs("c2.0:1", "c2.1:1")}, nil)
	ctx := context.Background()
	a1, err := d.Acquire(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := d.Acquire(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if a1.Processor == a2.Processor {
		t.Fatalf("both tasks on %s", a1.Processor)
	}
	ch := acquireAsync(ctx, d, "c2")
	waitQueued(t, d, "c2", 1)
	a2.Release()
	a2.Release() // a second release does nothing
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.a.Processor != a2.Processor {
		t.Fatalf("third task on %s, want the freed %s", r.a.Processor, a2.Processor)
	}
	if running, _ := d.Stats("c2"); running != 2 {
		t.Fatalf("%d running, want 2", running)
	}
}

func TestAcquireCancelFreesEverything(t *testing.T) {
	d, a := newDispatcher(t, Spec{Processors: procs("pc2.0:1:gpu1", "c2.0:1:gpu1")}, map[string]int{"gpu1": 1})
	held, err := d.Acquire(context.Background(), "c2")
	if err != nil {
		t.Fatal(err)
	}
	if held.Lease == 0 {
		t.Fatal("a task of a processor with locks has no lease")
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(ctx, d, "pc2")
	waitQueued(t, d, "pc2", 1)
	cancel()
	r := <-ch
	if !errors.Is(r.err, context.Canceled) || r.a != nil {
		t.Fatalf("cancelled Acquire returned %v, %v", r.a, r.err)
	}
	if _, w := d.Stats("pc2"); w != 0 {
		t.Fatalf("%d pc2 tasks still waiting", w)
	}
	if st := a.Stats(); st.Locks["gpu1"].Waiting != 0 {
		t.Fatalf("a lock request survived the cancellation: %+v", st.Locks["gpu1"])
	}
	held.Release()
	if st := a.Stats(); st.Locks["gpu1"].Held != 0 {
		t.Fatalf("gpu1 still held after release: %+v", st.Locks["gpu1"])
	}
	// An Acquire whose context already ended holds nothing either.
	if _, err := d.Acquire(ctx, "pc2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire on an ended context: %v", err)
	}
}

func TestDropProcessorEndsAssignments(t *testing.T) {
	d, a := newDispatcher(t, Spec{Processors: procs("pc2.0:2:gpu1", "pc2.1:1")}, map[string]int{"gpu1": 2})
	ctx := context.Background()
	var on0 []*Assignment
	for i := 0; i < 3; i++ {
		as, err := d.Acquire(ctx, "pc2")
		if err != nil {
			t.Fatal(err)
		}
		if as.Processor == "pc2.0" {
			on0 = append(on0, as)
		}
	}
	if len(on0) != 2 {
		t.Fatalf("%d tasks on pc2.0, want 2", len(on0))
	}
	ch := acquireAsync(ctx, d, "pc2")
	waitQueued(t, d, "pc2", 1)
	n, err := d.DropProcessor("pc2.0")
	if err != nil || n != 2 {
		t.Fatalf("dropped %d, %v; want 2", n, err)
	}
	for _, as := range on0 {
		select {
		case <-as.Lost():
		default:
			t.Fatalf("%v: Lost not closed", as)
		}
		as.Release() // after a drop, a no-op
	}
	if st := a.Stats(); st.Locks["gpu1"].Held != 0 {
		t.Fatalf("gpu1 still held by a dead processor: %+v", st.Locks["gpu1"])
	}
	select {
	case r := <-ch:
		t.Fatalf("a task started on a dead processor: %v %v", r.a, r.err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := d.RestoreProcessor("pc2.0"); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.err != nil || r.a.Processor != "pc2.0" {
		t.Fatalf("after restore: %v %v", r.a, r.err)
	}
}

func TestAcquireStaggerOnWallClock(t *testing.T) {
	const gap = 40 * time.Millisecond
	d, _ := newDispatcher(t, Spec{
		Processors: procs("pc1.0:4"),
		Stagger:    map[config.Stage]time.Duration{"pc1": gap},
	}, nil)
	ctx := context.Background()
	start := time.Now()
	first, err := d.Acquire(ctx, "pc1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.Acquire(ctx, "pc1")
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < gap {
		t.Fatalf("second start after %v, want at least %v", got, gap)
	}
	if second.Waited < gap-time.Millisecond {
		t.Fatalf("second task reports waiting %v", second.Waited)
	}
	first.Release()
	second.Release()
}

func TestFromConfig(t *testing.T) {
	cfg := &config.Config{
		Locks:   []config.Lock{{Name: "gpu1", Capacity: 1}},
		Arbiter: config.Arbiter{Policy: config.PolicyFIFO, Weights: map[config.Stage]float64{config.StageC2: 2}},
		Limits:  map[config.Stage]int{config.StagePC2: 1},
		Processors: []config.Processor{
			{ID: "pc2.0", Stage: config.StagePC2, Concurrent: 1, Locks: []string{"gpu1"}},
			{ID: "c2.0", Stage: config.StageC2, Concurrent: 1, Locks: []string{"gpu1"}},
		},
	}
	d, a, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if a == nil || a.Policy() != arbiter.FIFO {
		t.Fatalf("arbiter %v: want one with the config's fifo policy", a)
	}
	held, err := d.Acquire(context.Background(), "c2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := d.Acquire(ctx, "pc2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pc2 while c2 holds the shared lock: %v", err)
	}
	held.Release()
	got, err := d.Acquire(context.Background(), "pc2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Processor != "pc2.0" || got.Lease <= held.Lease {
		t.Fatalf("after release: %v (lease %d, previous %d)", got, got.Lease, held.Lease)
	}
	got.Release()
	if st := a.Stats(); st.Stages["c2"].Weight != 2 {
		t.Fatalf("c2 weight %v, want the config's 2", st.Stages["c2"].Weight)
	}
}

// TestAcquireConcurrent hammers the blocking face from many goroutines —
// acquiring, holding briefly, releasing, giving up on deadlines — while
// processors die and come back, and checks from the holders' side that no
// processor ever has more holders than its concurrency, no two holders of
// a capacity-1 lock overlap, and everything is free at the end. Run it
// with -race.
func TestAcquireConcurrent(t *testing.T) {
	spec := Spec{
		Processors: procs("pc2.0:1:gpu1", "pc2.1:1:gpu2", "c2.0:1:gpu1", "c2.1:1:gpu2", "pc1.0:3", "pc1.1:2"),
		Limits:     map[config.Stage]int{"pc1": 4},
	}
	d, a := newDispatcher(t, spec, map[string]int{"gpu1": 1, "gpu2": 1})
	// Holders as the tasks see them. An assignment whose Lost is closed no
	// longer counts: its plugin died and what it held was freed, and the
	// dispatcher closes Lost before handing anything freed to anyone else.
	var mu sync.Mutex
	live := map[*Assignment]bool{}
	conc := map[string]int{}
	locksOf := map[string][]string{}
	for _, p := range spec.Processors {
		conc[p.ID] = p.Concurrent
		locksOf[p.ID] = p.Locks
	}
	lost := func(as *Assignment) bool {
		select {
		case <-as.Lost():
			return true
		default:
			return false
		}
	}
	check := func(as *Assignment) {
		procN, lockN := 0, map[string]int{}
		for h := range live {
			if lost(h) {
				continue
			}
			if h.Processor == as.Processor {
				procN++
			}
			for _, l := range locksOf[h.Processor] {
				lockN[l]++
			}
		}
		if procN > conc[as.Processor] {
			t.Errorf("%s has %d holders", as.Processor, procN)
		}
		for l, n := range lockN {
			if n > 1 {
				t.Errorf("lock %s has %d holders", l, n)
			}
		}
	}
	var wg sync.WaitGroup
	var granted, gaveUp atomic.Int64
	for g := 0; g < 24; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			stage := []config.Stage{"pc1", "pc2", "c2"}[g%3]
			for i := 0; i < 40; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%5)*time.Millisecond)
				as, err := d.Acquire(ctx, stage)
				cancel()
				if err != nil {
					gaveUp.Add(1)
					continue
				}
				granted.Add(1)
				mu.Lock()
				live[as] = true
				check(as)
				mu.Unlock()
				select {
				case <-as.Lost():
				case <-time.After(200 * time.Microsecond):
				}
				mu.Lock()
				delete(live, as)
				mu.Unlock()
				as.Release()
			}
		}(g)
	}
	stop := make(chan struct{})
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			p := spec.Processors[i%len(spec.Processors)].ID
			if _, err := d.DropProcessor(p); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
			if err := d.RestoreProcessor(p); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	killer.Wait()
	if granted.Load() == 0 {
		t.Fatal("nothing was ever granted")
	}
	for _, st := range []config.Stage{"pc1", "pc2", "c2"} {
		if r, w := d.Stats(st); r != 0 || w != 0 {
			t.Fatalf("%s: %d running, %d waiting at the end", st, r, w)
		}
	}
	for name, l := range a.Stats().Locks {
		if l.Held != 0 || l.Waiting != 0 {
			t.Fatalf("lock %s: %d held, %d waiting at the end", name, l.Held, l.Waiting)
		}
	}
	t.Logf("%d granted, %d gave up", granted.Load(), gaveUp.Load())
}
