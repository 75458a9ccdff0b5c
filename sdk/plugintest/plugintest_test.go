package plugintest

import (
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The kit's own tests run its checks against the mock plugin set up to
// misbehave, and require each check to notice. A kit whose checks cannot
// fail would pass anything.

var mockBin, wrongBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plugintest")
	if err != nil {
		panic(err)
	}
	mockBin = filepath.Join(dir, "mock")
	// The mock lives in the host's module, beside this one in the repo:
	// build it there (the sdk module does not depend on the host's).
	build := exec.Command("go", "build", "-o", mockBin, "./plugins/mock")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		os.Stderr.Write(out)
		panic("building the mock: " + err.Error())
	}
	wrongBin = filepath.Join(dir, "wrongplugin")
	out, err = exec.Command("go", "build", "-o", wrongBin, "./testdata/wrongplugin").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		os.Stderr.Write(out)
		panic("building testdata/wrongplugin: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var allStages = []sealv1.Stage{sealv1.Stage_STAGE_TREE_D, sealv1.Stage_STAGE_PC1, sealv1.Stage_STAGE_PC2,
	sealv1.Stage_STAGE_C1, sealv1.Stage_STAGE_C2,
	sealv1.Stage_STAGE_SNAP_ENCODE, sealv1.Stage_STAGE_SNAP_PROVE, sealv1.Stage_STAGE_WINDOW_POST,
	sealv1.Stage_STAGE_WINNING_POST, sealv1.Stage_STAGE_UNSEAL, sealv1.Stage_STAGE_ADD_PIECES}

func TestChecksCatchMisbehaviour(t *testing.T) {
	pc2 := []sealv1.Stage{sealv1.Stage_STAGE_PC2}
	for _, tc := range []struct {
		name  string
		bin   string // default: the mock
		cfg   Config
		check func(h *harness) func(*testing.T) error
		want  string // in the check's error
	}{
		{
			name:  "pc2 with a made-up comm_d",
			bin:   wrongBin,
			cfg:   Config{Stages: pc2, Env: []string{"WRONG=invented-commd"}},
			check: func(h *harness) func(*testing.T) error { return h.checkStages },
			want:  "but the sector's comm_d is " + zeroPiece2KiB + " (its only piece fills it: the piece's CID).\nrule: pc2's comm_d",
		},
		{
			name:  "the same pc2, right",
			bin:   wrongBin,
			cfg:   Config{Stages: pc2},
			check: func(h *harness) func(*testing.T) error { return h.checkStages },
			want:  "",
		},
		{
			name:  "the mock's whole pipeline keeps the cross-stage rules",
			cfg:   Config{Stages: allStages},
			check: func(h *harness) func(*testing.T) error { return h.checkStages },
			want:  "",
		},
		{
			name:  "time.Sleep ignores cancel",
			bin:   wrongBin,
			cfg:   Config{Stages: pc2, SlowEnv: []string{"WRONG=sleep"}, CancelBound: 2e9},
			check: func(h *harness) func(*testing.T) error { return h.checkCancel },
			want:  "its handler has not returned (Info still lists the call in running_calls): it ignores ctx",
		},
		{
			name:  "a busy loop ignores cancel",
			bin:   wrongBin,
			cfg:   Config{Stages: pc2, SlowEnv: []string{"WRONG=spin"}, CancelBound: 2e9},
			check: func(h *harness) func(*testing.T) error { return h.checkCancel },
			want:  "kills the plugin, failing every call in flight on it",
		},
		{
			name:  "undeclared stages answer",
			cfg:   Config{Stages: []sealv1.Stage{sealv1.Stage_STAGE_C2}},
			check: func(h *harness) func(*testing.T) error { return h.checkStages },
			want:  "tree_d (not declared): got success, want an UNIMPLEMENTED error",
		},
		{
			name:  "info lists other stages",
			cfg:   Config{Stages: []sealv1.Stage{sealv1.Stage_STAGE_C2}},
			check: func(h *harness) func(*testing.T) error { return h.checkHandshake },
			want:  "stages [tree_d, pc1, pc2, c1, c2, snap_encode, snap_prove, window_post, winning_post, unseal, add_pieces], want [c2]",
		},
		{
			name:  "wrong name",
			cfg:   Config{Stages: allStages, Name: "other"},
			check: func(h *harness) func(*testing.T) error { return h.checkHandshake },
			want:  `name "mock", want "other"`,
		},
		{
			name:  "hang ignores cancel",
			cfg:   Config{Stages: allStages, SlowEnv: []string{"MOCK_HANG=tree_d", "MOCK_BUSY_THREADS=2"}, CancelBound: 2e9},
			check: func(h *harness) func(*testing.T) error { return h.checkCancel },
			want:  "of its threads still run",
		},
		{
			name:  "slow env that is not slow",
			cfg:   Config{Stages: allStages, SlowEnv: []string{"MOCK_DURATION=0s"}},
			check: func(h *harness) func(*testing.T) error { return h.checkCancel },
			want:  "returned within 500ms",
		},
		{
			name:  "fail env that does not fail",
			cfg:   Config{Stages: allStages, FailEnv: []string{"MOCK_FAIL_RATE=0"}},
			check: func(h *harness) func(*testing.T) error { return h.checkRetryable },
			want:  "succeeded, want a retryable error",
		},
		{
			name:  "output env too small",
			cfg:   Config{Stages: allStages, LargeOutputEnv: []string{"MOCK_OUTPUT_SIZE=1MiB"}},
			check: func(h *harness) func(*testing.T) error { return h.checkPayloadResponse },
			want:  "want at least 67108864",
		},
		{
			name:  "concurrent calls crash",
			cfg:   Config{Stages: allStages, Env: []string{"MOCK_CRASH_RATE=1"}},
			check: func(h *harness) func(*testing.T) error { return h.checkConcurrent },
			want:  "concurrent tree_d calls failed",
		},
		{
			name:  "stdout noise after the sdk's init is harmless",
			cfg:   Config{Stages: allStages, StdoutNoiseEnv: []string{"MOCK_STDOUT_NOISE=1"}},
			check: func(h *harness) func(*testing.T) error { return h.checkPluginNoise },
			want:  "", // the sdk protects fd 1: this one must pass
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Binary = mockBin
			if tc.bin != "" {
				tc.cfg.Binary = tc.bin
			}
			h, err := newHarness(t, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.check(h)(t)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("check failed: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check returned %v\nwant an error containing %q", err, tc.want)
			}
			t.Logf("caught: %v", err)
		})
	}
}

func TestSkipsSayWhy(t *testing.T) {
	h, err := newHarness(t, Config{Binary: mockBin, Stages: []sealv1.Stage{sealv1.Stage_STAGE_TREE_D}})
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func(*testing.T) error{
		"request": h.checkPayloadRequest, "response": h.checkPayloadResponse,
		"retryable": h.checkRetryable, "noise": h.checkPluginNoise,
	} {
		var s skipError
		if err := fn(t); err == nil || !asSkip(err, &s) || len(s) < 20 {
			t.Errorf("%s: %v, want a skip with a reason", name, err)
		}
	}
}

func asSkip(err error, s *skipError) bool {
	v, ok := err.(skipError)
	*s = v
	return ok
}

func TestConfigMistakes(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Stages: allStages}, "set Binary"},
		{Config{Binary: "/nonexistent/plugin", Stages: allStages}, "no such file"},
		{Config{Binary: mockBin}, "Stages is empty"},
		{Config{Binary: mockBin, Stages: []sealv1.Stage{0}}, "not a stage"},
	} {
		if _, err := newHarness(t, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newHarness(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestBLSModulus checks the kit's little-endian modulus against r in
// decimal, as the BLS12-381 specification gives it.
func TestBLSModulus(t *testing.T) {
	r, _ := new(big.Int).SetString("52435875175126190479447740508185965837690552500527637822603658699938581184513", 10)
	be := slices.Clone(blsModulus[:])
	slices.Reverse(be)
	if got := new(big.Int).SetBytes(be); got.Cmp(r) != 0 {
		t.Fatalf("blsModulus = %v, want %v", got, r)
	}
	below := blsModulus
	below[0]--
	if !belowScalarModulus(below[:]) || belowScalarModulus(blsModulus[:]) {
		t.Error("r-1 must be a scalar and r not")
	}
}

func TestCIDs(t *testing.T) {
	var c [32]byte
	c[0] = 1
	sealed := cidString(commcid.ReplicaCommitmentV1ToCID(c[:]))
	wide := [32]byte{31: 0xff}
	for _, tc := range []struct {
		name, s string
		kind    cidKind
		want    string
	}{
		{"zero piece", zeroPiece2KiB, unsealedKind, ""},
		// snap_encode's comm_r from filecoin-ffi: top byte 0x46, a scalar
		// but not 254 bits.
		{"sealed with bit 254 set", "bagboea4b5abcaisk54bnccehl56ocvas24ip527zl2jopfk57w3z2bupqwv7jikg", sealedKind, ""},
		{"sealed at the modulus", cidString(commcid.ReplicaCommitmentV1ToCID(blsModulus[:])), sealedKind, "BLS12-381 scalar modulus"},
		{"sealed over 255 bits", cidString(commcid.ReplicaCommitmentV1ToCID(wide[:])), sealedKind, "BLS12-381 scalar modulus"},
		{"sealed", sealed, sealedKind, ""},
		{"unsealed as sealed", zeroPiece2KiB, sealedKind, "want a sealed"},
		{"sealed as unsealed", sealed, unsealedKind, "want an unsealed"},
		{"not multibase", "Qm123", unsealedKind, "not a base32"},
		{"CIDv0", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", unsealedKind, "CIDv0"},
		{"upper case", strings.ToUpper(zeroPiece2KiB), unsealedKind, "write it as \"" + zeroPiece2KiB + "\""},
		{"truncated", zeroPiece2KiB[:30], unsealedKind, "not a CID"},
		{"other codec", "bafy2bzacechsyl7ovbmimehbcdxy3unfxk6rfhxyfhrufkjtc76scyjiov4i6", unsealedKind, "codec 0x71"},
		{"over 254 bits", cidString(commcid.DataCommitmentV1ToCID(wide[:])), unsealedKind, "254 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCID(tc.s, tc.kind)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("checkCID(%q) = %v, want %q", tc.s, err, tc.want)
			}
		})
	}
}

// TestZeroPiece2KiB checks the kit's zero piece against the CID lotus-bench
// prints for a 2 KiB CC sector (host/internal/seal checks the same value
// against go-commp-utils' table, which the sdk module does not depend on).
func TestZeroPiece2KiB(t *testing.T) {
	const lotus = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
	if zeroPiece2KiB != lotus {
		t.Errorf("zeroPiece2KiB = %s, lotus-bench prints %s", zeroPiece2KiB, lotus)
	}
}

func TestPadJSON(t *testing.T) {
	for _, doc := range []string{`{"comm_d":[1,2],"x":"y"}`, `{}`, ` { } `, `not json`, ``} {
		b := padJSON([]byte(doc), 1000)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("padJSON(%q) is not JSON: %v", doc, err)
		}
		if len(b) < 1000 {
			t.Errorf("padJSON(%q) is %d bytes, want ≥ 1000", doc, len(b))
		}
		if strings.HasPrefix(doc, `{"comm_d"`) && (m["x"] != "y" || len(m["comm_d"].([]any)) != 2) {
			t.Errorf("padJSON(%q) lost the document's fields: %.100s", doc, b)
		}
	}
}

// TestHandshakeFailuresAreClear points the kit at programs that are not
// plugins: the handshake check must fail, name the program and say why,
// and never hang.
func TestHandshakeFailuresAreClear(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep on PATH")
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true on PATH")
	}
	for _, tc := range []struct {
		name, bin string
		args      []string
		want      string
	}{
		{"exits at once", truePath, nil, `plugin "true"`},
		{"hangs at start", sleep, []string{"3600"}, "no handshake within the start timeout of 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := newHarness(t, Config{Binary: tc.bin, Args: tc.args, Stages: allStages, StartTimeout: 2e9})
			if err != nil {
				t.Fatal(err)
			}
			err = h.checkHandshake(t)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("handshake check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestPassingRunIsQuiet: a plugin that passes every check gets no WARN or
// ERROR line from the kit's run (its deliberate kills included): a
// newcomer reads those as failures.
func TestPassingRunIsQuiet(t *testing.T) {
	var mu sync.Mutex
	var loud []string
	logSeen = func(line string) {
		if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
			mu.Lock()
			loud = append(loud, line)
			mu.Unlock()
		}
	}
	defer func() { logSeen = nil }()
	Run(t, Config{Binary: mockBin, Stages: allStages,
		SlowEnv:        []string{"MOCK_DURATION=1h", "MOCK_BUSY_THREADS=1"},
		FailEnv:        []string{"MOCK_FAIL_RATE=1"},
		LargeOutputEnv: []string{"MOCK_OUTPUT_SIZE=64MiB"},
		StdoutNoiseEnv: []string{"MOCK_STDOUT_NOISE=1"},
	})
	mu.Lock()
	defer mu.Unlock()
	if len(loud) > 0 {
		t.Errorf("a passing run logged:\n%s", strings.Join(loud, "\n"))
	}
}
