package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseKnobs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(Knobs) bool
		wantErr string
	}{
		{name: "defaults", check: func(k Knobs) bool {
			return len(k.Duration) == 0 && k.CrashMode == "exit" && k.Memory == 0 && !k.StdoutNoise
		}},
		{name: "one duration for all", args: []string{"-duration", "2s"}, check: func(k Knobs) bool {
			return k.Duration["tree_d"] == 2*time.Second && k.Duration["c2"] == 2*time.Second
		}},
		{name: "per stage flag, env overrides one", args: []string{"-duration", "pc1=2s,c2=500ms"},
			env: map[string]string{"MOCK_PC1_DURATION": "3s"}, check: func(k Knobs) bool {
				return k.Duration["pc1"] == 3*time.Second && k.Duration["c2"] == 500*time.Millisecond && k.Duration["pc2"] == 0
			}},
		{name: "env beats flag", args: []string{"-busy-threads", "1", "-memory", "1MiB", "-fail-rate", "0.5"},
			env: map[string]string{"MOCK_BUSY_THREADS": "2", "MOCK_MEMORY": "64MiB", "MOCK_FAIL_RATE": "0.1",
				"MOCK_OUTPUT_SIZE": "51MB", "MOCK_HANG": "pc2, c2", "MOCK_STDOUT_NOISE": "1", "MOCK_CRASH_MODE": "kill"},
			check: func(k Knobs) bool {
				return k.BusyThreads == 2 && k.Memory == 64<<20 && k.FailRate == 0.1 && k.OutputSize == 51e6 &&
					k.Hang["pc2"] && k.Hang["c2"] && !k.Hang["pc1"] && k.StdoutNoise && k.CrashMode == "kill"
			}},
		{name: "bad duration", args: []string{"-duration", "pc1=soon"}, wantErr: `"soon" is not a duration`},
		{name: "bad stage", args: []string{"-duration", "pc3=1s"}, wantErr: `"pc3" is not a stage`},
		{name: "bad env duration", env: map[string]string{"MOCK_C2_DURATION": "1h?"}, wantErr: "MOCK_C2_DURATION"},
		{name: "bad size", env: map[string]string{"MOCK_MEMORY": "lots"}, wantErr: `MOCK_MEMORY) "lots"`},
		{name: "rate above 1", env: map[string]string{"MOCK_FAIL_RATE": "10"}, wantErr: "between 0 and 1"},
		{name: "rate not a number", env: map[string]string{"MOCK_CRASH_RATE": "often"}, wantErr: "MOCK_CRASH_RATE"},
		{name: "bad hang", args: []string{"-hang", "pc1,sleep"}, wantErr: `"sleep" is not a stage`},
		{name: "bad crash mode", args: []string{"-crash-mode", "explode"}, wantErr: "want exit or kill"},
		{name: "stray argument", args: []string{"pc1"}, wantErr: "unexpected argument"},
		{name: "unknown flag", args: []string{"-speed", "11"}, wantErr: "not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := parseKnobs(tc.args, func(n string) string { return tc.env[n] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(k) {
				t.Errorf("knobs = %+v: not what the flags and env say", k)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "64KiB": 64 << 10, "64MiB": 64 << 20,
		"2GiB": 2 << 30, "51MB": 51e6, "1GB": 1e9, "12B": 12, " 3 MiB": 3 << 20} {
		if got, err := parseSize("x", in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1TiB", "MiB", "1.5GiB", "99999999999GiB"} {
		if _, err := parseSize("x", in); err == nil {
			t.Errorf("parseSize(%q) succeeded, want an error", in)
		}
	}
}

func TestHelpSaysProofsAreFake(t *testing.T) {
	var out strings.Builder
	_, err := parseKnobs([]string{"-help"}, func(string) string { return "" }, &out)
	if err == nil {
		t.Fatal("-help did not stop parsing")
	}
	for _, want := range []string{"FAKE", "proofs are FAKE", "MOCK_PC1_DURATION", "-busy-threads", "MOCK_HANG"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-help lacks %q:\n%s", want, out.String())
		}
	}
}
