package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk"
)

// TestStart: the ready line is awaited within stable_wait, and every way
// of not giving it is an error that says which and quotes what the
// processor said.
func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        []string
		bin        string
		stableWait time.Duration
		want       []string // substrings of the error; none: starts
	}{
		{name: "ready"},
		{name: "ready after a while", env: []string{"FAKEPROC_READY_DELAY=300ms"}},
		{name: "unexpected first line", env: []string{"FAKEPROC_FIRST_LINE=pc1 processor ready"},
			want: []string{"unexpected first line", `"pc1 processor ready"`, `want "pc2 processor ready"`, "FAKE"}},
		{name: "blank first line", env: []string{"FAKEPROC_FIRST_LINE="}, want: []string{"unexpected first line", `""`}},
		{name: "too slow", env: []string{"FAKEPROC_READY_DELAY=5s"}, stableWait: 300 * time.Millisecond,
			want: []string{`did not print "pc2 processor ready" within 300ms`, "-stable-wait", "FAKE"}},
		{name: "exits first", env: []string{"FAKEPROC_DELAY=x"},
			want: []string{"ended before its ready line", "exit status 2", "FAKEPROC_DELAY"}},
		{name: "no such binary", bin: "/nonexistent/damocles-pc2", want: []string{"starting damocles pc2 processor /nonexistent/damocles-pc2", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fakeSpec(t, "pc2", tc.env...)
			if tc.bin != "" {
				spec.Bin = tc.bin
			}
			if tc.stableWait > 0 {
				spec.StableWait = tc.stableWait
			}
			start := time.Now()
			c, err := spawn(spec)
			took := time.Since(start)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("spawn: %v", err)
				}
				c.stop(2 * time.Second)
				return
			}
			if err == nil {
				c.stop(time.Second)
				t.Fatalf("spawn succeeded, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			if took > spec.StableWait+3*time.Second {
				t.Errorf("took %v, want about stable_wait %v at most", took, spec.StableWait)
			}
		})
	}
}

// TestOutOfOrder: answers that come back newest first reach their own
// callers.
func TestOutOfOrder(t *testing.T) {
	const n = 8
	b, _ := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_BATCH=8"), time.Second)
	var wg sync.WaitGroup
	got := make([]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			out, err := callTimeout(t, b, pc2Task(t, byte(i+1), "s"), 30*time.Second)
			if errs[i] = err; err == nil {
				got[i] = commDOf(t, out)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != byte(i+1) {
			t.Errorf("call %d: comm_d tag %d, error %v; want its own answer (tag %d)", i, got[i], errs[i], i+1)
		}
	}
	if id := b.ids.Load(); id != n {
		t.Errorf("last id %d, want %d (one per call, from 1)", id, n)
	}
}

// TestGarbage: lines that answer nobody (not JSON, no id, ids in flight
// nowhere, cut short) are skipped and the calls still get their answers;
// a line cut short that names a call in flight fails that call, which
// then does not hang.
func TestGarbage(t *testing.T) {
	t.Run("noise", func(t *testing.T) {
		b, _ := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_GARBAGE=1"), time.Second)
		for i := range 3 {
			out, err := callTimeout(t, b, pc2Task(t, byte(i+7), "s"), 30*time.Second)
			if err != nil || commDOf(t, out) != byte(i+7) {
				t.Fatalf("call %d: %v, want its answer despite the noise", i, err)
			}
		}
		if b.spawnCount() != 1 {
			t.Errorf("%d children started, want 1: noise is no reason to respawn", b.spawnCount())
		}
	})
	t.Run("cut short", func(t *testing.T) {
		b, _ := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_CUT=1"), time.Second)
		_, err := callTimeout(t, b, pc2Task(t, 1, "s"), 30*time.Second)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, "request 1 with a line that is no response") {
			t.Fatalf("got %v, want a non-retryable error naming request 1's unusable line", err)
		}
	})
	t.Run("err_msg", func(t *testing.T) {
		b, _ := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_ERR=no GPU left"), time.Second)
		_, err := callTimeout(t, b, pc2Task(t, 1, "s"), 30*time.Second)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, "no GPU left") || !strings.Contains(se.Message, "damocles pc2 processor") {
			t.Fatalf("got %v, want the processor's err_msg, not retryable, naming the processor", err)
		}
	})
}

// TestCrash: a child dying mid-call fails every call it held as
// retryable, with its exit status and its last stderr lines; the next
// child takes the next calls, and ids keep growing.
func TestCrash(t *testing.T) {
	// Each child crashes on its third request; the first two are slow,
	// so all three are in flight together.
	b, rec := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_CRASH_AT=3", "FAKEPROC_DELAY=20s", "FAKEPROC_DELAY_FOR=slow"), time.Second)
	first := b.currentPid()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = callTimeout(t, b, pc2Task(t, 1, "slow"), 30*time.Second) })
	}
	waitFor(t, "two calls in flight", 10*time.Second, func() bool { return b.cur.inFlight() == 2 })
	start := time.Now()
	_, errs[2] = callTimeout(t, b, pc2Task(t, 1, "fast"), 30*time.Second)
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("calls failed %v after the crash, want at once", d)
	}
	for i, err := range errs {
		var se *sdk.Error
		if !errors.As(err, &se) || !se.Retryable {
			t.Fatalf("call %d: %v, want a retryable error", i, err)
		}
		for _, w := range []string{"damocles pc2 processor", "exited: exit status 3", "crashing on request 3", "FAKE"} {
			if !strings.Contains(se.Message, w) {
				t.Errorf("call %d: %q does not say %q", i, se.Message, w)
			}
		}
	}
	waitFor(t, "a new child", 10*time.Second, func() bool { p := b.currentPid(); return p != 0 && p != first })
	if alive(first) {
		t.Errorf("the crashed child %d still runs", first)
	}
	out, err := callTimeout(t, b, pc2Task(t, 5, "fast"), 30*time.Second)
	if err != nil || commDOf(t, out) != 5 {
		t.Fatalf("call after the respawn: %v", err)
	}
	if id := b.ids.Load(); id != 4 {
		t.Errorf("last id %d, want 4: ids keep growing across respawns", id)
	}
	if errs := rec.get(); len(errs) > 0 {
		t.Errorf("the bridge gave up: %v", errs)
	}
}

// TestGiveUp: a child that cannot be started again, or dies over and
// over, ends the plugin (fatal) instead of being respawned for ever; the
// host's restart backoff takes over.
func TestGiveUp(t *testing.T) {
	t.Run("respawn fails", func(t *testing.T) {
		once := filepath.Join(t.TempDir(), "started")
		b, rec := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_ONCE="+once, "FAKEPROC_CRASH_AT=1"), time.Second)
		_, err := callTimeout(t, b, pc2Task(t, 1, "s"), 30*time.Second)
		if !sdk.IsRetryable(err) {
			t.Fatalf("call: %v, want retryable", err)
		}
		waitFor(t, "the bridge gives up", 10*time.Second, func() bool { return len(rec.get()) == 1 })
		if msg := rec.get()[0].Error(); !strings.Contains(msg, "respawning damocles pc2 processor") || !strings.Contains(msg, "started before (FAKEPROC_ONCE)") {
			t.Errorf("gave up with %q, want the respawn's reason", msg)
		}
		_, err = callTimeout(t, b, pc2Task(t, 1, "s"), 5*time.Second)
		if !sdk.IsRetryable(err) || !strings.Contains(err.Error(), "respawning") {
			t.Errorf("call after giving up: %v, want the reason, retryable", err)
		}
	})
	t.Run("crash loop", func(t *testing.T) {
		b, rec := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_CRASH_AT=1"), time.Second)
		for i := 0; len(rec.get()) == 0; i++ {
			if i > maxDeaths+1 {
				t.Fatalf("%d deaths and the bridge has not given up", i)
			}
			if _, err := callTimeout(t, b, pc2Task(t, 1, "s"), 30*time.Second); !sdk.IsRetryable(err) {
				t.Fatalf("call %d: %v, want retryable", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if msg := rec.get()[0].Error(); !strings.Contains(msg, "died 6 times within 1m0s") {
			t.Errorf("gave up with %q", msg)
		}
	})
}

// TestCancel: damocles cannot cancel one request, so a cancelled call
// returns only once its work has stopped: alone, it kills the child at
// once; sharing the child, it waits the grace for its answer, then kills
// the child and the others fail retryably; answered within the grace, the
// child lives on.
func TestCancel(t *testing.T) {
	t.Run("alone", func(t *testing.T) {
		b, _ := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_DELAY=1h", "FAKEPROC_DELAY_FOR=slow"), 5*time.Second)
		pid := b.currentPid()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		_, err := b.call(ctx, pc2Task(t, 1, "slow"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("returned after %v, want soon after the cancel (no grace when alone)", d)
		}
		if alive(pid) {
			t.Errorf("child %d still runs after the call returned", pid)
		}
		out, err := callTimeout(t, b, pc2Task(t, 2, "fast"), 30*time.Second)
		if err != nil || commDOf(t, out) != 2 {
			t.Fatalf("next call: %v", err)
		}
	})
	t.Run("shared, past the grace", func(t *testing.T) {
		const grace = 500 * time.Millisecond
		b, rec := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_DELAY=1h", "FAKEPROC_DELAY_FOR=slow"), grace)
		pid := b.currentPid()
		other := make(chan error, 1)
		go func() { _, err := callTimeout(t, b, pc2Task(t, 1, "slow"), time.Minute); other <- err }()
		waitFor(t, "one call in flight", 10*time.Second, func() bool { return b.cur.inFlight() == 1 })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := b.call(ctx, pc2Task(t, 2, "slow"))
		took := time.Since(start)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if took < 200*time.Millisecond+grace || took > 200*time.Millisecond+grace+3*time.Second {
			t.Errorf("returned after %v, want about the cancel (200ms) plus the grace (%v)", took, grace)
		}
		if alive(pid) {
			t.Errorf("child %d still runs", pid)
		}
		err = <-other
		var se *sdk.Error
		if !errors.As(err, &se) || !se.Retryable || !strings.Contains(se.Message, "to stop request 2, whose call was cancelled") {
			t.Errorf("the other call: %v, want retryable, naming the cancelled request", err)
		}
		waitFor(t, "a new child", 10*time.Second, func() bool { p := b.currentPid(); return p != 0 && p != pid })
		if len(rec.get()) > 0 {
			t.Errorf("the bridge gave up: %v", rec.get())
		}
	})
	t.Run("shared, answered within the grace", func(t *testing.T) {
		b, _ := startBridge(t, fakeSpec(t, "pc2", "FAKEPROC_DELAY=700ms", "FAKEPROC_DELAY_FOR=slow"), 10*time.Second)
		pid := b.currentPid()
		other := make(chan error, 1)
		go func() { _, err := callTimeout(t, b, pc2Task(t, 1, "slow"), time.Minute); other <- err }()
		waitFor(t, "one call in flight", 10*time.Second, func() bool { return b.cur.inFlight() == 1 })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := b.call(ctx, pc2Task(t, 2, "slow"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if d := time.Since(start); d < 600*time.Millisecond || d > 5*time.Second {
			t.Errorf("returned after %v, want when its answer came (about 700ms)", d)
		}
		if err := <-other; err != nil {
			t.Errorf("the other call: %v, want its answer", err)
		}
		if b.currentPid() != pid || !alive(pid) || b.spawnCount() != 1 {
			t.Errorf("the child was replaced (pid %d -> %d, %d starts); want it kept", pid, b.currentPid(), b.spawnCount())
		}
	})
}

// TestStop: closing the bridge ends the child through stdin EOF, and
// kills one that ignores it after the grace.
func TestStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		max  time.Duration
	}{
		{"eof", nil, 2 * time.Second},
		{"busy", []string{"FAKEPROC_DELAY=1h"}, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := newBridge(fakeSpec(t, "pc2", tc.env...), time.Second, func(error) {})
			if err != nil {
				t.Fatal(err)
			}
			pid := b.currentPid()
			if tc.env != nil {
				go b.call(context.Background(), pc2Task(t, 1, "s"))
				waitFor(t, "a call in flight", 10*time.Second, func() bool { return b.cur.inFlight() == 1 })
			}
			start := time.Now()
			b.close(time.Second)
			if d := time.Since(start); d > tc.max || alive(pid) {
				t.Errorf("close took %v (child alive: %v), want it gone within %v", d, alive(pid), tc.max)
			}
			if _, err := callTimeout(t, b, pc2Task(t, 1, "s"), time.Second); err == nil || !strings.Contains(err.Error(), "stopping") {
				t.Errorf("call after close: %v, want a refusal", err)
			}
		})
	}
}

func TestChildEnv(t *testing.T) {
	var ignored []string
	got := childEnv([]string{
		"PATH=/bin", "VC_CG_NAME=x/sub-pc2", "VC_CG_CPUSET=0-3", "VENUS_WORKER_NUMA_PREFERRED=1",
		"PLUGIN_CLIENT_CERT=---", "PLUGIN_MIN_PORT=1", sdk.MagicCookieKey + "=c", sdk.LogLevelEnv + "=info",
		"CUDA_VISIBLE_DEVICES=0", "TMPDIR=/tmp/p", "PLUGIN_OF_MINE=kept",
	}, func(k string) { ignored = append(ignored, k) })
	want := []string{"PATH=/bin", "CUDA_VISIBLE_DEVICES=0", "TMPDIR=/tmp/p", "PLUGIN_OF_MINE=kept"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("child env %q, want %q", got, want)
	}
	if strings.Join(ignored, " ") != "VC_CG_NAME VC_CG_CPUSET VENUS_WORKER_NUMA_PREFERRED" {
		t.Errorf("logged as ignored: %q", ignored)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // error substring; "" is fine
		bin  string
		rest []string
	}{
		{args: []string{"-stage", "pc2", "--", "/opt/pc2", "processor", "pc2"}, bin: "/opt/pc2", rest: []string{"processor", "pc2"}},
		{args: []string{"-stage", "c2", "-stable-wait", "30s", "/opt/c2"}, bin: "/opt/c2", rest: []string{}},
		{args: []string{"--", "/opt/pc2"}, want: "-stage is missing"},
		{args: []string{"-stage", "c1", "--", "/opt/pc2"}, want: "damocles runs c1 inside the worker"},
		{args: []string{"-stage", "pc2"}, want: `no processor binary: give it after "--"`},
		{args: []string{"-stage", "pc2", "-stable-wait", "0s", "--", "x"}, want: "-stable-wait 0s: want at least 1ms"},
		{args: []string{"-stage", "pc2", "-cancel-grace", "soon", "--", "x"}, want: "invalid value"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out strings.Builder
			o, err := parseOptions(tc.args, &out)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error()+out.String(), tc.want) {
					t.Fatalf("got %v (%s), want an error saying %q", err, out.String(), tc.want)
				}
				return
			}
			if err != nil || o.Bin != tc.bin || strings.Join(o.Args, " ") != strings.Join(tc.rest, " ") {
				t.Fatalf("got %+v, %v; want bin %q args %q", o, err, tc.bin, tc.rest)
			}
		})
	}
}
