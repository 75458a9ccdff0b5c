package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sealhost/sealhost/host/internal/statusview"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/client"
)

// TestCancelledTaskShownCancelling: a task whose caller gave up while its
// plugin call goes on (the mock's hang ignores cancellation, as an
// in-process filecoin-ffi call does) keeps its slot and lock, and status
// shows it as cancelling, in the task list, the lock's holders and the
// text view, until the plugin is killed after the cancel grace. Before,
// status showed it as plain running and no one could tell why the lock
// was busy with no caller left.
func TestCancelledTaskShownCancelling(t *testing.T) {
	h := startHost(t, "", `
lock "gpu0" {
  capacity = 1
}
processor "c2" {
  plugin = "mock"
  locks  = ["gpu0"]
  env    = { MOCK_HANG = "c2" }
}
`, hostOptions{opts: func(o *Options) { o.CancelGrace = 3 * time.Second }})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.c.C2(ctx, inputs(t, 1).C2)
		errc <- err
	}()
	waitFor(t, 10*time.Second, "the c2 task to run", func() bool { return len(h.status(t).GetRunning()) == 1 })
	if c := h.status(t).GetRunning()[0].GetCancellingSinceUnixNano(); c != 0 {
		t.Fatalf("a task no one cancelled is cancelling since %d", c)
	}
	// The host counts a task running once it sends the call; the plugin's
	// handler begins a moment later. A call cancelled before its handler
	// began never starts (the sdk refuses it) and ends at once, which is
	// not the case under test: let the handler begin its hang first.
	time.Sleep(time.Second)
	cancelled := time.Now()
	cancel()
	if err := <-errc; err == nil || taskErr(t, err).Code != codes.Canceled {
		t.Fatalf("cancelled call: %v, want Canceled", err)
	}

	// The host hears of the cancel a moment after the client returned.
	waitFor(t, 2*time.Second, "the task to show as cancelling", func() bool {
		r := h.status(t).GetRunning()
		return len(r) != 1 || r[0].GetCancellingSinceUnixNano() != 0
	})
	st := h.status(t)
	if len(st.GetRunning()) != 1 {
		t.Fatalf("running tasks after the cancel: %v, want the one still in the plugin", st.GetRunning())
	}
	since := time.Unix(0, st.GetRunning()[0].GetCancellingSinceUnixNano())
	if since.Before(cancelled.Add(-time.Second)) || since.After(time.Now()) {
		t.Errorf("cancelling since %v, want about %v", since, cancelled)
	}
	if hs := st.GetLocks()[0].GetHolders(); len(hs) != 1 || !hs[0].GetCancelling() {
		t.Errorf("gpu0 holders %v, want the cancelling task", hs)
	}
	var text bytes.Buffer
	statusview.Write(&text, st)
	for _, want := range []string{"cancelling for ", "on c2.0 (cancelling)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("host status text lacks %q:\n%s", want, text.String())
		}
	}

	// The grace ends with the plugin killed: the task and the lock go.
	waitFor(t, 15*time.Second, "the cancelled call to end", func() bool { return len(h.status(t).GetRunning()) == 0 })
	if took := time.Since(cancelled); took < 2*time.Second {
		t.Errorf("the cancelled task ended %v after the cancel, before the 3s grace", took)
	}
	if hs := h.status(t).GetLocks()[0].GetHolders(); len(hs) != 0 {
		t.Errorf("gpu0 still held: %v", hs)
	}
}

// TestFailedProcessorRearms: a processor failed by a crash loop (here a
// plugin that fails at start until a file exists) re-arms after its
// cool-down: status says when (next_try in -json and text), calls are
// refused saying it tries again, and once the cause is gone the
// processor is back in the dispatcher and serves. Before, failed was for
// good and only a host restart helped.
func TestFailedProcessorRearms(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	cure := filepath.Join(dir, "cured")
	flaky := filepath.Join(dir, "flaky")
	script := fmt.Sprintf("#!/bin/sh\n[ -e %q ] || { echo 'flaky: not cured yet' >&2; exit 3; }\nexec %q \"$@\"\n", cure, mockBin)
	if err := os.WriteFile(flaky, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := startHost(t, "", fmt.Sprintf(`
plugin "flaky" {
  path = %q
}
processor "c2" {
  plugin = "flaky"
}
`, flaky), hostOptions{noWait: true, opts: func(o *Options) {
		o.Backoff = supervise.BackoffPolicy{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond, Stable: time.Minute, MaxFailures: 2,
			Cooldown: 1500 * time.Millisecond, CooldownMax: 3 * time.Second}
	}})
	waitFor(t, 20*time.Second, "c2.0 to fail", func() bool { return processor(h.status(t), "c2.0").GetState() == "failed" })
	st := h.status(t)
	p := processor(st, "c2.0")
	if next := time.Unix(0, p.GetNextTryUnixNano()); p.GetNextTryUnixNano() == 0 || next.Before(time.Now().Add(-time.Second)) {
		t.Fatalf("failed c2.0: next try %v, want a time in the cool-down", p.GetNextTryUnixNano())
	}
	js, err := protojson.Marshal(st)
	if err != nil || !strings.Contains(string(js), `"nextTryUnixNano"`) {
		t.Errorf("host status -json lacks nextTryUnixNano: %s %v", js, err)
	}
	var text bytes.Buffer
	statusview.Write(&text, st)
	if !strings.Contains(text.String(), "failed, next try in ") {
		t.Errorf("host status text does not say when c2.0 tries again:\n%s", text.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.c.C2(ctx, inputs(t, 1).C2); err == nil || taskErr(t, err).Code != codes.FailedPrecondition || !strings.Contains(err.Error(), "until one tries again") {
		t.Fatalf("c2 on the failed processor: %v, want FailedPrecondition saying it tries again", err)
	}

	if err := os.WriteFile(cure, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "c2.0 to re-arm and run", func() bool { return processor(h.status(t), "c2.0").GetState() == "running" })
	if _, err := h.c.C2(ctx, inputs(t, 2).C2); err != nil {
		t.Fatalf("c2 after the re-arm: %v", err)
	}
	if p := processor(h.status(t), "c2.0"); p.GetNextTryUnixNano() != 0 || p.GetDone() != 1 {
		t.Errorf("re-armed c2.0: next try %d, done %d; want none and 1", p.GetNextTryUnixNano(), p.GetDone())
	}
}

// TestTeardownAnswersShuttingDown: while the host tears down (the task API
// has stopped, plugins are being stopped), a client that connects anew is
// told the host is shutting down (Unavailable, retryable) instead of
// finding no socket. Before, gRPC's stop closed the listener, which
// unlinked the socket at once: "no such file or directory".
func TestTeardownAnswersShuttingDown(t *testing.T) {
	inTeardown, release := make(chan struct{}), make(chan struct{})
	h := startHost(t, "", `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{opts: func(o *Options) {
		o.beforeStop = func() { close(inTeardown); <-release }
	}})
	done := make(chan error, 1)
	go func() { done <- h.Shutdown(context.Background(), 0) }()
	<-inTeardown
	c, err := client.Dial(h.Socket())
	if err != nil {
		t.Fatalf("dialling during the teardown: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.C2(ctx, inputs(t, 1).C2)
	if err == nil || taskErr(t, err).Code != codes.Unavailable || !sdk.IsRetryable(err) || !strings.Contains(err.Error(), "is shutting down") {
		t.Errorf("a task during the teardown: %v, want Unavailable, retryable, shutting down", err)
	}
	if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "is shutting down") {
		t.Errorf("status during the teardown: %v, want shutting down", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := os.Lstat(h.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Shutdown: %v, want it gone", err)
	}
}

// TestShutdownCountsCancelledTasks: a drain whose grace ended by cancelling
// running tasks says how many (host run exits 1 for it); a drain that let
// everything finish says none.
func TestShutdownCountsCancelledTasks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		duration string
		want     int
	}{
		{"grace cut a task", "20s", 1},
		{"everything finished", "0s", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHost(t, "-duration "+tc.duration, `
processor "c2" {
  plugin = "mock"
}
`, hostOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errc := make(chan error, 1)
			go func() { _, err := h.c.C2(ctx, inputs(t, 1).C2); errc <- err }()
			waitFor(t, 10*time.Second, "the task to start", func() bool { s := stage(h.status(t), "c2"); return int64(s.GetRunning())+s.GetDone() == 1 })
			if tc.want == 0 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Shutdown(ctx, 200*time.Millisecond); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if got := h.CancelledAtShutdown(); got != tc.want {
				t.Errorf("CancelledAtShutdown = %d, want %d", got, tc.want)
			}
		})
	}
}
