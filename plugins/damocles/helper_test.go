package main

import (
	"context"
	"encoding/json"
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

	"github.com/sealhost/sealhost/internal/damocles"
)

var (
	buildMu  sync.Mutex
	buildDir string
	builtBin = map[string]error{}
)

var buildPkgs = map[string]string{
	"damocles": ".",
	"fakeproc": "./testdata/fakeproc",
	"mock":     "../mock",
	"host":     "../../host",
}

// built returns the path of a binary built once per test run: this
// plugin ("damocles"), ./testdata/fakeproc ("fakeproc"), plugins/mock
// ("mock") or the host ("host"). The host is built only when asked for.
func built(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "damocles-test")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	out := filepath.Join(buildDir, name)
	err, done := builtBin[name]
	if !done {
		pkg, ok := buildPkgs[name]
		if !ok {
			t.Fatalf("no binary %q to build", name)
		}
		if b, berr := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build %s: %v\n%s", pkg, berr, b)
		}
		builtBin[name] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testLogger sends the bridge's log to t.Log.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "damocles", Level: hclog.Debug, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fakeSpec is a childSpec running fakeproc for stage with knobs in env.
func fakeSpec(t testing.TB, stage string, env ...string) childSpec {
	return childSpec{
		Stage: stage, Bin: built(t, "fakeproc"), Args: []string{"processor", stage},
		Env:        append([]string{"PATH=" + os.Getenv("PATH")}, env...),
		StableWait: 10 * time.Second, Log: testLogger(t),
	}
}

// fatalRecorder collects what the bridge gives up with.
type fatalRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (f *fatalRecorder) fatal(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

func (f *fatalRecorder) get() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// startBridge starts a bridge over spec and stops it when t ends.
func startBridge(t *testing.T, spec childSpec, grace time.Duration) (*bridge, *fatalRecorder) {
	t.Helper()
	rec := &fatalRecorder{}
	b, err := newBridge(spec, grace, rec.fatal)
	if err != nil {
		t.Fatalf("newBridge: %v", err)
	}
	t.Cleanup(func() { b.close(2 * time.Second) })
	return b, rec
}

// pc2Task is a pc2 task whose output's comm_d is tag's: answers can be
// told apart. Its cache_dir holds marker, for FAKEPROC_DELAY_FOR.
func pc2Task(t testing.TB, tag byte, marker string) json.RawMessage {
	t.Helper()
	dir := filepath.Join(t.TempDir(), marker)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(dir, "sealed")
	if err := os.WriteFile(sealed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var d damocles.Bytes32
	d[0] = tag
	pc1out, err := json.Marshal(map[string]any{"registered_proof": "StackedDrg2KiBV1_1", "comm_d": d})
	if err != nil {
		t.Fatal(err)
	}
	task, err := json.Marshal(damocles.PC2Task{PC1Out: pc1out, CacheDir: dir, SealedFile: sealed})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// commDOf reads the tag back from a pc2 output.
func commDOf(t testing.TB, out json.RawMessage) byte {
	t.Helper()
	var o damocles.PC2Output
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("pc2 output %s: %v", out, err)
	}
	return o.CommD[0]
}

func callTimeout(t testing.TB, b *bridge, task json.RawMessage, d time.Duration) (json.RawMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return b.call(ctx, task)
}

// alive reports whether pid still runs (and is not a zombie).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z'
	}
	return true
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *bridge) currentPid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil {
		return 0
	}
	return b.cur.pid
}

func (b *bridge) spawnCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spawns
}
