package plugintest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Config describes the plugin under test and how to exercise it.
type Config struct {
	// Binary is the path of the built plugin. When empty, Build is called.
	Binary string
	// Build returns the path of the built plugin, e.g.
	//
	//	Build: func(t testing.TB) string { return plugintest.Build(t, ".") }
	Build func(t testing.TB) string
	// Args are the plugin's arguments (a plugin block's args).
	Args []string
	// Env is added to the plugin's environment, which otherwise holds only
	// PATH, HOME and TMPDIR: the host builds a plugin's whole environment.
	Env []string

	// Name and Version, when set, must be what Info reports.
	Name, Version string
	// Stages are the stages the plugin declares it serves; Info must list
	// exactly these, each must answer a valid request, and the others must
	// answer UNIMPLEMENTED.
	Stages []sealv1.Stage

	// Inputs returns valid requests laid out in dir, a fresh folder for
	// each use. Nil means DefaultInputs.
	Inputs func(dir string) (*Inputs, error)

	// SlowEnv, added to Env, makes every call take longer than the
	// cancellation check waits (say a minute), so that check can see the
	// plugin stop. Without it the check still runs but a fast plugin
	// passes it by finishing first. The mock: MOCK_DURATION=1h.
	SlowEnv []string
	// FailEnv, added to Env, makes calls fail with a retryable error, for
	// the retry-flag check; without it that check is skipped. The mock:
	// MOCK_FAIL_RATE=1.
	FailEnv []string
	// LargeOutputEnv, added to Env, makes PC1 and C1 outputs at least 64
	// MiB, for the response-size check; without it that check is skipped.
	// The mock: MOCK_OUTPUT_SIZE=64MiB.
	LargeOutputEnv []string
	// StdoutNoiseEnv, added to Env, makes the plugin write to fd 1 at
	// start-up and during calls, as native libraries do; the plugin must
	// still work. Without it that check is skipped. The mock:
	// MOCK_STDOUT_NOISE=1.
	StdoutNoiseEnv []string

	// CancelBound is how soon after cancellation a call must have returned
	// and the plugin stopped working: no process it started still alive,
	// no cpu still burning. Default 5s.
	CancelBound time.Duration
	// Concurrency is how many calls run at once in the concurrency check.
	// Default 8.
	Concurrency int
	// CallTimeout bounds each call the kit makes. Default 2 minutes; a
	// plugin proving for real (a 2 KiB c2 or snap_prove on a CPU takes
	// about a minute, more on a loaded machine) may need longer.
	CallTimeout time.Duration
	// StartTimeout bounds each plugin start. Default 30s.
	StartTimeout time.Duration
	// LogLevel is the level at which the plugin's log reaches t.Log.
	// Default hclog.Warn.
	LogLevel hclog.Level
}

// PayloadSize is the size of the large request and response the kit
// sends and asks for: beyond gRPC's 4 MiB default in both directions, and
// above a 32 GiB sector's ~51 MB C1 output.
const PayloadSize = 64 << 20

// Run checks the plugin described by cfg, each check a subtest of t:
// handshake, stages, payload, cancel, errors, concurrent, stdout. Each
// starts the plugin afresh through the host's own client
// (sdk/pluginclient), so a check's failure cannot hide another's.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	h, err := newHarness(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range h.checks() {
		t.Run(c.name, func(t *testing.T) {
			err := c.fn(t)
			var skip skipError
			switch {
			case errors.As(err, &skip):
				t.Skip(string(skip))
			case err != nil:
				t.Error(err)
			}
		})
	}
}

// skipError makes a check skip, with its text as the reason.
type skipError string

func (s skipError) Error() string { return string(s) }

type check struct {
	name string
	fn   func(t *testing.T) error
}

type harness struct {
	cfg Config
	bin string
	// declared is cfg.Stages as a set.
	declared map[sealv1.Stage]bool
}

func newHarness(t testing.TB, cfg Config) (*harness, error) {
	if cfg.Binary == "" {
		if cfg.Build == nil {
			return nil, errors.New("plugintest.Config: set Binary (a built plugin) or Build (e.g. func(t testing.TB) string { return plugintest.Build(t, \".\") })")
		}
		cfg.Binary = cfg.Build(t)
	}
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("plugintest.Config.Binary: %v", err)
	}
	if len(cfg.Stages) == 0 {
		return nil, errors.New("plugintest.Config.Stages is empty: list the stages the plugin serves, e.g. []sealv1.Stage{sealv1.Stage_STAGE_C2}")
	}
	h := &harness{cfg: cfg, bin: cfg.Binary, declared: map[sealv1.Stage]bool{}}
	for _, s := range cfg.Stages {
		if s <= sealv1.Stage_STAGE_UNSPECIFIED || s > sealv1.Stage_STAGE_ADD_PIECES {
			return nil, fmt.Errorf("plugintest.Config.Stages holds %v, not a stage", s)
		}
		h.declared[s] = true
	}
	if h.cfg.CancelBound <= 0 {
		h.cfg.CancelBound = 5 * time.Second
	}
	if h.cfg.Concurrency <= 0 {
		h.cfg.Concurrency = 8
	}
	if h.cfg.CallTimeout <= 0 {
		h.cfg.CallTimeout = callTimeout
	}
	if h.cfg.StartTimeout <= 0 {
		h.cfg.StartTimeout = 30 * time.Second
	}
	if h.cfg.LogLevel == hclog.NoLevel {
		h.cfg.LogLevel = hclog.Warn
	}
	if h.cfg.Inputs == nil {
		h.cfg.Inputs = DefaultInputs
	}
	return h, nil
}

func (h *harness) checks() []check {
	return []check{
		{"handshake", h.checkHandshake},
		{"stages", h.checkStages},
		{"payload/request", h.checkPayloadRequest},
		{"payload/response", h.checkPayloadResponse},
		{"cancel", h.checkCancel},
		{"errors/invalid", h.checkInvalid},
		{"errors/retryable", h.checkRetryable},
		{"concurrent", h.checkConcurrent},
		{"stdout/plugin-noise", h.checkPluginNoise},
		{"stdout/before-start", h.checkNoiseBeforeStart},
	}
}

// pipeline is the stage order, which is also the order outputs feed
// inputs: the sealing stages, then the others (snap_encode feeds
// snap_prove).
var pipeline = []sealv1.Stage{sealv1.Stage_STAGE_TREE_D, sealv1.Stage_STAGE_PC1, sealv1.Stage_STAGE_PC2,
	sealv1.Stage_STAGE_C1, sealv1.Stage_STAGE_C2,
	sealv1.Stage_STAGE_SNAP_ENCODE, sealv1.Stage_STAGE_SNAP_PROVE, sealv1.Stage_STAGE_WINDOW_POST,
	sealv1.Stage_STAGE_WINNING_POST, sealv1.Stage_STAGE_UNSEAL, sealv1.Stage_STAGE_ADD_PIECES}

// probe is the stage the generic checks call: the first one declared.
func (h *harness) probe() sealv1.Stage {
	for _, s := range pipeline {
		if h.declared[s] {
			return s
		}
	}
	return sealv1.Stage_STAGE_UNSPECIFIED
}

// startOpts varies how a plugin is started.
type startOpts struct {
	env []string
	// wrap runs the plugin under `sh -c 'CMD; exec plugin'`.
	wrap string
	// quiet silences the plugin's log during the start, for a check that
	// expects the start to fail: go-plugin logs the kill that ends it.
	quiet bool
}

// start launches the plugin through the host's client and kills it when
// t ends.
func (h *harness) start(t testing.TB, o startOpts) (*pluginclient.Client, error) {
	t.Helper()
	cmd := exec.Command(h.bin, h.cfg.Args...)
	if o.wrap != "" {
		args := append([]string{"-c", o.wrap + `; exec "$0" "$@"`, h.bin}, h.cfg.Args...)
		cmd = exec.Command("/bin/sh", args...)
	}
	cmd.Env = baseEnv()
	cmd.Env = append(cmd.Env, h.cfg.Env...)
	cmd.Env = append(cmd.Env, o.env...)
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StartTimeout+5*time.Second)
	defer cancel()
	log := testLogger(t, h.cfg.LogLevel)
	if o.quiet {
		log.SetLevel(hclog.Off)
	}
	c, err := pluginclient.Start(ctx, pluginclient.Config{
		Name:         filepath.Base(h.bin),
		Cmd:          cmd,
		Logger:       log,
		StartTimeout: h.cfg.StartTimeout,
	})
	if err != nil {
		return nil, err
	}
	log.SetLevel(h.cfg.LogLevel)
	t.Cleanup(func() {
		// The kit stops the plugin on purpose: go-plugin's "failed to
		// exit gracefully" and "signal: killed" are not the plugin's
		// failures, and a newcomer reads them as such.
		log.SetLevel(hclog.Off)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Kill(ctx); err != nil {
			t.Errorf("stopping the plugin: %v", err)
		}
	})
	return c, nil
}

func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// testLogger sends the plugin's log to t.Log until t ends (logging after
// that panics, and a plugin may still be writing while it is killed).
func testLogger(t testing.TB, level hclog.Level) hclog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(w.close)
	return hclog.New(&hclog.LoggerOptions{Name: "plugintest", Level: level, Output: w})
}

type tWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

// logSeen, when set (by the kit's own tests), also receives every line the
// kit logs, to check what a passing run prints.
var logSeen func(line string)

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		line := strings.TrimRight(string(p), "\n")
		w.t.Log(line)
		if logSeen != nil {
			logSeen(line)
		}
	}
	return len(p), nil
}

func (w *tWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// Build compiles the Go package at pkg (an import path, or a directory
// such as "." relative to the test's package) with `go build` into a
// temporary folder and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("plugintest.Build: no go command on PATH: %v", err)
	}
	name := filepath.Base(strings.TrimSuffix(pkg, "/..."))
	if abs, err := filepath.Abs(pkg); err == nil && (strings.HasPrefix(pkg, ".") || strings.HasPrefix(pkg, "/")) {
		// A directory: name the binary after it, as go build does.
		name = filepath.Base(abs)
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest.Build: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// stageName is the lower-case name of a stage, as in config files.
func stageName(s sealv1.Stage) string { return sdk.StageName(s) }
