package pluginclient_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// syncBuffer collects host log output written from go-plugin's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t testing.TB, level hclog.Level) (hclog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: buf, JSONFormat: true}), buf
}

// start starts a helper plugin and kills it when the test ends.
func start(t testing.TB, mode string, cfg pluginclient.Config) *pluginclient.Client {
	t.Helper()
	if cfg.Cmd == nil {
		cfg.Cmd = helperCmd(t, mode)
	}
	if cfg.Logger == nil {
		cfg.Logger, _ = testLogger(t, hclog.Info)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	c, err := pluginclient.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start(%s): %v", mode, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Kill(ctx); err != nil {
			t.Errorf("Kill: %v", err)
		}
	})
	return c
}

func sector(n uint64) *sealv1.Sector {
	return &sealv1.Sector{RegisteredSealProof: 8, MinerId: 1000, SectorNumber: n}
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartFailures(t *testing.T) {
	trueBin, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cmd     func(t *testing.T) *exec.Cmd
		timeout time.Duration
		// want are substrings of the error message.
		want []string
	}{
		{
			name: "not a plugin",
			cmd:  func(*testing.T) *exec.Cmd { return exec.Command(trueBin) },
			want: []string{`plugin "not a plugin"`, "exited without writing the go-plugin handshake", "exit status 0"},
		},
		{
			name: "garbage on stdout",
			cmd: func(t *testing.T) *exec.Cmd {
				return exec.Command(writeScript(t, "echo 'hello, I am not a plugin'\nsleep 5"))
			},
			want: []string{`plugin "garbage on stdout"`, `wrote "hello, I am not a plugin" on stdout`},
		},
		{
			name: "handshake but no server",
			cmd: func(t *testing.T) *exec.Cmd {
				return exec.Command(writeScript(t, "echo '1|1|unix|/nonexistent/plugin.sock|grpc|'\nsleep 5"))
			},
			want: []string{`plugin "handshake but no server"`, "completed the handshake but its gRPC health check failed"},
		},
		{
			name: "exits at start",
			cmd:  func(t *testing.T) *exec.Cmd { return helperCmd(t, "exit") },
			want: []string{`plugin "exits at start"`, "exit status 3", "cannot open /etc/example.conf"},
		},
		{
			name:    "hangs at start",
			cmd:     func(t *testing.T) *exec.Cmd { return helperCmd(t, "hang") },
			timeout: 2 * time.Second,
			want:    []string{`plugin "hangs at start"`, "no handshake within the start timeout of 2s", "hanging before the handshake"},
		},
		{
			name: "wrong magic cookie",
			cmd:  func(t *testing.T) *exec.Cmd { return helperCmd(t, "cookie") },
			want: []string{`plugin "wrong magic cookie"`, "wrong magic cookie", "exit status 1"},
		},
		{
			name: "missing binary",
			cmd:  func(t *testing.T) *exec.Cmd { return exec.Command(filepath.Join(t.TempDir(), "nope")) },
			want: []string{`plugin "missing binary"`, "could not be executed", "no such file"},
		},
		{
			name: "protocol v2 only",
			cmd:  func(t *testing.T) *exec.Cmd { return fakeV2Cmd(t) },
			want: []string{`plugin "protocol v2 only"`, "speaks no protocol version this host offers"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			logger, _ := testLogger(t, hclog.Info)
			begin := time.Now()
			c, err := pluginclient.Start(context.Background(), pluginclient.Config{
				Name: tt.name, Cmd: tt.cmd(t), Logger: logger, StartTimeout: timeout,
			})
			elapsed := time.Since(begin)
			if err == nil {
				_ = c.Kill(context.Background())
				t.Fatal("Start succeeded, want an error")
			}
			var se *pluginclient.StartError
			if !errors.As(err, &se) {
				t.Fatalf("error is %T, want *StartError: %v", err, err)
			}
			containsAll(t, "error", err.Error(), tt.want...)
			// Bounded by the start timeout plus the time allowed to reap.
			if elapsed > timeout+5*time.Second {
				t.Errorf("Start took %s with StartTimeout %s", elapsed, timeout)
			}
		})
	}
}

func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := pluginclient.Start(ctx, pluginclient.Config{Name: "hang", Cmd: helperCmd(t, "hang"), StartTimeout: time.Minute})
	if err == nil {
		t.Fatal("Start succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap ctx's: %v", err)
	}
	containsAll(t, "error", err.Error(), `plugin "hang"`, "start abandoned: the caller's context ended first")
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Start returned %s after ctx ended", d)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	used := helperCmd(t, "all")
	used.Stdout = os.Stdout
	for name, cfg := range map[string]pluginclient.Config{
		"nil Cmd":    {},
		"Stdout set": {Cmd: used},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := pluginclient.Start(context.Background(), cfg); err == nil {
				t.Error("Start succeeded")
			}
		})
	}
}

func TestInfoAndStages(t *testing.T) {
	c := start(t, "all", pluginclient.Config{Name: "all"})
	ctx := context.Background()

	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "all" || info.GetVersion() != "1.0.0" || info.GetProtocolVersion() != 1 || info.GetSdkVersion() != sdk.SDKVersion {
		t.Errorf("Info = %v", info)
	}
	wantStages := []sealv1.Stage{sealv1.Stage_STAGE_TREE_D, sealv1.Stage_STAGE_PC1, sealv1.Stage_STAGE_PC2, sealv1.Stage_STAGE_C1, sealv1.Stage_STAGE_C2}
	if got := info.GetStages(); len(got) != len(wantStages) {
		t.Errorf("stages = %v, want %v", got, wantStages)
	}
	if c.ProtocolVersion() != 1 || c.Pid() <= 0 {
		t.Errorf("ProtocolVersion %d, Pid %d", c.ProtocolVersion(), c.Pid())
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}

	td, err := c.TreeD(ctx, &sealv1.TreeDRequest{Sector: sector(1), StagedPath: "/s/1"})
	if err != nil || td.GetUnsealedCid() != "d:/s/1" {
		t.Errorf("TreeD = %v, %v", td, err)
	}
	pc1, err := c.PC1(ctx, &sealv1.PC1Request{Sector: sector(1), Ticket: bytes.Repeat([]byte{7}, 32), SealedPath: "/x"})
	if err != nil || len(pc1.GetPhase1Output()) != 32 {
		t.Errorf("PC1 = %v, %v", pc1, err)
	}
	pc2, err := c.PC2(ctx, &sealv1.PC2Request{Sector: sector(1), Phase1Output: []byte{0xab}, CachePath: "/c"})
	if err != nil || pc2.GetSealedCid() != "r:ab" || pc2.GetUnsealedCid() != "d:/c" {
		t.Errorf("PC2 = %v, %v", pc2, err)
	}
	c1, err := c.C1(ctx, &sealv1.C1Request{Sector: sector(1), Seed: []byte{1, 2}})
	if err != nil || !bytes.Equal(c1.GetPhase1Output(), []byte{1, 2, 1, 2}) {
		t.Errorf("C1 = %v, %v", c1, err)
	}
	c2, err := c.C2(ctx, &sealv1.C2Request{Sector: sector(1), Phase1Output: []byte("proof")})
	if err != nil || string(c2.GetProof()) != "proof" {
		t.Errorf("C2 = %v, %v", c2, err)
	}
}

func TestUnimplementedStage(t *testing.T) {
	c := start(t, "c2only", pluginclient.Config{Name: "c2only"})
	_, err := c.PC1(context.Background(), &sealv1.PC1Request{Sector: sector(1)})
	var ce *pluginclient.CallError
	if !errors.As(err, &ce) || ce.Code != codes.Unimplemented {
		t.Fatalf("PC1 on a C2-only plugin: %v", err)
	}
	containsAll(t, "error", err.Error(), `plugin "c2only" pc1`, "does not serve stage pc1", "serves c2")
	if sdk.IsRetryable(err) {
		t.Error("unimplemented stage reported retryable")
	}
}

func TestErrorPropagation(t *testing.T) {
	c := start(t, "all", pluginclient.Config{Name: "errs"})
	tests := []struct {
		sector    uint64
		code      codes.Code
		message   string
		retryable bool
	}{
		{1001, codes.Unavailable, "prover 10.0.0.1 unreachable", true},
		{1002, codes.InvalidArgument, "sector 1002: cache dir is not empty", false},
		{1003, codes.Unknown, "plain failure", false},
		{1004, codes.Unknown, `plugin "all" panicked in pc1: helper panics on purpose`, false},
	}
	for _, tt := range tests {
		t.Run(tt.message, func(t *testing.T) {
			_, err := c.PC1(context.Background(), &sealv1.PC1Request{Sector: sector(tt.sector)})
			var se *sdk.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) holds no *sdk.Error", err, err)
			}
			if se.Message != tt.message || se.Retryable != tt.retryable {
				t.Errorf("got %+v, want message %q retryable %v", *se, tt.message, tt.retryable)
			}
			var ce *pluginclient.CallError
			if errors.As(err, &ce); ce.Code != tt.code || ce.Stage != "pc1" {
				t.Errorf("code %v stage %q, want %v pc1", ce.Code, ce.Stage, tt.code)
			}
		})
	}
	// A panic fails the call, not the plugin.
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("plugin unhealthy after a panicking call: %v", err)
	}
	_, err := c.TreeD(context.Background(), &sealv1.TreeDRequest{Sector: sector(1008)})
	if err == nil || !strings.Contains(err.Error(), "returned neither a response nor an error") {
		t.Errorf("nil response: %v", err)
	}
}

func TestDeadlineReachesPlugin(t *testing.T) {
	c := start(t, "all", pluginclient.Config{Name: "deadline"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := c.PC2(ctx, &sealv1.PC2Request{Sector: sector(1000)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PC2 past its deadline: %v", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("call returned %s after a 300ms deadline", d)
	}
	// The plugin's stage saw its ctx end: it counted it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.C2(context.Background(), &sealv1.C2Request{Sector: sector(1)})
		if err != nil {
			t.Fatal(err)
		}
		if n := binary.BigEndian.Uint64(resp.GetProof()); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin's stage never saw its ctx end")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Cancellation, not only deadlines.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.PC2(ctx, &sealv1.PC2Request{Sector: sector(1000)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled PC2: %v", err)
	}
}

func TestLargeMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("moves hundreds of MiB")
	}
	c := start(t, "all", pluginclient.Config{Name: "large"})
	for _, size := range []int{64 << 20, 200 << 20} {
		in := bytes.Repeat([]byte{0x5a}, size)
		in[size-1] = 1
		resp, err := c.C2(context.Background(), &sealv1.C2Request{Sector: sector(1), Phase1Output: in})
		if err != nil {
			t.Fatalf("%d MiB each way: %v", size>>20, err)
		}
		if !bytes.Equal(resp.GetProof(), in) {
			t.Fatalf("%d MiB: response differs from request", size>>20)
		}
	}
	// Over the limit: a clear error, and the plugin lives on.
	_, err := c.C2(context.Background(), &sealv1.C2Request{Sector: sector(1), Phase1Output: make([]byte, sdk.MaxMessageSize+1)})
	if err == nil {
		t.Fatal("a message over MaxMessageSize went through")
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("plugin unhealthy after an oversized message: %v", err)
	}
}

func TestStdoutNoiseDoesNotBreakHandshake(t *testing.T) {
	logger, logs := testLogger(t, hclog.Debug)
	c := start(t, "noisy", pluginclient.Config{Name: "noisy", Logger: logger})
	resp, err := c.C2(context.Background(), &sealv1.C2Request{Sector: sector(1), Phase1Output: []byte("ok")})
	if err != nil || string(resp.GetProof()) != "ok" {
		t.Fatalf("C2 = %v, %v", resp, err)
	}
	// The noise is not lost: it is in the host's log.
	deadline := time.Now().Add(5 * time.Second)
	want := []string{"noise from fmt.Println before Serve", "noise from a raw write to fd 1 before Serve",
		"noise from a child process", "noise from a raw write to fd 1 during a call", "noise from fmt.Println during a call"}
	for {
		missing := 0
		for _, w := range want {
			if !strings.Contains(logs.String(), w) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			containsAll(t, "host log", logs.String(), want...)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPluginLogsAtTheirOwnLevel(t *testing.T) {
	logger, logs := testLogger(t, hclog.Info)
	c := start(t, "all", pluginclient.Config{Name: "logs", Logger: logger})
	if _, err := c.C1(context.Background(), &sealv1.C1Request{Sector: sector(1007)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "helper error line") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	lines := map[string]string{} // message -> level
	for _, l := range strings.Split(logs.String(), "\n") {
		for _, m := range []string{"helper trace line", "helper debug line", "helper info line", "helper warn line", "helper error line"} {
			if strings.Contains(l, `"@message":"`+m+`"`) {
				lines[m] = l
			}
		}
	}
	for msg, level := range map[string]string{"helper info line": "info", "helper warn line": "warn", "helper error line": "error"} {
		l, ok := lines[msg]
		if !ok {
			t.Errorf("%q not in the host log:\n%s", msg, logs.String())
			continue
		}
		containsAll(t, "log line", l, `"@level":"`+level+`"`, `"name":"logs"`, `"stage":"c1"`)
	}
	for _, msg := range []string{"helper trace line", "helper debug line"} {
		if _, ok := lines[msg]; ok {
			t.Errorf("%q logged by a host at level info", msg)
		}
	}
}

func TestExitDuringCall(t *testing.T) {
	c := start(t, "all", pluginclient.Config{Name: "crash"})
	_, err := c.PC1(context.Background(), &sealv1.PC1Request{Sector: sector(1005)})
	var ee *pluginclient.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("call to a dying plugin: %v (%T)", err, err)
	}
	if ee.Code != 7 || !sdk.IsRetryable(err) {
		t.Errorf("exit code %d retryable %v", ee.Code, sdk.IsRetryable(err))
	}
	containsAll(t, "error", err.Error(), `plugin "crash" pc1`, "exit status 7", "dying mid-call")
	select {
	case <-c.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("Exited not closed")
	}
	if err := c.Wait(context.Background()); !errors.As(err, &ee) || ee.Code != 7 {
		t.Errorf("Wait = %v", err)
	}
}

func TestKill(t *testing.T) {
	t.Run("graceful", func(t *testing.T) {
		c := start(t, "all", pluginclient.Config{Name: "graceful"})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Exited():
		default:
			t.Fatal("Kill returned before the process was reaped")
		}
		if err := c.ExitError(); err != nil {
			t.Errorf("graceful shutdown ended with %v", err)
		}
	})
	t.Run("hard", func(t *testing.T) {
		c := start(t, "linger", pluginclient.Config{Name: "hard"})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		begin := time.Now()
		if err := c.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("Kill took %s with a 300ms ctx", d)
		}
		var ee *pluginclient.ExitError
		if err := c.ExitError(); !errors.As(err, &ee) || !ee.Killed || !strings.Contains(ee.Status, "signal") {
			t.Errorf("ExitError = %v", err)
		}
	})
}

func TestConcurrentCalls(t *testing.T) {
	c := start(t, "all", pluginclient.Config{Name: "concurrent"})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := []byte{byte(i), 1, 2, 3}
			resp, err := c.C2(context.Background(), &sealv1.C2Request{Sector: sector(uint64(i)), Phase1Output: in})
			if err == nil && !bytes.Equal(resp.GetProof(), in) {
				err = errors.New("response crossed with another call's")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestVersionNegotiation(t *testing.T) {
	both := func() map[int]plugin.PluginSet {
		return map[int]plugin.PluginSet{
			1: {sdk.PluginName: pluginclient.StagesPlugin()},
			2: {sdk.PluginName: &v2Plugin{}},
		}
	}
	t.Run("v1 plugin, host offers v1 and v2", func(t *testing.T) {
		c := start(t, "all", pluginclient.Config{Name: "v1", Versions: both()})
		if c.ProtocolVersion() != 1 {
			t.Fatalf("negotiated %d, want 1", c.ProtocolVersion())
		}
		resp, err := c.C2(context.Background(), &sealv1.C2Request{Sector: sector(1), Phase1Output: []byte("v1")})
		if err != nil || string(resp.GetProof()) != "v1" {
			t.Errorf("C2 = %v, %v", resp, err)
		}
	})
	t.Run("v1+v2 plugin, host offers v1 and v2", func(t *testing.T) {
		c := start(t, "", pluginclient.Config{Name: "v1v2", Cmd: fakeV2Cmd(t, "-v1"), Versions: both()})
		if c.ProtocolVersion() != 2 {
			t.Fatalf("negotiated %d, want 2 (the newest both speak)", c.ProtocolVersion())
		}
		if _, err := c.Info(context.Background()); err == nil || !strings.Contains(err.Error(), "negotiated protocol version 2") {
			t.Errorf("v1 call over v2: %v", err)
		}
	})
	t.Run("v1+v2 plugin, host offers v1", func(t *testing.T) {
		c := start(t, "", pluginclient.Config{Name: "v1v2-old-host", Cmd: fakeV2Cmd(t, "-v1")})
		if c.ProtocolVersion() != 1 {
			t.Fatalf("negotiated %d, want 1", c.ProtocolVersion())
		}
		info, err := c.Info(context.Background())
		if err != nil || info.GetName() != "fakev2" || info.GetVersion() != "9.9.9" {
			t.Errorf("Info = %v, %v", info, err)
		}
	})
}

// A plugin's child holding its stdout and stderr must not hide the
// plugin's own death.
func TestExitNoticedDespiteOrphanHoldingPipes(t *testing.T) {
	c := start(t, "orphan", pluginclient.Config{Name: "orphan"})
	t.Cleanup(func() {
		for _, l := range c.StderrTail() {
			var pid int
			if _, err := fmt.Sscanf(l, "orphan child pid %d", &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	begin := time.Now()
	_, err := c.PC1(context.Background(), &sealv1.PC1Request{Sector: sector(1005)})
	var ee *pluginclient.ExitError
	if !errors.As(err, &ee) || ee.Code != 7 {
		t.Fatalf("call to a dying plugin: %v", err)
	}
	select {
	case <-c.Exited():
	default:
		t.Fatal("Exited not closed after the call reported the exit")
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("noticing the exit took %s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin = time.Now()
	if err := c.Kill(ctx); err != nil {
		t.Errorf("Kill after exit: %v", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Kill of an exited plugin took %s", d)
	}
}

// A TMPDIR too long for a unix socket path (~108 bytes) must not break
// start-up: the socket goes under /tmp instead.
func TestLongTMPDIR(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", long)
	c := start(t, "all", pluginclient.Config{Name: "long-tmpdir"})
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}

	// An explicit SocketDir is taken as given, and its failure explained.
	_, err := pluginclient.Start(context.Background(), pluginclient.Config{Name: "long-socketdir", Cmd: helperCmd(t, "all"), SocketDir: long})
	if err == nil {
		t.Fatal("Start with a socket dir too long for a unix socket succeeded")
	}
	containsAll(t, "error", err.Error(), `plugin "long-socketdir"`, "could not open its go-plugin listener", "Config.SocketDir")
}

// TestLogNamesTheRealBinary: go-plugin's own lines (start, exit) name the
// program Config.Binary says, not the wrapper Cmd runs (the host's shim is
// /proc/self/exe), and no line carries a key twice.
func TestLogNamesTheRealBinary(t *testing.T) {
	log, buf := testLogger(t, hclog.Debug)
	c := start(t, "linger", pluginclient.Config{Name: "pc1.0", Binary: "/opt/plugins/real-ffi", Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		// hclog's JSON writes a repeated key as "EXTRA_VALUE_AT_END" or
		// keeps both under one name; count the raw occurrences instead.
		if strings.Count(line, `"plugin":`) > 1 || strings.Count(line, `"name":`) > 1 {
			t.Errorf("a key twice: %s", line)
		}
		if p, ok := fields["plugin"]; ok {
			seen = true
			if p != "/opt/plugins/real-ffi" {
				t.Errorf("plugin=%v, want the real binary: %s", p, line)
			}
		}
		if n, ok := fields["name"]; ok && n != "pc1.0" {
			t.Errorf("name=%v: %s", n, line)
		}
	}
	if !seen {
		t.Fatalf("no go-plugin line named the plugin:\n%s", buf.String())
	}
}
