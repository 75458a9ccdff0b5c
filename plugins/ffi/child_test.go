package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/hashicorp/go-hclog"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk"
)

// The child-process tests run the test binary itself as the child (as the
// plugin runs its own binary), with scriptedSealer standing in for
// filecoin-ffi in the child, so they run on every machine. The real
// filecoin-ffi path is covered by the ffi-tagged tests (real_test.go).

const modeEnv = "SEALHOST_FFI_TEST_MODE"

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == childArg {
		if os.Getenv(modeEnv) == "real" {
			// real_test.go: the call goes to filecoin-ffi, as in the plugin.
			os.Exit(runChild(os.Args[2], newSealer()))
		}
		os.Exit(runChild(os.Args[2], scriptedSealer{mode: os.Getenv(modeEnv)}))
	}
	os.Exit(m.Run())
}

// scriptedSealer behaves as its mode says: "ok", "sleep" (2 s, writing a
// layer into the cache dir first), "error" (filecoin-ffi's error),
// "abort" (a Rust panic that aborts, after a line on stderr), "killed"
// (SIGKILL, as the OOM killer sends), "exit" (exits without a result).
type scriptedSealer struct{ mode string }

func (s scriptedSealer) act(cacheDir string) error {
	switch s.mode {
	case "sleep":
		if cacheDir != "" {
			os.WriteFile(filepath.Join(cacheDir, "sc-02-data-layer-1.dat"), []byte("partial"), 0o644)
		}
		time.Sleep(2 * time.Second)
	case "error":
		return errors.New("rust says no")
	case "abort":
		// What Rust's abort does inside a cgo call: SIGABRT, which the Go
		// runtime turns into a crash.
		fmt.Fprintln(os.Stderr, "thread '<unnamed>' panicked at storage-proofs-porep: index out of bounds")
		syscall.Kill(os.Getpid(), syscall.SIGABRT)
		time.Sleep(time.Minute)
	case "killed":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	case "exit":
		os.Exit(7)
	}
	return nil
}

func (s scriptedSealer) SealPreCommitPhase1(_ context.Context, _ abi.RegisteredSealProof, cacheDir, _, sealed string,
	sector abi.SectorNumber, _ abi.ActorID, _ abi.SealRandomness, pieces []abi.PieceInfo) ([]byte, error) {
	os.WriteFile(sealed, make([]byte, 2048), 0o644) // PC1 copies the staged data first
	if err := s.act(cacheDir); err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{"sector":%d,"pieces":%d}`, sector, len(pieces)), nil
}

func (s scriptedSealer) SealPreCommitPhase2(_ context.Context, in []byte, cacheDir, _ string) (cid.Cid, cid.Cid, error) {
	if err := s.act(cacheDir); err != nil {
		return cid.Undef, cid.Undef, err
	}
	if !bytes.Equal(in, []byte("pc1 output")) {
		return cid.Undef, cid.Undef, fmt.Errorf("child saw phase1 output %q", in)
	}
	return zeroPiece2K, zeroPiece2K, nil
}

func (s scriptedSealer) SealCommitPhase1(_ context.Context, _ abi.RegisteredSealProof, _, _ cid.Cid, cacheDir, _ string,
	_ abi.SectorNumber, _ abi.ActorID, _ abi.SealRandomness, _ abi.InteractiveSealRandomness, _ []abi.PieceInfo) ([]byte, error) {
	if err := s.act(cacheDir); err != nil {
		return nil, err
	}
	return bytes.Repeat([]byte("c1"), 16<<20), nil // 32 MiB, as a 32GiB C1 output is tens of MB
}

func (s scriptedSealer) SealCommitPhase2(_ context.Context, in []byte, _ abi.SectorNumber, _ abi.ActorID) ([]byte, error) {
	if err := s.act(""); err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("proof of %d bytes", len(in))), nil
}

func (s scriptedSealer) VerifySeal(_ context.Context, info proof.SealVerifyInfo) (bool, error) {
	return string(info.Proof) == "good" && info.Number == 42 && info.SealedCID.Equals(zeroPiece2K), s.act("")
}

func (s scriptedSealer) GPUDevices(context.Context) ([]string, error) { return nil, s.act("") }

func testChild(t *testing.T, mode string) *childSealer {
	t.Helper()
	t.Setenv(modeEnv, mode)
	t.Setenv("TMPDIR", t.TempDir()) // later t.TempDir calls land beside it, not in it
	c, err := newChildSealer(hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChildRoundTrip(t *testing.T) {
	c := testChild(t, "ok")
	ctx := context.Background()
	s := newSector(t)
	out, err := c.SealPreCommitPhase1(ctx, proof2K, s.cache, s.staged, s.sealed, 42, 1000, ticket, []abi.PieceInfo{{Size: 2048, PieceCID: zeroPiece2K}})
	if err != nil || string(out) != `{"sector":42,"pieces":1}` {
		t.Fatalf("pc1 = %q, %v", out, err)
	}
	r, d, err := c.SealPreCommitPhase2(ctx, []byte("pc1 output"), s.cache, s.sealed)
	if err != nil || !r.Equals(zeroPiece2K) || !d.Equals(zeroPiece2K) {
		t.Fatalf("pc2 = %v, %v, %v", r, d, err)
	}
	big, err := c.SealCommitPhase1(ctx, proof2K, r, d, s.cache, s.sealed, 42, 1000, ticket, seed, nil)
	if err != nil || len(big) != 32<<20 {
		t.Fatalf("c1 = %d bytes, %v; want 32 MiB", len(big), err)
	}
	p, err := c.SealCommitPhase2(ctx, big, 42, 1000)
	if err != nil || string(p) != "proof of 33554432 bytes" {
		t.Fatalf("c2 = %q, %v", p, err)
	}
	for _, tc := range []struct {
		proof string
		want  bool
	}{{"good", true}, {"bad", false}} {
		t.Run("verify "+tc.proof, func(t *testing.T) {
			ok, err := c.VerifySeal(ctx, proof.SealVerifyInfo{SectorID: abi.SectorID{Number: 42}, Proof: []byte(tc.proof),
				SealedCID: zeroPiece2K, UnsealedCID: zeroPiece2K})
			if err != nil || ok != tc.want {
				t.Fatalf("VerifySeal = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	// Every call's folder is gone: TMPDIR is the processor's, and a
	// sector's C1 output must not pile up there.
	if ents, _ := os.ReadDir(os.Getenv("TMPDIR")); len(ents) != 0 {
		t.Fatalf("TMPDIR holds %d entries after the calls, want none", len(ents))
	}
}

func TestChildFailures(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		wants     []string
		retryable bool
	}{
		{"error", []string{"pc1: rust says no"}, false},
		{"abort", []string{"exited with status 2", "SIGABRT: abort", "panicked at storage-proofs-porep"}, true},
		{"killed", []string{"killed by signal 9 (killed)", "memory limit"}, true},
		{"exit", []string{"exited with status 7"}, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			c := testChild(t, tc.mode)
			s := newSector(t)
			_, err := (&stages{sealer: c}).PC1(context.Background(), pc1Req(s))
			if err == nil {
				t.Fatal("pc1 succeeded")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
			if sdk.IsRetryable(err) != tc.retryable {
				t.Errorf("retryable = %v, want %v", !tc.retryable, tc.retryable)
			}
			assertCleanForRetry(t, s)
		})
	}
}

// assertCleanForRetry checks what a retried PC1 needs: a cache dir with
// nothing but tree_d's output and an empty sealed file.
func assertCleanForRetry(t *testing.T, s sectorDirs) {
	t.Helper()
	if err := checkFreshCache(s.cache); err != nil {
		t.Errorf("cache after the failed call: %v", err)
	}
	if st, err := os.Stat(s.sealed); err != nil || st.Size() != 0 {
		t.Errorf("sealed file after the failed call: %v, %v; want it empty", st, err)
	}
}

// TestCancelKillsOneChild: of three concurrent PC1 calls of one plugin
// process, cancelling one ends that call within a bound and kills its child
// only; the other two finish.
func TestCancelKillsOneChild(t *testing.T) {
	c := testChild(t, "sleep")
	st := &stages{sealer: c}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	ended := make([]time.Duration, 3)
	secs := make([]sectorDirs, 3)
	start := time.Now()
	for i := range 3 {
		secs[i] = newSector(t)
		callCtx := context.Background()
		if i == 0 {
			callCtx = ctx
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = st.PC1(callCtx, pc1Req(secs[i]))
			ended[i] = time.Since(start)
		}()
	}
	time.Sleep(500 * time.Millisecond) // the children are in their 2 s call
	cancel()
	wg.Wait()
	if !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("cancelled call: err = %v, want context.Canceled", errs[0])
	}
	// 2 s is when the call would have ended on its own: the cancelled one
	// must end well before, the others at or after it.
	if ended[0] > 1500*time.Millisecond {
		t.Errorf("cancelled call ended after %v, want well before its child's 2 s", ended[0])
	}
	assertCleanForRetry(t, secs[0])
	for i := 1; i < 3; i++ {
		if errs[i] != nil {
			t.Errorf("call %d (not cancelled): %v", i, errs[i])
		}
		if ended[i] < 2*time.Second {
			t.Errorf("call %d ended after %v, before its child's 2 s: it was cut short", i, ended[i])
		}
	}
}
