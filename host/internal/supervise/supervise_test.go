package supervise

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"k8s.io/utils/cpuset"

	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The test binary doubles as the confinement shim and as the plugin: real
// processes, real cgroups, real gRPC.
const pluginEnv = "SUPERVISE_TEST_PLUGIN"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == confine.ShimCommand {
		os.Exit(confine.RunShim(os.Args[2:]))
	}
	if mode := os.Getenv(pluginEnv); mode != "" {
		os.Exit(runPlugin(mode))
	}
	os.Exit(m.Run())
}

// runPlugin serves C2, whose phase1_output says what to do:
// "ok", "sleep:D" (honours ctx), "hang:D" (ignores ctx), "stop" (SIGSTOPs
// itself), "status" (returns its /proc/self/status), "retryable" (a
// retryable stage error).
func runPlugin(mode string) int {
	if mode == "crash" {
		fmt.Fprintln(os.Stderr, "test plugin crashing at start as asked")
		return 3
	}
	if file, ok := strings.CutPrefix(mode, "crash-until:"); ok {
		if _, err := os.Stat(file); err != nil {
			fmt.Fprintln(os.Stderr, "test plugin crashing at start until", file, "exists")
			return 3
		}
	}
	var inflight atomic.Int32
	sdk.Serve(sdk.Plugin{Name: "supervise-test", Version: "1", Unserved: "this test plugin only proves c2", C2: sdk.C2Func(
		func(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
			cmd, arg, _ := strings.Cut(string(req.GetPhase1Output()), ":")
			if cmd == "inflight" {
				// How many other calls' handlers are running right now.
				return &sealv1.C2Response{Proof: []byte(fmt.Sprint(inflight.Load()))}, nil
			}
			inflight.Add(1)
			defer inflight.Add(-1)
			switch cmd {
			case "sleep":
				d, _ := time.ParseDuration(arg)
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			case "hang":
				d, _ := time.ParseDuration(arg)
				time.Sleep(d)
			case "stop":
				// Freeze the whole process mid-task: it neither answers
				// this call nor its health checks.
				syscall.Kill(os.Getpid(), syscall.SIGSTOP)
				time.Sleep(time.Minute)
			case "status":
				b, err := os.ReadFile("/proc/self/status")
				return &sealv1.C2Response{Proof: b}, err
			case "retryable":
				return nil, sdk.RetryableErrorf("busy, try again")
			case "oom":
				// Touch memory until the cgroup's limit ends the process.
				var hold [][]byte
				for {
					b := make([]byte, 16<<20)
					for i := range b {
						b[i] = 1
					}
					hold = append(hold, b)
				}
			}
			return &sealv1.C2Response{Proof: []byte("proof")}, nil
		})})
	return 0
}

type exits struct {
	mu     sync.Mutex
	owners []string
}

func (e *exits) add(o string) { e.mu.Lock(); e.owners = append(e.owners, o); e.mu.Unlock() }
func (e *exits) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.owners...)
}

func newManager(t *testing.T) *confine.Manager {
	t.Helper()
	unconfined := false
	if err := confine.Available(); err != nil {
		t.Logf("cgroups unavailable (%v): running unconfined", err)
		unconfined = true
	}
	m, err := confine.NewManager(fmt.Sprintf("supervisetest-%d", os.Getpid()), hclog.NewNullLogger(), unconfined)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("closing the confinement manager: %v", err)
		}
	})
	return m
}

func startProc(t *testing.T, mode string, edit func(*Config)) (*Processor, *exits) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ex := &exits{}
	cfg := Config{
		ID:    "c2.0",
		Stage: "c2",
		Spec: confine.Spec{
			Plugin:     exe,
			CPUs:       cpuset.New(0),
			Env:        map[string]string{pluginEnv: mode},
			InheritEnv: false,
		},
		Backoff:        BackoffPolicy{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond, Stable: time.Minute, MaxFailures: 3},
		HealthInterval: 200 * time.Millisecond,
		StartTimeout:   20 * time.Second,
		OnExit:         ex.add,
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := Start(newManager(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitRunning(ctx); err != nil && !strings.HasPrefix(mode, "crash") && mode != "wrong-stage" {
		t.Fatalf("plugin did not come up: %v", err)
	}
	return p, ex
}

func c2(ctx context.Context, p *Processor, what string) ([]byte, error) {
	var out []byte
	err := p.Do(ctx, func(ctx context.Context, c *pluginclient.Client) error {
		r, err := c.C2(ctx, &sealv1.C2Request{Phase1Output: []byte(what)})
		if r != nil {
			out = r.GetProof()
		}
		return err
	})
	return out, err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTaskRunsConfined(t *testing.T) {
	p, _ := startProc(t, "ok", nil)
	out, err := c2(context.Background(), p, "status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "Cpus_allowed_list:\t0\n") {
		t.Fatalf("plugin's status does not show cpuset 0:\n%s", out)
	}
	st := p.Status()
	if st.State != Running || st.Owner != "c2.0#1" || st.Pid == 0 {
		t.Fatalf("status = %+v", st)
	}
}

func TestKilledPluginFailsTaskAndRestarts(t *testing.T) {
	p, ex := startProc(t, "ok", nil)
	first := p.Status()

	errc := make(chan error, 1)
	go func() { _, err := c2(context.Background(), p, "sleep:60s"); errc <- err }()
	waitFor(t, "the task to start", func() bool { return p.Status().InFlight == 1 })

	killed := time.Now()
	if err := syscall.Kill(first.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("the task did not fail after its plugin was killed")
	}
	if took := time.Since(killed); took > time.Second {
		t.Errorf("the task failed %s after the kill, want within 1s", took)
	}
	var died *DiedError
	if !errors.As(err, &died) || died.Owner != "c2.0#1" || !strings.Contains(err.Error(), "killed by signal") {
		t.Fatalf("err = %v, want a DiedError naming c2.0#1 and the signal", err)
	}
	waitFor(t, "the plugin to come back", func() bool {
		s := p.Status()
		return s.State == Running && s.Owner == "c2.0#2"
	})
	if got := ex.list(); len(got) != 1 || got[0] != "c2.0#1" {
		t.Fatalf("OnExit calls = %v, want [c2.0#1]", got)
	}
	if s := p.Status(); s.Restarts != 1 || !strings.Contains(s.LastError, "killed by signal") {
		t.Fatalf("status after restart = %+v", s)
	}
	if _, err := c2(context.Background(), p, "ok"); err != nil {
		t.Fatalf("the restarted plugin does not take tasks: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Run("honoured", func(t *testing.T) {
		p, _ := startProc(t, "ok", func(c *Config) { c.Timeout = 300 * time.Millisecond; c.CancelGrace = 5 * time.Second })
		start := time.Now()
		_, err := c2(context.Background(), p, "sleep:60s")
		var te *TimeoutError
		if !errors.As(err, &te) || te.Killed {
			t.Fatalf("err = %v, want a TimeoutError without kill", err)
		}
		if took := time.Since(start); took > 4*time.Second {
			t.Fatalf("a plugin honouring its deadline took %s to answer", took)
		}
		if s := p.Status(); s.Owner != "c2.0#1" || s.State != Running {
			t.Fatalf("plugin was restarted although it honoured the deadline: %+v", s)
		}
	})
	t.Run("ignored", func(t *testing.T) {
		p, ex := startProc(t, "ok", func(c *Config) { c.Timeout = 200 * time.Millisecond; c.CancelGrace = 300 * time.Millisecond })
		_, err := c2(context.Background(), p, "hang:60s")
		var te *TimeoutError
		if !errors.As(err, &te) || !te.Killed || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a TimeoutError with the plugin killed", err)
		}
		waitFor(t, "the restart", func() bool { s := p.Status(); return s.State == Running && s.Owner == "c2.0#2" })
		if got := ex.list(); len(got) != 1 {
			t.Fatalf("OnExit calls = %v", got)
		}
		if s := p.Status(); !strings.Contains(s.LastError, "ignored cancellation") {
			t.Fatalf("last error = %q", s.LastError)
		}
	})
}

func TestHungPluginIsRestarted(t *testing.T) {
	p, _ := startProc(t, "ok", func(c *Config) { c.HealthInterval = 100 * time.Millisecond; c.HealthFailures = 2 })
	_, err := c2(context.Background(), p, "stop")
	var died *DiedError
	if !errors.As(err, &died) || !strings.Contains(err.Error(), "health checks") {
		t.Fatalf("err = %v, want a DiedError about health checks", err)
	}
	waitFor(t, "the restart", func() bool { s := p.Status(); return s.State == Running && s.Owner == "c2.0#2" })
}

// TestFailedProcessorRearms: a processor failed by a crash loop tries its
// plugin again after the cool-down, says when (Status.NextTry and the
// FailedError), and the backoff continues across the re-arm: one more
// failure fails it again at once with a doubled cool-down. Once the cause
// is gone, the next re-arm brings it back. (Before, Failed was for good.)
func TestFailedProcessorRearms(t *testing.T) {
	cure := filepath.Join(t.TempDir(), "cured")
	p, _ := startProc(t, "crash-until:"+cure, func(c *Config) {
		c.Backoff = BackoffPolicy{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, Stable: time.Minute, MaxFailures: 2,
			Cooldown: 400 * time.Millisecond, CooldownMax: 10 * time.Second}
	})
	waitFor(t, "the processor to fail", func() bool { return p.Status().State == Failed })
	first := p.Status()
	if d := first.NextTry.Sub(first.Since); d < 350*time.Millisecond || d > 450*time.Millisecond {
		t.Fatalf("first failure: next try %v after failing, want the 400ms cool-down (status %+v)", d, first)
	}
	if !strings.Contains(first.LastError, "trying again after a cool-down of 400ms") {
		t.Errorf("last error = %q, want it to say when it tries again", first.LastError)
	}
	_, err := c2(context.Background(), p, "ok")
	var fe *FailedError
	if !errors.As(err, &fe) || !fe.NextTry.Equal(first.NextTry) || !strings.Contains(err.Error(), "until it tries again at") {
		t.Fatalf("Do on the failed processor: %v, want a FailedError naming the next try", err)
	}

	// The re-arm: one start, which fails, and the processor is failed
	// again with twice the cool-down, not given MaxFailures more tries.
	waitFor(t, "the second failure", func() bool { s := p.Status(); return s.State == Failed && s.Since.After(first.Since) })
	second := p.Status()
	if second.Restarts != first.Restarts+1 {
		t.Errorf("restarts %d after the re-arm, want %d (one try)", second.Restarts, first.Restarts+1)
	}
	if d := second.NextTry.Sub(second.Since); d < 750*time.Millisecond || d > 850*time.Millisecond {
		t.Errorf("second failure: next try %v after failing, want the doubled 800ms cool-down", d)
	}

	if err := os.WriteFile(cure, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitRearmed(ctx); err != nil {
		t.Fatalf("WaitRearmed: %v", err)
	}
	waitFor(t, "the re-armed plugin to run", func() bool { return p.Status().State == Running })
	if s := p.Status(); !s.NextTry.IsZero() {
		t.Errorf("running processor still names a next try: %v", s.NextTry)
	}
	if out, err := c2(ctx, p, "ok"); err != nil || string(out) != "proof" {
		t.Fatalf("c2 after the re-arm: %q, %v", out, err)
	}
}

func TestCrashLoopMarksFailed(t *testing.T) {
	p, ex := startProc(t, "crash", nil)
	waitFor(t, "the processor to fail", func() bool { return p.Status().State == Failed })
	s := p.Status()
	if !strings.Contains(s.LastError, "crash loop: 3 failures") || !strings.Contains(s.LastError, "crashing at start") {
		t.Fatalf("last error = %q, want the crash loop and the plugin's stderr", s.LastError)
	}
	_, err := c2(context.Background(), p, "ok")
	var fe *FailedError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want FailedError", err)
	}
	if got := ex.list(); len(got) != 3 {
		t.Fatalf("OnExit calls = %v, want 3", got)
	}
}

func TestStopLeavesNothing(t *testing.T) {
	p, _ := startProc(t, "ok", nil)
	pid := p.Status().Pid
	cg := p.Status().Cgroup
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("plugin pid %d still alive after Stop", pid)
	}
	if cg != "" {
		if _, err := os.Stat(cg); !os.IsNotExist(err) {
			t.Fatalf("cgroup %s still there after Stop (err %v)", cg, err)
		}
	}
	if _, err := c2(context.Background(), p, "ok"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Do after Stop = %v, want ErrStopped", err)
	}
}

// TestRestartChecksDigest: a plugin binary replaced on disk after the
// processor started is refused at the next restart, not run unverified.
func TestRestartChecksDigest(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "plugin")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	p, _ := startProc(t, "ok", func(c *Config) {
		c.Spec.Plugin = bin
		c.Spec.SHA256 = hex.EncodeToString(sum[:])
	})
	// Replace the file (a new inode, as an upgrade would), then kill the
	// running plugin so the supervisor restarts it.
	if err := os.WriteFile(bin+".new", append(data, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Status().Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the processor to give up", func() bool { return p.Status().State == Failed })
	if s := p.Status(); !strings.Contains(s.LastError, "sha256") {
		t.Fatalf("last error = %q, want the digest mismatch", s.LastError)
	}
}

// TestWrongStageFailsAtOnce: a plugin that does not serve its processor's
// stage is a config mistake no restart mends; the processor fails at start
// with the plugin's own reason, without a crash loop.
func TestWrongStageFailsAtOnce(t *testing.T) {
	p, ex := startProc(t, "wrong-stage", func(c *Config) { c.ID, c.Stage = "pc1.0", "pc1" })
	waitFor(t, "the processor to fail", func() bool { return p.Status().State == Failed })
	s := p.Status()
	want := "plugin supervise-test does not serve stage pc1 (it serves c2); give processor pc1.0 a plugin that does, or remove it: this test plugin only proves c2"
	if s.LastError != want || s.Restarts != 0 {
		t.Fatalf("status = %+v\nwant last error %q and no restart", s, want)
	}
	if got := ex.list(); len(got) != 1 || got[0] != "pc1.0#1" {
		t.Fatalf("OnExit calls = %v, want [pc1.0#1]", got)
	}
}

// TestRetryableAnswerIsNotADeath: a plugin's own retryable answer (gRPC
// Unavailable, like a dying connection) is returned as it is, without
// waiting for a death that never comes. deathWait is set to an hour so that
// the old wait cannot pass unnoticed.
func TestRetryableAnswerIsNotADeath(t *testing.T) {
	old := deathWait
	deathWait = time.Hour
	t.Cleanup(func() { deathWait = old })
	p, _ := startProc(t, "ok", nil)
	errc := make(chan error, 1)
	go func() { _, err := c2(context.Background(), p, "retryable"); errc <- err }()
	select {
	case err := <-errc:
		if err == nil || !sdk.IsRetryable(err) || !strings.Contains(err.Error(), "busy, try again") {
			t.Fatalf("err = %v, want the plugin's retryable answer", err)
		}
		var died *DiedError
		if errors.As(err, &died) {
			t.Fatalf("err = %v: a DiedError for a plugin that answered", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the call waited for the plugin to die after its own retryable answer")
	}
}

// TestOOMKillNamed: a plugin the kernel's OOM killer ends in its cgroup
// fails its task with the limit and the peak named, not a bare signal.
func TestOOMKillNamed(t *testing.T) {
	if err := confine.Available(); err != nil {
		t.Skipf("needs cgroups for a memory limit: %v", err)
	}
	p, _ := startProc(t, "ok", func(c *Config) { c.Spec.MemoryLimit = 96 << 20 })
	_, err := c2(context.Background(), p, "oom")
	var oom *OOMError
	if !errors.As(err, &oom) || !strings.Contains(err.Error(), "killed by the kernel's OOM killer at memory_limit 96 MiB (peak ") {
		t.Fatalf("err = %v, want it to name the OOM killer and the 96 MiB limit", err)
	}
	if oom.Peak < 64<<20 {
		t.Errorf("peak %d bytes, want near the 96 MiB limit", oom.Peak)
	}
	waitFor(t, "the plugin to come back", func() bool {
		return p.Status().State == Running && strings.Contains(p.Status().LastError, "OOM killer")
	})
}

// TestCancelledCallHoldsUntilItEnds: after the caller cancels, Do returns
// only once the plugin's handler has returned (the slot and locks it stands
// for stay taken while the work goes on); a handler that ignores the
// cancellation past the grace gets its plugin killed. Before the fix Do
// returned at the cancel, with the handler still running.
func TestCancelledCallHoldsUntilItEnds(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		grace      time.Duration
		killed     bool
	}{
		{"handler ends within the grace", "hang:800ms", 5 * time.Second, false},
		{"handler ignores the grace", "hang:60s", 300 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := startProc(t, "ok", func(c *Config) { c.CancelGrace = tc.grace })
			owner := p.Status().Owner
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { _, err := c2(ctx, p, tc.mode); done <- err }()
			waitFor(t, "the call to start", func() bool { return p.Status().InFlight == 1 })
			time.Sleep(100 * time.Millisecond)
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Do did not return after the cancel")
			}
			if tc.killed {
				waitFor(t, "the killed plugin to be restarted", func() bool { s := p.Status(); return s.State == Running && s.Owner != owner })
			} else if s := p.Status(); s.Owner != owner {
				t.Fatalf("plugin restarted (%s → %s) though its handler ended within the grace", owner, s.Owner)
			}
			out, err := c2(context.Background(), p, "inflight")
			if err != nil || string(out) != "0" {
				t.Fatalf("after Do returned the plugin still runs %s handler(s) (%v)", out, err)
			}
		})
	}
}
