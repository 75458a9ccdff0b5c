package daemon

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

func processor(st *taskv1.StatusResponse, id string) *taskv1.Processor {
	for _, p := range st.GetProcessors() {
		if p.GetId() == id {
			return p
		}
	}
	return nil
}

func stage(st *taskv1.StatusResponse, name string) *taskv1.StageStatus {
	for _, s := range st.GetStages() {
		if s.GetStage() == StageProto(config.Stage(name)) {
			return s
		}
	}
	return &taskv1.StageStatus{}
}

func taskErr(t *testing.T, err error) *client.TaskError {
	t.Helper()
	var te *client.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *client.TaskError", err, err)
	}
	return te
}

// TestPluginKilledMidTask kills -9 a plugin while its task holds a lock
// another stage waits for: the task fails at once with an error that says
// the plugin died, the lock goes to the waiter, a task on another processor
// is unaffected, and the plugin comes back and takes tasks again.
func TestPluginKilledMidTask(t *testing.T) {
	h := startHost(t, "-duration 200ms", `
lock "gpu0" {
  capacity = 1
}
processor "c2" {
  plugin = "mock"
  locks = ["gpu0"]
  env = { MOCK_C2_DURATION = "3s" }
}
processor "pc2" {
  plugin = "mock"
  locks = ["gpu0"]
}
processor "c1" {
  plugin = "mock"
  env = { MOCK_C1_DURATION = "2s" }
}
`, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := inputs(t, 1)

	c2Err := make(chan error, 1)
	go func() { _, err := h.c.C2(ctx, in.C2); c2Err <- err }()
	waitFor(t, 10*time.Second, "the c2 task to hold gpu0", func() bool {
		st := h.status(t)
		return len(st.GetLocks()[0].GetHolders()) == 1 && len(st.GetRunning()) == 1
	})
	pc2Err := make(chan error, 1)
	go func() { _, err := h.c.PC2(ctx, in.PC2); pc2Err <- err }()
	c1Err := make(chan error, 1)
	go func() { _, err := h.c.C1(ctx, in.C1); c1Err <- err }()
	waitFor(t, 10*time.Second, "pc2 waiting for gpu0 and c1 running", func() bool {
		st := h.status(t)
		return stage(st, "pc2").GetWaiting() == 1 && stage(st, "c1").GetRunning() == 1
	})
	if l := h.status(t).GetLocks()[0]; len(l.GetWaiters()) != 1 || l.GetWaiters()[0].GetStage() != StageProto("pc2") || l.GetHolders()[0].GetProcessor() != "c2.0" {
		t.Errorf("gpu0 in status: %v; want held by c2.0, pc2 waiting", l)
	}

	victim := processor(h.status(t), "c2.0")
	killed := time.Now()
	if err := syscall.Kill(int(victim.GetPid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c2Err:
		if d := time.Since(killed); d > 1500*time.Millisecond {
			t.Errorf("the task learnt of the plugin's death after %s, want within a second or so", d)
		}
		te := taskErr(t, err)
		if te.Code != codes.Aborted || !strings.Contains(err.Error(), "died") || !strings.Contains(err.Error(), "killed") || !sdk.IsRetryable(err) {
			t.Errorf("c2 error: code %v, %v; want Aborted, retryable, saying the plugin died of a kill", te.Code, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the c2 task did not fail after its plugin was killed")
	}
	select {
	case err := <-pc2Err:
		if err != nil {
			t.Errorf("pc2, waiting for the dead task's lock: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pc2 never got gpu0: the dead task's lock was not freed")
	}
	if err := <-c1Err; err != nil {
		t.Errorf("c1 on another processor was affected: %v", err)
	}

	waitFor(t, 20*time.Second, "c2.0 back with a new plugin", func() bool {
		p := processor(h.status(t), "c2.0")
		return p.GetState() == "running" && p.GetRestarts() == 1 && p.GetPid() != victim.GetPid() && p.GetPid() != 0
	})
	if _, err := h.c.C2(ctx, in.C2); err != nil {
		t.Errorf("c2 after the restart: %v", err)
	}
	st := h.status(t)
	if s := stage(st, "c2"); s.GetDone() != 1 || s.GetFailed() != 1 {
		t.Errorf("c2 counts: done %d failed %d, want 1 and 1", s.GetDone(), s.GetFailed())
	}
	if p := processor(st, "c2.0"); !strings.Contains(p.GetLastError(), "killed") {
		t.Errorf("c2.0 last error %q does not say it was killed", p.GetLastError())
	}
	if l := st.GetLocks()[0]; len(l.GetHolders()) != 0 {
		t.Errorf("gpu0 still held: %v", l.GetHolders())
	}
}

// TestHungPluginTimesOut: a plugin that ignores cancellation hits the
// processor's timeout; the task fails saying so, its lock is freed, and
// the plugin is killed and restarted.
func TestHungPluginTimesOut(t *testing.T) {
	h := startHost(t, "-duration 0s", `
lock "gpu0" {
  capacity = 1
}
processor "c2" {
  plugin  = "mock"
  locks   = ["gpu0"]
  timeout = "1s"
  env     = { MOCK_HANG = "c2" }
}
`, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := inputs(t, 1)
	start := time.Now()
	_, err := h.c.C2(ctx, in.C2)
	took := time.Since(start)
	if err == nil {
		t.Fatal("a hung c2 task succeeded")
	}
	te := taskErr(t, err)
	if te.Code != codes.DeadlineExceeded || !strings.Contains(err.Error(), "timeout of 1s") || !strings.Contains(err.Error(), "killed") {
		t.Errorf("error: code %v, %v; want DeadlineExceeded naming the 1s timeout and the kill", te.Code, err)
	}
	// 1 s timeout + 1 s cancel grace (startHost), with room for a busy box.
	if took < time.Second || took > 5*time.Second {
		t.Errorf("the hung task took %s to fail, want about 2s", took)
	}
	waitFor(t, 20*time.Second, "the hung plugin to be restarted", func() bool {
		p := processor(h.status(t), "c2.0")
		return p.GetRestarts() >= 1 && p.GetState() == "running"
	})
	st := h.status(t)
	if l := st.GetLocks()[0]; len(l.GetHolders()) != 0 {
		t.Errorf("gpu0 still held after the timeout: %v", l.GetHolders())
	}
}

// TestDisconnectWhileWaiting: callers that give up while waiting (a
// cancelled context, a closed connection) free their place, so the next
// caller starts as soon as the processor is free and the abandoned tasks
// never run.
func TestDisconnectWhileWaiting(t *testing.T) {
	h := startHost(t, "-duration 1500ms", `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := inputs(t, 1)

	first := make(chan error, 1)
	go func() { _, err := h.c.C2(ctx, in.C2); first <- err }()
	waitFor(t, 10*time.Second, "the first task to run", func() bool { return stage(h.status(t), "c2").GetRunning() == 1 })

	// One waiter cancels its context; another closes its connection.
	cctx, ccancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() { _, err := h.c.C2(cctx, in.C2); cancelled <- err }()
	other, err := client.Dial(h.Socket())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { _, err := other.C2(ctx, in.C2); closed <- err }()
	waitFor(t, 10*time.Second, "two waiters", func() bool { return stage(h.status(t), "c2").GetWaiting() == 2 })
	ccancel()
	other.Close()
	if err := <-cancelled; taskErr(t, err).Code != codes.Canceled {
		t.Errorf("cancelled waiter: %v, want Canceled", err)
	}
	<-closed
	waitFor(t, 5*time.Second, "the waiters' places to be freed", func() bool { return stage(h.status(t), "c2").GetWaiting() == 0 })

	third := make(chan error, 1)
	go func() { _, err := h.c.C2(ctx, in.C2); third <- err }()
	if err := <-first; err != nil {
		t.Fatalf("first task: %v", err)
	}
	firstDone := time.Now()
	if err := <-third; err != nil {
		t.Fatalf("third task: %v", err)
	}
	// The third task runs right after the first (1.5 s). Had an abandoned
	// waiter kept its place, its run would have come between (1.5 s more).
	if d := time.Since(firstDone); d > 2700*time.Millisecond {
		t.Errorf("the third task ended %s after the first: an abandoned waiter ran in between", d)
	}
	if s := stage(h.status(t), "c2"); s.GetDone() != 2 || s.GetFailed() != 0 {
		t.Errorf("c2 done %d failed %d; want 2 and 0 (abandoned waits never run)", s.GetDone(), s.GetFailed())
	}
}

// TestShutdownDrains: a running task finishes within the grace period, a
// waiting one is refused (retryable), and afterwards no plugin process,
// cgroup or socket is left.
func TestShutdownDrains(t *testing.T) {
	h := startHost(t, "-duration 1500ms", `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{grace: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := inputs(t, 1)
	running := make(chan error, 1)
	go func() { _, err := h.c.C2(ctx, in.C2); running <- err }()
	waiting := make(chan error, 1)
	waitFor(t, 10*time.Second, "a running task", func() bool { return stage(h.status(t), "c2").GetRunning() == 1 })
	go func() { _, err := h.c.C2(ctx, in.C2); waiting <- err }()
	waitFor(t, 10*time.Second, "a waiting task", func() bool { return stage(h.status(t), "c2").GetWaiting() == 1 })
	pid := processor(h.status(t), "c2.0").GetPid()
	cg := processor(h.status(t), "c2.0").GetCgroup()

	if err := h.Shutdown(ctx, 10*time.Second); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-running; err != nil {
		t.Errorf("the running task did not finish in the grace period: %v", err)
	}
	err := <-waiting
	if te := taskErr(t, err); te.Code != codes.Unavailable || !sdk.IsRetryable(err) || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("waiting task: %v (code %v), want Unavailable, retryable, shutting down", err, te.Code)
	}
	if syscall.Kill(int(pid), 0) == nil {
		t.Errorf("plugin pid %d still alive after Shutdown", pid)
	}
	if cg != "" {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s left after Shutdown", cg)
		}
	}
	if _, err := os.Stat(h.Socket()); err == nil {
		t.Errorf("socket %s left after Shutdown", h.Socket())
	}
	if _, err := h.c.C2(ctx, in.C2); err == nil || taskErr(t, err).Code != codes.Unavailable {
		t.Errorf("a task after Shutdown: %v, want Unavailable", err)
	}
}

// TestShutdownGraceExpires: a task longer than the grace period is
// cancelled and told why.
func TestShutdownGraceExpires(t *testing.T) {
	h := startHost(t, "-duration 20s", `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := inputs(t, 1)
	running := make(chan error, 1)
	go func() { _, err := h.c.C2(ctx, in.C2); running <- err }()
	waitFor(t, 10*time.Second, "a running task", func() bool { return stage(h.status(t), "c2").GetRunning() == 1 })
	start := time.Now()
	if err := h.Shutdown(ctx, 300*time.Millisecond); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Shutdown took %s with a 300ms grace", d)
	}
	err := <-running
	if err == nil || taskErr(t, err).Code != codes.Unavailable || !strings.Contains(err.Error(), "grace") {
		t.Errorf("task cut by the grace period: %v, want Unavailable naming the grace period", err)
	}
}

// TestSocketNotReachableByOthers: another user (nobody) cannot connect to
// the socket; with -socket-group, a member of that group can.
func TestSocketNotReachableByOthers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a helper as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	dialAs := func(path string) int {
		cmd := exec.Command(selfCopy, "dial", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ee.ExitCode() == 4 {
				t.Logf("helper: %s", out)
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("running the helper as nobody: %v", err)
		}
		return 0
	}
	for _, tc := range []struct {
		name  string
		group string
		mode  os.FileMode
		want  int
	}{
		{"owner only", "", 0o600, 3},
		{"group", nobody.Gid, 0o660, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHost(t, "", `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{group: tc.group})
			// The folder is open to all, so only the socket's own mode
			// can keep nobody out.
			os.Chmod(filepath.Dir(h.Socket()), 0o755)
			fi, err := os.Stat(h.Socket())
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.mode {
				t.Errorf("socket mode %v, want %v", fi.Mode().Perm(), tc.mode)
			}
			if got := dialAs(h.Socket()); got != tc.want {
				t.Errorf("nobody connecting: helper status %d, want %d (0 connected, 3 permission denied)", got, tc.want)
			}
		})
	}
}

// TestSecondHostRefused: a host whose socket is taken by a live host
// refuses to start and leaves the first alone.
func TestSecondHostRefused(t *testing.T) {
	h := startHost(t, "", `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{})
	_, err := Start(Options{Config: h.cfg, Instance: testInstance + "-second", Socket: h.Socket(), Unconfined: cgroupOK != nil})
	if err == nil || !strings.Contains(err.Error(), "another host is listening") {
		t.Fatalf("second host on the same socket: %v", err)
	}
	if _, err := h.c.Status(context.Background()); err != nil {
		t.Fatalf("the first host stopped answering: %v", err)
	}
}

// TestUnknownStage: a stage no processor serves is refused at once, not
// left waiting.
func TestUnknownStage(t *testing.T) {
	h := startHost(t, "", `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.c.PC1(ctx, inputs(t, 1).PC1)
	if err == nil || taskErr(t, err).Code != codes.Unimplemented || !strings.Contains(err.Error(), "no processor") {
		t.Fatalf("pc1 on a host without pc1 processors: %v", err)
	}
}

// TestCrashLoop: a plugin that cannot start is restarted with backoff,
// then its processor is marked failed with the reason; tasks of its stage
// are refused (also those already waiting) while the rest of the host
// keeps working.
func TestCrashLoop(t *testing.T) {
	h := startHost(t, "-duration 0s", `
processor "c2" {
  plugin = "mock"
  env    = { MOCK_C2_DURATION = "not-a-duration" }
}
processor "c1" {
  plugin = "mock"
}
`, hostOptions{noWait: true, opts: func(o *Options) {
		o.Backoff = supervise.BackoffPolicy{Initial: 200 * time.Millisecond, Max: time.Second, Stable: time.Minute, MaxFailures: 3}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := inputs(t, 1)
	_, err := h.c.C2(ctx, in.C2)
	if err == nil || taskErr(t, err).Code != codes.FailedPrecondition || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("c2 on a crash-looping processor: %v, want FailedPrecondition", err)
	}
	p := processor(h.status(t), "c2.0")
	if p.GetState() != "failed" || !strings.Contains(p.GetLastError(), "crash loop") || !strings.Contains(p.GetLastError(), "MOCK_C2_DURATION") {
		t.Errorf("c2.0: state %s, last error %q; want failed, naming the crash loop and the bad variable", p.GetState(), p.GetLastError())
	}
	if _, err := h.c.C1(ctx, in.C1); err != nil {
		t.Errorf("c1 on a healthy processor: %v", err)
	}
}

// TestLostProcessorRequeues: tasks handed to a processor whose plugin then
// fails to start never reached a plugin, so they go back to waiting and
// run on the healthy processor instead of failing or holding the dead
// one's slot.
func TestLostProcessorRequeues(t *testing.T) {
	h := startHost(t, "-duration 100ms", `
processor "c2" {
  plugin     = "mock"
  concurrent = 2
  env        = { MOCK_C2_DURATION = "not-a-duration" }
}
processor "c2" {
  plugin     = "mock"
  concurrent = 2
}
`, hostOptions{noWait: true, opts: func(o *Options) {
		o.Backoff = supervise.BackoffPolicy{Initial: 300 * time.Millisecond, Max: time.Second, Stable: time.Minute, MaxFailures: 100}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := inputs(t, 1)
	const n = 6
	errs := make(chan error, n)
	procs := make(chan string, n)
	for range n {
		go func() {
			var rep client.Report
			_, err := h.c.C2(ctx, in.C2, client.WithReport(&rep))
			procs <- rep.Processor
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("task: %v", err)
		}
		if p := <-procs; p != "c2.1" {
			t.Errorf("task ran on %q, want c2.1 (c2.0 never starts)", p)
		}
	}
	if p := processor(h.status(t), "c2.0"); p.GetDone()+p.GetFailed() != 0 {
		t.Errorf("c2.0 counted %d done, %d failed: tasks it never ran", p.GetDone(), p.GetFailed())
	}
}
