package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk/client"
)

// pipelineConfig has a processor for every stage, two pc1 processors under
// a stage limit, and one lock shared by pc2 and c2.
const pipelineConfig = `
limits {
  pc1 = 3
}
lock "gpu0" {
  capacity = 1
}
processor "tree_d" {
  plugin = "mock"
  cpuset = "0"
  concurrent = 2
}
processor "pc1" {
  plugin = "mock"
  cpuset = "1"
  concurrent = 2
}
processor "pc1" {
  plugin = "mock"
  cpuset = "0"
  concurrent = 2
}
processor "pc2" {
  plugin = "mock"
  cpuset = "1"
  locks = ["gpu0"]
}
processor "c1" {
  plugin = "mock"
  cpuset = "0"
  concurrent = 2
}
processor "c2" {
  plugin = "mock"
  cpuset = "1"
  locks = ["gpu0"]
}
`

// sealSector pushes one sector through the five stages and returns the
// reports of its calls.
func sealSector(ctx context.Context, c *client.Client, t *testing.T, n int) ([]client.Report, error) {
	in := inputs(t, n)
	reps := make([]client.Report, 5)
	td, err := c.TreeD(ctx, in.TreeD, client.WithReport(&reps[0]))
	if err != nil {
		return reps, err
	}
	in.PC1.Pieces = in.TreeD.Pieces
	pc1, err := c.PC1(ctx, in.PC1, client.WithReport(&reps[1]))
	if err != nil {
		return reps, err
	}
	in.PC2.Phase1Output = pc1.GetPhase1Output()
	pc2, err := c.PC2(ctx, in.PC2, client.WithReport(&reps[2]))
	if err != nil {
		return reps, err
	}
	if pc2.GetUnsealedCid() != td.GetUnsealedCid() {
		return reps, fmt.Errorf("sector %d: pc2 comm_d %s differs from tree_d's %s", n, pc2.GetUnsealedCid(), td.GetUnsealedCid())
	}
	in.C1.SealedCid, in.C1.UnsealedCid = pc2.GetSealedCid(), pc2.GetUnsealedCid()
	c1, err := c.C1(ctx, in.C1, client.WithReport(&reps[3]))
	if err != nil {
		return reps, err
	}
	in.C2.Phase1Output = c1.GetPhase1Output()
	c2, err := c.C2(ctx, in.C2, client.WithReport(&reps[4]))
	if err != nil {
		return reps, err
	}
	if len(c2.GetProof()) != 192 {
		return reps, fmt.Errorf("sector %d: proof of %d bytes, want 192", n, len(c2.GetProof()))
	}
	return reps, nil
}

// TestSealThroughSocket seals sectors from concurrent submitters through
// the socket while a watcher checks, from status, that the lock, the stage
// limit and every processor's concurrency are never exceeded; every task
// gets one answer and the counts add up.
func TestSealThroughSocket(t *testing.T) {
	h := startHost(t, "-duration tree_d=50ms,pc1=300ms,pc2=150ms,c1=50ms,c2=150ms", pipelineConfig, hostOptions{metrics: true})
	const sectors = 8

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watchCtx, stopWatch := context.WithCancel(ctx)
	var violations []string
	var sawLockHeld, sawPC1Both bool
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watchCtx.Err() == nil {
			st, err := h.c.Status(watchCtx)
			if err != nil {
				continue
			}
			for _, l := range st.GetLocks() {
				if len(l.GetHolders()) > int(l.GetCapacity()) {
					violations = append(violations, fmt.Sprintf("lock %s held %d times, capacity %d", l.GetName(), len(l.GetHolders()), l.GetCapacity()))
				}
				if len(l.GetHolders()) > 0 {
					sawLockHeld = true
				}
			}
			for _, s := range st.GetStages() {
				if s.GetLimit() > 0 && s.GetRunning() > s.GetLimit() {
					violations = append(violations, fmt.Sprintf("stage %v runs %d, limit %d", s.GetStage(), s.GetRunning(), s.GetLimit()))
				}
			}
			pc1Busy := 0
			for _, p := range st.GetProcessors() {
				if p.GetRunning() > p.GetConcurrent() {
					violations = append(violations, fmt.Sprintf("processor %s runs %d, concurrent %d", p.GetId(), p.GetRunning(), p.GetConcurrent()))
				}
				if strings.HasPrefix(p.GetId(), "pc1.") && p.GetRunning() > 0 {
					pc1Busy++
				}
			}
			if pc1Busy == 2 {
				sawPC1Both = true
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	errs := make([]error, sectors)
	reports := make([][]client.Report, sectors)
	for i := range sectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = sealSector(ctx, h.c, t, i+1)
		}()
	}
	wg.Wait()
	stopWatch()
	<-watched
	for i, err := range errs {
		if err != nil {
			t.Errorf("sector %d: %v", i+1, err)
		}
	}
	for _, v := range violations {
		t.Error(v)
	}
	if !sawLockHeld {
		t.Error("the watcher never saw gpu0 held: it did not watch anything")
	}
	if !sawPC1Both {
		t.Error("both pc1 processors never ran at once: the second was not used")
	}
	used := map[string]int{}
	for _, reps := range reports {
		for _, r := range reps {
			used[r.Processor]++
			if r.Task == 0 || r.Ran <= 0 {
				t.Errorf("report %+v: missing task id or run time", r)
			}
		}
	}
	if used["pc1.0"] == 0 || used["pc1.1"] == 0 {
		t.Errorf("pc1 tasks per processor: %v; want both used", used)
	}

	st := h.status(t)
	for _, s := range st.GetStages() {
		if s.GetDone() != sectors || s.GetFailed() != 0 || s.GetRunning() != 0 || s.GetWaiting() != 0 {
			t.Errorf("stage %v: done %d failed %d running %d waiting %d; want %d done, nothing else", s.GetStage(), s.GetDone(), s.GetFailed(), s.GetRunning(), s.GetWaiting(), sectors)
		}
	}
	if len(st.GetStages()) != 5 {
		t.Errorf("status has %d stages, want 5", len(st.GetStages()))
	}
	for _, l := range st.GetLocks() {
		if len(l.GetHolders()) != 0 || len(l.GetWaiters()) != 0 {
			t.Errorf("lock %s still held or waited for after every task ended: %v", l.GetName(), l)
		}
		if l.GetShare()["pc2"] == 0 || l.GetShare()["c2"] == 0 {
			t.Errorf("lock %s shares %v: want both pc2 and c2", l.GetName(), l.GetShare())
		}
	}
	for _, p := range st.GetProcessors() {
		if p.GetState() != "running" || p.GetRestarts() != 0 || p.GetPid() == 0 {
			t.Errorf("processor %s: %s, %d restarts, pid %d", p.GetId(), p.GetState(), p.GetRestarts(), p.GetPid())
		}
		if cgroupOK == nil && (!p.GetConfined() || p.GetCgroup() == "") {
			t.Errorf("processor %s is not confined: cgroup %q", p.GetId(), p.GetCgroup())
		}
	}

	// The metrics agree with the status.
	text := scrape(t, h)
	for _, want := range []string{
		`sealhost_tasks_finished_total{processor="c2.0",stage="c2"} 8`,
		`sealhost_tasks_started_total{processor="pc2.0",stage="pc2"} 8`,
		`sealhost_lock_wait_seconds_count{stage="c2"} 8`,
		`sealhost_lock_hold_seconds_count{stage="pc2"} 8`,
		`sealhost_task_duration_seconds_count{processor="tree_d.0",stage="tree_d"} 8`,
		`sealhost_tasks_waiting{stage="pc1"} 0`,
		`sealhost_tasks_running{stage="pc1"} 0`,
		`sealhost_processor_state{processor="c1.0",state="running"} 1`,
		`sealhost_plugin_restarts_total{processor="c1.0"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(text, "sealhost_"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestLargePayload sends a 200 MiB request (c2) and gets a 200 MiB
// response (pc1, padded by the mock) through the socket and the plugin
// connection.
func TestLargePayload(t *testing.T) {
	h := startHost(t, "-duration 0s -output-size 200MiB", `
processor "pc1" {
  plugin = "mock"
}
processor "c2" {
  plugin = "mock"
}
`, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := inputs(t, 1)
	pc1, err := h.c.PC1(ctx, in.PC1)
	if err != nil {
		t.Fatalf("PC1 with a 200 MiB answer: %v", err)
	}
	if n := len(pc1.GetPhase1Output()); n < 200<<20 {
		t.Fatalf("PC1 output of %d bytes, want 200 MiB", n)
	}
	in.C2.Phase1Output = pc1.GetPhase1Output()
	c2, err := h.c.C2(ctx, in.C2)
	if err != nil {
		t.Fatalf("C2 with a 200 MiB request: %v", err)
	}
	if len(c2.GetProof()) != 192 {
		t.Fatalf("proof of %d bytes", len(c2.GetProof()))
	}
}

// scrape returns the host's /metrics page.
func scrape(t testing.TB, h *testHost) string {
	t.Helper()
	resp, err := http.Get("http://" + h.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// sumMetric adds the values of every sample of the metric name.
func sumMetric(text, name string) float64 {
	var sum float64
	for _, l := range strings.Split(text, "\n") {
		n := strings.IndexAny(l, "{ ")
		if n < 0 || l[:n] != name {
			continue
		}
		var v float64
		fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
		sum += v
	}
	return sum
}
