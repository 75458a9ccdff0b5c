package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// These tests run the real host: real plugin processes (plugins/mock,
// built once by TestMain), started through the confinement shim (this
// test binary, like the host binary, serves ShimCommand) into real
// cgroups when this process may create them, over a real unix socket.

// testInstance prefixes every instance these tests start, so the final
// check finds our leftovers and nobody else's.
// testInstance prefixes the test hosts' instance names; the pid keeps two
// test binaries on one machine (a developer's and CI's) from taking each
// other's instance lock.
var testInstance = fmt.Sprintf("daemontest%d", os.Getpid())

var (
	mockBin  string // the built plugins/mock
	binDir   string // a world-readable folder holding mockBin and a copy of this binary
	selfCopy string // this test binary, executable by other users
	cgroupOK error  // why cgroups cannot be used here, or nil
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == confine.ShimCommand {
		os.Exit(confine.RunShim(os.Args[2:]))
	}
	if len(os.Args) > 2 && os.Args[1] == "dial" {
		os.Exit(dialHelper(os.Args[2]))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	binDir, err = os.MkdirTemp("", "daemontest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	os.Chmod(binDir, 0o755)
	mockBin = filepath.Join(binDir, "mock")
	if out, err := exec.Command("go", "build", "-o", mockBin, "github.com/sealhost/sealhost/plugins/mock").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building plugins/mock: %v\n%s", err, out)
		return 1
	}
	self, _ := os.Executable()
	selfCopy = filepath.Join(binDir, "daemon.test")
	if b, err := os.ReadFile(self); err == nil {
		os.WriteFile(selfCopy, b, 0o755)
	}
	cgroupOK = confine.Available()
	code := m.Run()
	if left := leftoverCgroups(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: cgroups left behind: %v\n", left)
		code = 1
	}
	if left := mockProcesses(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: plugin processes left behind: %v\n", left)
		code = 1
	}
	return code
}

// dialHelper connects to a socket and reports how it went in its exit
// status: 0 connected, 3 permission denied, 4 anything else.
func dialHelper(path string) int {
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return 0
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return 3
	}
	fmt.Fprintln(os.Stderr, err)
	return 4
}

// leftoverCgroups lists cgroup directories of test instances whose host
// (this process) is gone or is us.
func leftoverCgroups() []string {
	root, err := manager.New(&cgroups.Cgroup{Path: confine.Root, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return nil
	}
	var left []string
	for _, dir := range root.GetPaths() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), testInstance) && strings.Contains(e.Name(), fmt.Sprintf("@%d.", os.Getpid())) {
				left = append(left, filepath.Join(dir, e.Name()))
			}
		}
	}
	return left
}

// mockProcesses lists live processes running our mock binary.
func mockProcesses() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && exe == mockBin {
			st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			// A zombie is dead already; its parent just has not reaped it.
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && strings.HasPrefix(string(st[i:]), ") Z") {
				continue
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

var instanceSeq atomic.Int64

// testHost is a host started for a test, with a client on its socket.
type testHost struct {
	*Host
	c      *client.Client
	dir    string
	cfgSrc string
}

// hostOptions tune startHost.
type hostOptions struct {
	grace   time.Duration
	metrics bool
	group   string
	opts    func(*Options)
	// noWait returns without waiting for the plugins to run.
	noWait bool
}

// startHost writes body (HCL without the plugin block; the plugin is
// "mock" with mockArgs) to a config file, starts a host on it and waits
// until every plugin runs. Confined when cgroups can be made here, else
// unconfined (the tests that need cgroups skip themselves).
func startHost(t testing.TB, mockArgs, body string, ho hostOptions) *testHost {
	t.Helper()
	dir := t.TempDir()
	args := ""
	for i, a := range strings.Fields(mockArgs) {
		if i > 0 {
			args += ", "
		}
		args += fmt.Sprintf("%q", a)
	}
	src := fmt.Sprintf("sector_size = \"2KiB\"\nplugin \"mock\" {\n  path = %q\n  args = [%s]\n}\n%s", mockBin, args, body)
	file := filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(file)
	if diags.HasErrors() {
		t.Fatalf("test config: %v\n%s", diags, src)
	}
	// t.TempDir is too long for a socket path in deep test names.
	sockDir, err := os.MkdirTemp("", "dt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	opts := Options{
		Config:      cfg,
		Instance:    fmt.Sprintf("%s-%d", testInstance, instanceSeq.Add(1)),
		Socket:      filepath.Join(sockDir, "h.sock"),
		SocketGroup: ho.group,
		Unconfined:  cgroupOK != nil,
		Logger:      hclog.New(&hclog.LoggerOptions{Name: "host", Level: testLogLevel(), Output: testWriter{t}}),
		Backoff:     fastBackoff,
		CancelGrace: time.Second,
	}
	if ho.metrics {
		opts.MetricsAddr = "127.0.0.1:0"
	}
	if ho.opts != nil {
		ho.opts(&opts)
	}
	h, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	grace := ho.grace
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx, grace); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	if !ho.noWait {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.WaitRunning(ctx); err != nil {
			t.Fatalf("plugins did not start: %v", err)
		}
	}
	c, err := client.Dial(h.Socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testHost{Host: h, c: c, dir: dir, cfgSrc: src}
}

// fastBackoff restarts plugins at once and never gives up, so fault tests
// see the plugin back quickly.
var fastBackoff = supervise.BackoffPolicy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Stable: 10 * time.Millisecond, MaxFailures: 1000}

// testWriter sends the host's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// inputs lays out a fresh 2 KiB sector for the mock plugin.
func inputs(t testing.TB, n int) *plugintest.Inputs {
	t.Helper()
	dir := filepath.Join(t.TempDir(), fmt.Sprint(n))
	in, err := plugintest.DefaultInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	in.TreeD.Sector.SectorNumber = uint64(n)
	in.PC1.Sector.SectorNumber = uint64(n)
	in.PC2.Sector.SectorNumber = uint64(n)
	in.C1.Sector.SectorNumber = uint64(n)
	in.C2.Sector.SectorNumber = uint64(n)
	return in
}

// status fetches the host's status through the socket.
func (h *testHost) status(t testing.TB) *taskv1.StatusResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := h.c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return st
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func needCgroups(t *testing.T) {
	if cgroupOK != nil {
		t.Skipf("needs cgroups: %v", cgroupOK)
	}
}

// testLogLevel is the host's log level in tests: warnings, or
// DAEMONTEST_LOG=debug for more.
func testLogLevel() hclog.Level {
	if l := hclog.LevelFromString(os.Getenv("DAEMONTEST_LOG")); l != hclog.NoLevel {
		return l
	}
	return hclog.Warn
}
