package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
)

// TestChaos sends 1000 no-op tasks from concurrent submitters through mock
// plugins that crash at random (taking every task in flight on them down).
// Failed attempts are retried, as a sealing manager would. The client's
// and the host's books must agree exactly: every attempt got one answer,
// every task succeeded once, nothing is running, waiting or holding a lock
// at the end; after shutdown no cgroup and no plugin process is left.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos takes ~30 s")
	}
	const (
		tasks      = 1000
		submitters = 24
	)
	h := startHost(t, "-duration 0s -crash-rate 0.02", `
lock "gpu0" {
  capacity = 1
}
processor "c2" {
  plugin     = "mock"
  concurrent = 3
  locks      = ["gpu0"]
}
processor "c2" {
  plugin     = "mock"
  concurrent = 3
  locks      = ["gpu0"]
}
processor "c2" {
  plugin     = "mock"
  concurrent = 3
}
`, hostOptions{metrics: true, opts: func(o *Options) {
		// Twenty restarts' warnings would bury the test's own output.
		o.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Error, Output: testWriter{t}})
	}})
	in := inputs(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()

	var (
		next                 atomic.Int64
		ok, failed, attempts atomic.Int64
		mu                   sync.Mutex
		bad                  []string
	)
	var wg sync.WaitGroup
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > tasks {
					return
				}
				for try := 1; ; try++ {
					attempts.Add(1)
					_, err := h.c.C2(ctx, in.C2)
					if err == nil {
						ok.Add(1)
						break
					}
					failed.Add(1)
					te := taskErr(t, err)
					if te.Code != codes.Aborted || !te.Err.Retryable || try == 50 || ctx.Err() != nil {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("task %d attempt %d: %v (code %v)", n, try, err, te.Code))
						mu.Unlock()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, b := range bad {
		t.Error(b)
	}
	if len(bad) > 0 {
		t.FailNow()
	}

	st := h.status(t)
	s := stage(st, "c2")
	restarts := int32(0)
	var procDone, procFailed int64
	for _, p := range st.GetProcessors() {
		restarts += p.GetRestarts()
		procDone += p.GetDone()
		procFailed += p.GetFailed()
	}
	t.Logf("%d tasks in %s: %d attempts, %d failed by crashes, %d plugin restarts", tasks, took.Round(time.Millisecond), attempts.Load(), failed.Load(), restarts)
	if ok.Load() != tasks {
		t.Errorf("%d tasks succeeded, want %d", ok.Load(), tasks)
	}
	if s.GetDone() != tasks || procDone != tasks {
		t.Errorf("host counts %d done (processors: %d), client %d: an answer was lost or doubled", s.GetDone(), procDone, tasks)
	}
	if s.GetFailed() != failed.Load() || procFailed != failed.Load() {
		t.Errorf("host counts %d failed (processors: %d), client saw %d", s.GetFailed(), procFailed, failed.Load())
	}
	if failed.Load() == 0 || restarts == 0 {
		t.Errorf("no crash happened (%d failures, %d restarts): the test tested nothing", failed.Load(), restarts)
	}
	if s.GetRunning() != 0 || s.GetWaiting() != 0 || len(st.GetRunning()) != 0 {
		t.Errorf("after every answer: %d running, %d waiting", s.GetRunning(), s.GetWaiting())
	}
	// The arbiter itself, not just the host's view of it.
	for name, ls := range h.arb.Stats().Locks {
		if ls.Held != 0 || ls.Waiting != 0 {
			t.Errorf("lock %s: %d units held, %d requests waiting after every task ended: leaked", name, ls.Held, ls.Waiting)
		}
	}
	if r, w := h.disp.Stats("c2"); r != 0 || w != 0 {
		t.Errorf("dispatcher: %d running, %d waiting after every task ended", r, w)
	}

	// The metrics keep the same books.
	text := scrape(t, h)
	for _, want := range []string{
		`sealhost_tasks_waiting{stage="c2"} 0`,
		`sealhost_tasks_running{stage="c2"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if got := sumMetric(text, "sealhost_tasks_finished_total"); got != tasks {
		t.Errorf("metrics: %v tasks finished, want %d", got, tasks)
	}
	if got := sumMetric(text, "sealhost_tasks_failed_total"); got != float64(failed.Load()) {
		t.Errorf("metrics: %v tasks failed, client saw %d", got, failed.Load())
	}
	if got := sumMetric(text, "sealhost_tasks_started_total"); got != float64(attempts.Load()) {
		t.Errorf("metrics: %v tasks started, client made %d attempts", got, attempts.Load())
	}
	if got := sumMetric(text, "sealhost_plugin_restarts_total"); got != float64(restarts) {
		t.Errorf("metrics: %v restarts, status says %d", got, restarts)
	}

	var cgroups []string
	for _, p := range st.GetProcessors() {
		cgroups = append(cgroups, p.GetCgroup())
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := h.Shutdown(sctx, time.Second); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, cg := range cgroups {
		if cg == "" {
			continue
		}
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s left after Shutdown", cg)
		}
	}
	if pids := mockProcesses(); len(pids) > 0 {
		t.Errorf("plugin processes alive after Shutdown: %v", pids)
	}
	if took > 60*time.Second {
		t.Errorf("chaos took %s, want under a minute", took)
	}
}
