package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

var stageNames = []string{"tree_d", "pc1", "pc2", "c1", "c2", "snap_encode", "snap_prove", "window_post", "winning_post", "unseal", "add_pieces"}

// Knobs make the mock behave like real work. Each is set by a flag in the
// plugin block's args and overridden by a MOCK_* environment variable, so
// one plugin declaration can serve processors that each set their own.
type Knobs struct {
	Duration    map[string]time.Duration // per stage; absent = 0
	BusyThreads int                      // threads spinning on the allowed cpus while a call runs
	Memory      int64                    // bytes held, and touched, while a call runs
	OutputSize  int64                    // minimum size of PC1 and C1 outputs; 0 = natural size
	FailRate    float64                  // share of calls failing with a retryable error
	CrashRate   float64                  // share of calls crashing the process halfway
	CrashMode   string                   // "exit" (os.Exit(3)) or "kill" (SIGKILL to self)
	Hang        map[string]bool          // stages that never answer and ignore cancellation
	StdoutNoise bool                     // write to fd 1 at start-up and on every call
	Seed        uint64                   // seeds the fail/crash draws; 0 = random
	Serve       map[string]bool          // stages served; empty = every stage
}

const usageText = `mock: a sealhost plugin serving tree_d, pc1, pc2, c1, c2, snap_encode,
snap_prove, window_post, winning_post, unseal and add_pieces with FAKE results.

Its commitments are SHA-256 digests of the inputs and its proofs are FAKE:
right size for the proof type, verifiable by nothing. It exists to test the
host and to emulate the load of real sealing. Never use it for a real miner.

It is started by the sealhost host, not by hand. Flags (args in the plugin
block) set defaults; MOCK_* variables (a processor's env) override them:

`

// parseKnobs reads flags from args, then the MOCK_* overrides from env.
func parseKnobs(args []string, getenv func(string) string, stderr io.Writer) (Knobs, error) {
	k := Knobs{Duration: map[string]time.Duration{}, Hang: map[string]bool{}, CrashMode: "exit"}
	fs := flag.NewFlagSet("mock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var durations, hang, memory, output, serve string
	fs.StringVar(&durations, "duration", "", "how long each call works: `D` for every stage, or stage=D,... (env MOCK_DURATION, MOCK_<STAGE>_DURATION e.g. MOCK_PC1_DURATION=2s)")
	fs.IntVar(&k.BusyThreads, "busy-threads", 0, "`N` threads spin on the allowed cpus while a call runs (env MOCK_BUSY_THREADS)")
	fs.StringVar(&memory, "memory", "0", "`SIZE` held and touched while a call runs, e.g. 64MiB (env MOCK_MEMORY)")
	fs.StringVar(&output, "output-size", "0", "minimum `SIZE` of PC1 and C1 outputs, e.g. 51MB (env MOCK_OUTPUT_SIZE)")
	fs.Float64Var(&k.FailRate, "fail-rate", 0, "share `R` (0..1) of calls failing with a retryable error (env MOCK_FAIL_RATE)")
	fs.Float64Var(&k.CrashRate, "crash-rate", 0, "share `R` (0..1) of calls crashing the plugin halfway (env MOCK_CRASH_RATE)")
	fs.StringVar(&k.CrashMode, "crash-mode", "exit", "how to crash: `exit` (status 3) or kill (SIGKILL to self) (env MOCK_CRASH_MODE)")
	fs.StringVar(&hang, "hang", "", "comma-separated `stages` whose calls never return, ignoring cancellation (env MOCK_HANG)")
	fs.BoolVar(&k.StdoutNoise, "stdout-noise", false, "write to fd 1 at start-up and on every call, as native code does (env MOCK_STDOUT_NOISE=1)")
	fs.StringVar(&serve, "stages", "", "comma-separated `stages` to serve, as a plugin serving only those would (default every stage) (env MOCK_STAGES)")
	fs.Uint64Var(&k.Seed, "seed", 0, "seed `N` of the fail and crash draws; 0 picks one (env MOCK_SEED)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return k, err
	}
	if fs.NArg() > 0 {
		return k, fmt.Errorf("unexpected argument %q: the mock takes only flags (see -help)", fs.Arg(0))
	}

	override := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	override("MOCK_DURATION", &durations)
	override("MOCK_MEMORY", &memory)
	override("MOCK_OUTPUT_SIZE", &output)
	override("MOCK_HANG", &hang)
	override("MOCK_STAGES", &serve)
	override("MOCK_CRASH_MODE", &k.CrashMode)
	for name, dst := range map[string]any{
		"MOCK_BUSY_THREADS": &k.BusyThreads, "MOCK_FAIL_RATE": &k.FailRate, "MOCK_CRASH_RATE": &k.CrashRate,
		"MOCK_STDOUT_NOISE": &k.StdoutNoise, "MOCK_SEED": &k.Seed,
	} {
		v := getenv(name)
		if v == "" {
			continue
		}
		var err error
		switch d := dst.(type) {
		case *int:
			*d, err = strconv.Atoi(v)
		case *float64:
			*d, err = strconv.ParseFloat(v, 64)
		case *bool:
			*d, err = strconv.ParseBool(v)
		case *uint64:
			*d, err = strconv.ParseUint(v, 10, 64)
		}
		if err != nil {
			return k, fmt.Errorf("%s=%q: %v", name, v, err)
		}
	}

	var err error
	if err = parseDurations(durations, k.Duration); err != nil {
		return k, err
	}
	for _, st := range stageNames {
		name := "MOCK_" + strings.ToUpper(st) + "_DURATION"
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return k, fmt.Errorf("%s=%q is not a duration: write e.g. 2s or 150ms", name, v)
			}
			k.Duration[st] = d
		}
	}
	if k.Memory, err = parseSize("memory (MOCK_MEMORY)", memory); err != nil {
		return k, err
	}
	if k.OutputSize, err = parseSize("output size (MOCK_OUTPUT_SIZE)", output); err != nil {
		return k, err
	}
	k.Serve = map[string]bool{}
	if serve != "" {
		for _, st := range strings.Split(serve, ",") {
			st = strings.TrimSpace(st)
			if !isStage(st) {
				return k, fmt.Errorf("stages: %q is not a stage (want some of %s)", st, strings.Join(stageNames, ","))
			}
			k.Serve[st] = true
		}
	}
	if hang != "" {
		for _, st := range strings.Split(hang, ",") {
			st = strings.TrimSpace(st)
			if !isStage(st) {
				return k, fmt.Errorf("hang: %q is not a stage (want some of %s)", st, strings.Join(stageNames, ","))
			}
			k.Hang[st] = true
		}
	}
	switch {
	case k.BusyThreads < 0:
		return k, fmt.Errorf("busy threads %d: want 0 or more", k.BusyThreads)
	case !(k.FailRate >= 0 && k.FailRate <= 1): // also refuses NaN
		return k, fmt.Errorf("fail rate %v: want a share between 0 and 1, e.g. 0.1", k.FailRate)
	case !(k.CrashRate >= 0 && k.CrashRate <= 1):
		return k, fmt.Errorf("crash rate %v: want a share between 0 and 1, e.g. 0.1", k.CrashRate)
	case k.CrashMode != "exit" && k.CrashMode != "kill":
		return k, fmt.Errorf("crash mode %q: want exit or kill", k.CrashMode)
	}
	return k, nil
}

// parseDurations reads "2s" (every stage) or "pc1=2s,c2=500ms".
func parseDurations(s string, into map[string]time.Duration) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		stage, val, keyed := strings.Cut(strings.TrimSpace(part), "=")
		if !keyed {
			val = stage
		}
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 {
			return fmt.Errorf("duration %q: %q is not a duration; write 2s for every stage or pc1=2s,c2=500ms", s, val)
		}
		if !keyed {
			for _, st := range stageNames {
				into[st] = d
			}
			continue
		}
		if !isStage(stage) {
			return fmt.Errorf("duration %q: %q is not a stage (want %s)", s, stage, strings.Join(stageNames, ", "))
		}
		into[stage] = d
	}
	return nil
}

// parseSize reads a byte count: 1024, 64KiB, 64MiB, 2GiB, 51MB, 1GB.
func parseSize(what, s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%s %q: want a size such as 1048576, 64MiB or 51MB", what, orig)
	}
	return n * mult, nil
}

func isStage(s string) bool {
	for _, st := range stageNames {
		if s == st {
			return true
		}
	}
	return false
}

func osGetenv(name string) string { return os.Getenv(name) }
