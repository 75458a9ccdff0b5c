package arbiter

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"
)

// contend runs total acquire+release pairs split over n goroutines and
// returns the elapsed time. The holder yields inside the critical section,
// so the other n−1 goroutines really queue: without it a goroutine on an
// uncontended fast path can finish its whole share within one time slice
// and the run measures the scheduler, not the lock.
func contend(n, total int, op func(g int)) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < n; g++ {
		k := total / n
		if g < total%n {
			k++
		}
		wg.Add(1)
		go func(g, k int) {
			defer wg.Done()
			for i := 0; i < k; i++ {
				op(g)
			}
		}(g, k)
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkAcquireRelease measures the blocking face on one capacity-1
// lock against golang.org/x/sync/semaphore.Weighted(1) doing the same
// work in the same run: ns/op is the arbiter's, sem-ns/op the
// semaphore's, ratio = arbiter / semaphore (target: under 3).
func BenchmarkAcquireRelease(b *testing.B) {
	for _, n := range []int{2, 8, 64} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			a, err := New(Config{Locks: map[string]int{"gpu": 1}})
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]Request, n)
			for g := range reqs {
				stage := []string{"pc2", "c2"}[g%2]
				reqs[g] = Request{Stage: stage, Owner: fmt.Sprintf("%s.%d#1", stage, g), Locks: []string{"gpu"}}
			}
			sem := semaphore.NewWeighted(1)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			arb := contend(n, b.N, func(g int) {
				l, err := a.Acquire(ctx, reqs[g])
				if err != nil {
					b.Error(err)
					return
				}
				runtime.Gosched()
				if _, err := a.Release(l.Token); err != nil {
					b.Error(err)
				}
			})
			b.StopTimer()
			sm := contend(n, b.N, func(int) {
				if err := sem.Acquire(ctx, 1); err != nil {
					b.Error(err)
					return
				}
				runtime.Gosched()
				sem.Release(1)
			})
			b.ReportMetric(float64(sm.Nanoseconds())/float64(b.N), "sem-ns/op")
			b.ReportMetric(float64(arb)/float64(sm), "ratio")
		})
	}
}

// BenchmarkScenario30Days runs the field-facts §5 scenario for 30 virtual
// days on the event-driven face: the arbiter's share of a simulation.
func BenchmarkScenario30Days(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c2 := &proc{owner: "c2.0#1", stage: "c2", locks: []string{"gpu"}, hold: 18 * time.Minute, every: 40 * time.Minute}
		w := newWorld(b, Config{Locks: map[string]int{"gpu": 1}}, false, append(pc2s(3, "gpu", 12*time.Minute), c2)...)
		w.run(30 * 24 * time.Hour)
	}
}
