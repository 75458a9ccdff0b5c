package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/host/internal/seal"
)

// The seal scripts need a real plugin: the mock is built once per test
// binary and offered to scripts as $SEAL_MOCK (scripts link it where the
// config they use expects it, as examples/local.hcl expects
// ../bin/plugins/mock).
func init() {
	var mock string
	testMainHooks = append(testMainHooks, func() (func(), error) {
		dir, err := os.MkdirTemp("", "seal-mock-")
		if err != nil {
			return nil, err
		}
		mock = filepath.Join(dir, "mock")
		cmd := exec.Command("go", "build", "-o", mock, "../plugins/mock")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("building plugins/mock for the seal scripts: %v\n%s", err, out)
		}
		return func() { os.RemoveAll(dir) }, nil
	})
	testSetups = append(testSetups, func(env *testscript.Env) error {
		env.Setenv("SEAL_MOCK", mock)
		return nil
	})
	testScriptCmds["sealconfinement"] = cmdSealConfinement
	testScriptCmds["waitsocket"] = cmdWaitSocket
}

// cmdWaitSocket waits up to 30 s for a unix socket to appear, so a script
// can start `host run ... &` and then talk to it:
//
//	waitsocket $WORK/h.sock
func cmdWaitSocket(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitsocket PATH")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := os.Stat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no socket at %s after 30s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var sealInstance = regexp.MustCompile(`in-process host \(instance (seal-\d+),`)

// cmdSealConfinement checks, after an in-process `host seal`, that its
// stderr says the plugins ran confined where this machine can confine
// (root with a writable cgroup fs, as in CI) and UNCONFINED where it
// cannot, and that the host left no cgroup behind.
func cmdSealConfinement(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: sealconfinement")
	}
	stderr := ts.ReadFile("stderr")
	m := sealInstance.FindStringSubmatch(stderr)
	if m == nil {
		ts.Fatalf("stderr does not name the in-process host's instance")
	}
	if err := confine.Available(); err != nil {
		ts.Logf("cgroups unavailable here (%v): expecting an unconfined run", err)
		if !strings.Contains(stderr, "UNCONFINED") {
			ts.Fatalf("cgroups are unavailable but stderr does not say UNCONFINED")
		}
		return
	}
	if !strings.Contains(stderr, "confined in cgroups") {
		ts.Fatalf("cgroups are available but the host did not run confined")
	}
	// Root/<instance>@<pid>.<start> below the test's own cgroup, which
	// may be nested: look a few levels down in every controller.
	for depth := range 4 {
		pattern := filepath.Join(append(append([]string{"/sys/fs/cgroup", "*"}, repeat("*", depth)...), confine.Root, m[1]+"@*")...)
		left, _ := filepath.Glob(pattern)
		if len(left) > 0 {
			ts.Fatalf("cgroups left behind by %s: %v", m[1], left)
		}
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestRequireVerifiedMessage checks what -require-verified says when it
// refuses a run: the unverified sectors with their plugin's reason, and
// the sectors that failed before they had a proof.
func TestRequireVerifiedMessage(t *testing.T) {
	checked := seal.SectorResult{Done: true, ProofBytes: 192, Verified: true, Verification: "VerifySeal (filecoin-ffi v1.30.0) against local INSECURE test parameters"}
	fake := seal.SectorResult{Done: true, ProofBytes: 192, Verification: "FAKE proof from plugins/mock: not a SNARK, nothing verified"}
	failed := seal.SectorResult{FailedStage: config.StageC2, Err: errors.New("c2: no gpu")}
	for _, tc := range []struct {
		name    string
		results []seal.SectorResult
		refused bool
		want    string
	}{
		{"all verified", []seal.SectorResult{checked, checked, checked}, false, ""},
		{"none verified (mock)", []seal.SectorResult{fake, fake, fake}, true,
			"host seal: -require-verified: 0 of 3 proofs verified: sectors 1-3 came back unverified (FAKE proof from plugins/mock: not a SNARK, nothing verified); the files stay in /w\n"},
		{"mixed", []seal.SectorResult{checked, fake, checked}, true,
			"host seal: -require-verified: 2 of 3 proofs verified: sector 2 came back unverified (FAKE proof from plugins/mock: not a SNARK, nothing verified); the files stay in /w\n"},
		{"failed sector", []seal.SectorResult{checked, failed, checked}, true,
			"host seal: -require-verified: 2 of 3 proofs verified: sector 2 failed before a proof; the files stay in /w\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := &seal.Summary{Sectors: len(tc.results)}
			for i, r := range tc.results {
				r.Sector = uint64(i + 1)
				sum.Results = append(sum.Results, r)
				if r.Done {
					sum.Done++
				}
				if r.Verified {
					sum.Verified++
				}
			}
			if sum.AllVerified() == tc.refused {
				t.Fatalf("AllVerified %v, want %v", sum.AllVerified(), !tc.refused)
			}
			if !tc.refused {
				return
			}
			var b strings.Builder
			requireVerifiedFailed(sum, "/w", &b)
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}
