package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// fakeSealer records the arguments of each call, so the tests see exactly
// what the stage logic would hand filecoin-ffi.
type fakeSealer struct {
	calls []call
	err   error
	// onCall runs inside the call, e.g. to write files into the cache.
	onCall func()
	commR  cid.Cid
	commD  cid.Cid
	// invalid makes VerifySeal answer false.
	invalid bool
}

type call struct {
	name string
	args []any
}

func (f *fakeSealer) record(name string, args ...any) {
	f.calls = append(f.calls, call{name, args})
	if f.onCall != nil {
		f.onCall()
	}
}

func (f *fakeSealer) SealPreCommitPhase1(_ context.Context, proof abi.RegisteredSealProof, cacheDir, staged, sealed string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) ([]byte, error) {
	f.record("pc1", proof, cacheDir, staged, sealed, sector, miner, ticket, pieces)
	return []byte(`{"pc1":"out"}`), f.err
}

func (f *fakeSealer) SealPreCommitPhase2(_ context.Context, out []byte, cacheDir, sealed string) (cid.Cid, cid.Cid, error) {
	f.record("pc2", out, cacheDir, sealed)
	return f.commR, f.commD, f.err
}

func (f *fakeSealer) SealCommitPhase1(_ context.Context, proof abi.RegisteredSealProof, commR, commD cid.Cid, cacheDir, sealed string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness,
	pieces []abi.PieceInfo) ([]byte, error) {
	f.record("c1", proof, commR, commD, cacheDir, sealed, sector, miner, ticket, seed, pieces)
	return fakeC1Out, f.err
}

// fakeC1Out has the fields of filecoin-ffi's C1 output that c2 reads to
// verify its proof (comm_r 1…, comm_d 2…, ticket 3…, seed 4…).
var fakeC1Out = []byte(`{"registered_proof":"StackedDrg2KiBV1_1","vanilla_proofs":{},` +
	`"comm_r":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],` +
	`"comm_d":[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2],` +
	`"ticket":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],` +
	`"seed":[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4]}`)

func (f *fakeSealer) SealCommitPhase2(_ context.Context, out []byte, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error) {
	f.record("c2", out, sector, miner)
	return make([]byte, 192), f.err
}

func (f *fakeSealer) VerifySeal(_ context.Context, info proof.SealVerifyInfo) (bool, error) {
	f.record("verify", info)
	return !f.invalid, f.err
}

func (f *fakeSealer) GPUDevices(context.Context) ([]string, error) { return []string{"fake"}, nil }

const proof2K = abi.RegisteredSealProof_StackedDrg2KiBV1_1

// sectorDirs lays out a 2KiB CC sector the way lotus does before PC1.
type sectorDirs struct{ cache, staged, sealed string }

func newSector(t testing.TB) sectorDirs {
	t.Helper()
	d := t.TempDir()
	s := sectorDirs{cache: filepath.Join(d, "cache"), staged: filepath.Join(d, "staged"), sealed: filepath.Join(d, "sealed")}
	if err := os.Mkdir(s.cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.staged, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.sealed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	zeroPiece2K = zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(2048).Unpadded())
	ticket      = []byte("0123456789abcdef0123456789abcdef")
	seed        = []byte("fedcba9876543210fedcba9876543210")
	sector      = &sealv1.Sector{RegisteredSealProof: int64(proof2K), MinerId: 1000, SectorNumber: 42}
)

func ccPieces() []*sealv1.PieceInfo {
	return []*sealv1.PieceInfo{{Size: 2048, PieceCid: zeroPiece2K.String()}}
}

func pc1Req(s sectorDirs) *sealv1.PC1Request {
	return &sealv1.PC1Request{Sector: sector, CachePath: s.cache, StagedPath: s.staged, SealedPath: s.sealed, Ticket: ticket, Pieces: ccPieces()}
}

func TestPC1ArgumentMapping(t *testing.T) {
	s := newSector(t)
	f := &fakeSealer{}
	resp, err := (&stages{sealer: f}).PC1(context.Background(), pc1Req(s))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.GetPhase1Output()) != `{"pc1":"out"}` {
		t.Fatalf("phase1_output = %q", resp.GetPhase1Output())
	}
	want := []any{proof2K, s.cache, s.staged, s.sealed, abi.SectorNumber(42), abi.ActorID(1000), abi.SealRandomness(ticket),
		[]abi.PieceInfo{{Size: 2048, PieceCID: zeroPiece2K}}}
	if len(f.calls) != 1 || !reflect.DeepEqual(f.calls[0].args, want) {
		t.Fatalf("filecoin-ffi got %#v\nwant %#v", f.calls, want)
	}
}

func TestPC1Preconditions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(s sectorDirs, r *sealv1.PC1Request)
		wants string
	}{
		{"unknown proof type", func(_ sectorDirs, r *sealv1.PC1Request) {
			r.Sector = &sealv1.Sector{RegisteredSealProof: 99}
		}, "not a known seal proof type"},
		{"no sector", func(_ sectorDirs, r *sealv1.PC1Request) { r.Sector = nil }, "sector is missing"},
		{"pieces short", func(_ sectorDirs, r *sealv1.PC1Request) {
			r.Pieces = []*sealv1.PieceInfo{{Size: 1024, PieceCid: zeroPiece2K.String()}}
		}, "pieces add up to 1024 padded bytes"},
		{"no pieces", func(_ sectorDirs, r *sealv1.PC1Request) { r.Pieces = nil }, "pieces is empty"},
		{"piece size not a power of two", func(_ sectorDirs, r *sealv1.PC1Request) {
			r.Pieces = []*sealv1.PieceInfo{{Size: 2000, PieceCid: zeroPiece2K.String()}}
		}, "pieces[0].size 2000"},
		{"bad piece cid", func(_ sectorDirs, r *sealv1.PC1Request) { r.Pieces[0].PieceCid = "nope" }, "pieces[0].piece_cid \"nope\" is not a CID"},
		{"short ticket", func(_ sectorDirs, r *sealv1.PC1Request) { r.Ticket = []byte{1, 2} }, "ticket has 2 bytes, want 32"},
		{"sealed file missing", func(s sectorDirs, _ *sealv1.PC1Request) { os.Remove(s.sealed) }, "create it empty before PC1"},
		{"sealed file not empty", func(s sectorDirs, _ *sealv1.PC1Request) { os.WriteFile(s.sealed, []byte("x"), 0o644) }, "is not empty"},
		{"staged file missing", func(s sectorDirs, _ *sealv1.PC1Request) { os.Remove(s.staged) }, "staged_path"},
		{"cache not fresh", func(s sectorDirs, _ *sealv1.PC1Request) {
			os.WriteFile(filepath.Join(s.cache, "sc-02-data-layer-1.dat"), nil, 0o644)
		}, "is not fresh: it holds sc-02-data-layer-1.dat"},
		{"cache missing", func(s sectorDirs, _ *sealv1.PC1Request) { os.Remove(s.cache) }, "cache_path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSector(t)
			r := pc1Req(s)
			tc.edit(s, r)
			f := &fakeSealer{}
			_, err := (&stages{sealer: f}).PC1(context.Background(), r)
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wants)
			}
			var se *sdk.Error
			if !errors.As(err, &se) || se.Retryable {
				t.Fatalf("err = %#v, want a non-retryable *sdk.Error", err)
			}
			if len(f.calls) != 0 {
				t.Fatalf("filecoin-ffi was called despite a failed precondition: %v", f.calls)
			}
		})
	}
	t.Run("tree_d output allowed in cache", func(t *testing.T) {
		s := newSector(t)
		os.WriteFile(filepath.Join(s.cache, TreeDFile), nil, 0o644)
		if _, err := (&stages{sealer: &fakeSealer{}}).PC1(context.Background(), pc1Req(s)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFailedCallCleansCache(t *testing.T) {
	s := newSector(t)
	os.WriteFile(filepath.Join(s.cache, TreeDFile), []byte("keep"), 0o644)
	f := &fakeSealer{err: errors.New("rust says no"), onCall: func() {
		os.WriteFile(filepath.Join(s.cache, "sc-02-data-layer-1.dat"), []byte("partial"), 0o644)
		os.Mkdir(filepath.Join(s.cache, "tmpdir"), 0o755)
	}}
	_, err := (&stages{sealer: f}).PC1(context.Background(), pc1Req(s))
	if err == nil || !strings.Contains(err.Error(), "pc1: rust says no") {
		t.Fatalf("err = %v", err)
	}
	ents, _ := os.ReadDir(s.cache)
	if len(ents) != 1 || ents[0].Name() != TreeDFile {
		t.Fatalf("cache after a failed PC1 holds %v, want only %s", ents, TreeDFile)
	}
}

func TestCancelledBeforeCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newSector(t)
	f := &fakeSealer{}
	st := &stages{sealer: f}
	for name, run := range map[string]func() error{
		"pc1": func() error { _, e := st.PC1(ctx, pc1Req(s)); return e },
		"pc2": func() error {
			_, e := st.PC2(ctx, &sealv1.PC2Request{Sector: sector, Phase1Output: []byte("x"), CachePath: s.cache, SealedPath: s.sealed})
			return e
		},
		"c2": func() error {
			_, e := st.C2(ctx, &sealv1.C2Request{Sector: sector, Phase1Output: []byte("x")})
			return e
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := run(); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		})
	}
	if len(f.calls) != 0 {
		t.Fatalf("filecoin-ffi called after cancellation: %v", f.calls)
	}
}

func TestPC2C1C2Mapping(t *testing.T) {
	s := newSector(t)
	commR, _ := cid.Decode("bagboea4b5abcatlxechwbp7kjpjguna6r6q7ejrhe6mdp3lf34pmswn27pkkiekz")
	f := &fakeSealer{commR: commR, commD: zeroPiece2K}
	st := &stages{sealer: f}

	pc2, err := st.PC2(context.Background(), &sealv1.PC2Request{Sector: sector, Phase1Output: []byte("p1"), CachePath: s.cache, SealedPath: s.sealed})
	if err != nil {
		t.Fatal(err)
	}
	if pc2.GetSealedCid() != commR.String() || pc2.GetUnsealedCid() != zeroPiece2K.String() {
		t.Fatalf("pc2 = %v", pc2)
	}
	if !reflect.DeepEqual(f.calls[0].args, []any{[]byte("p1"), s.cache, s.sealed}) {
		t.Fatalf("pc2 args %v", f.calls[0].args)
	}

	_, err = st.C1(context.Background(), &sealv1.C1Request{Sector: sector, SealedCid: pc2.GetSealedCid(), UnsealedCid: pc2.GetUnsealedCid(),
		CachePath: s.cache, SealedPath: s.sealed, Ticket: ticket, Seed: seed, Pieces: ccPieces()})
	if err != nil {
		t.Fatal(err)
	}
	wantC1 := []any{proof2K, commR, zeroPiece2K, s.cache, s.sealed, abi.SectorNumber(42), abi.ActorID(1000),
		abi.SealRandomness(ticket), abi.InteractiveSealRandomness(seed), []abi.PieceInfo{{Size: 2048, PieceCID: zeroPiece2K}}}
	if !reflect.DeepEqual(f.calls[1].args, wantC1) {
		t.Fatalf("c1 args %#v\nwant %#v", f.calls[1].args, wantC1)
	}

	c2, err := st.C2(context.Background(), &sealv1.C2Request{Sector: sector, Phase1Output: fakeC1Out})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.GetProof()) != 192 || !reflect.DeepEqual(f.calls[2].args, []any{fakeC1Out, abi.SectorNumber(42), abi.ActorID(1000)}) {
		t.Fatalf("c2 args %v", f.calls[2].args)
	}
	if !c2.GetVerified() || !strings.Contains(c2.GetVerification(), "VerifySeal") {
		t.Fatalf("c2 = verified %v (%q), want verified by VerifySeal", c2.GetVerified(), c2.GetVerification())
	}
	// VerifySeal gets what the chain would check: the C1 output's
	// commitments and randomness, the request's sector and the proof.
	wantCommR, _ := commcid.ReplicaCommitmentV1ToCID(bytes.Repeat([]byte{1}, 32))
	wantCommD, _ := commcid.DataCommitmentV1ToCID(bytes.Repeat([]byte{2}, 32))
	wantVerify := proof.SealVerifyInfo{SealProof: proof2K, SectorID: abi.SectorID{Miner: 1000, Number: 42},
		Randomness: bytes.Repeat([]byte{3}, 32), InteractiveRandomness: bytes.Repeat([]byte{4}, 32),
		Proof: make([]byte, 192), SealedCID: wantCommR, UnsealedCID: wantCommD}
	if got := f.calls[3].args[0]; !reflect.DeepEqual(got, wantVerify) {
		t.Fatalf("verify args %#v\nwant %#v", got, wantVerify)
	}
	f.invalid = true
	if _, err := st.C2(context.Background(), &sealv1.C2Request{Sector: sector, Phase1Output: fakeC1Out}); err == nil ||
		!strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("c2 with a proof that does not verify: err = %v, want a refusal", err)
	}
	f.invalid = false

	for _, tc := range []struct {
		name  string
		run   func() error
		wants string
	}{
		{"c1 bad sealed cid", func() error {
			_, e := st.C1(context.Background(), &sealv1.C1Request{Sector: sector, SealedCid: "x", UnsealedCid: zeroPiece2K.String(), Pieces: ccPieces()})
			return e
		}, "sealed_cid \"x\" is not a CID"},
		{"c1 short seed", func() error {
			_, e := st.C1(context.Background(), &sealv1.C1Request{Sector: sector, SealedCid: commR.String(), UnsealedCid: zeroPiece2K.String(),
				Ticket: ticket, Seed: []byte{1}, Pieces: ccPieces()})
			return e
		}, "seed has 1 bytes"},
		{"pc2 empty phase1 output", func() error {
			_, e := st.PC2(context.Background(), &sealv1.PC2Request{Sector: sector, CachePath: s.cache, SealedPath: s.sealed})
			return e
		}, "phase1_output is empty"},
		{"c2 empty phase1 output", func() error {
			_, e := st.C2(context.Background(), &sealv1.C2Request{Sector: sector})
			return e
		}, "phase1_output is empty"},
		{"c2 phase1 output not C1's JSON", func() error {
			_, e := st.C2(context.Background(), &sealv1.C2Request{Sector: sector, Phase1Output: []byte("c1out")})
			return e
		}, "is not filecoin-ffi's C1 output"},
		{"c2 phase1 output without commitments", func() error {
			_, e := st.C2(context.Background(), &sealv1.C2Request{Sector: sector, Phase1Output: []byte(`{"ticket":[]}`)})
			return e
		}, "has no comm_r or comm_d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("err = %v, want %q", err, tc.wants)
			}
		})
	}
}

func TestWithoutFFI(t *testing.T) {
	if builtWithFFI {
		t.Skip("built with filecoin-ffi")
	}
	s := newSector(t)
	_, err := (&stages{sealer: newSealer()}).PC1(context.Background(), pc1Req(s))
	if err == nil || !strings.Contains(err.Error(), "built without filecoin-ffi: see plugins/ffi/README.md") {
		t.Fatalf("err = %v", err)
	}
	td, err := (&stages{sealer: newSealer()}).TreeD(context.Background(), &sealv1.TreeDRequest{Sector: sector, CachePath: s.cache, StagedPath: s.staged, Pieces: ccPieces()})
	if err != nil {
		t.Fatal(err)
	}
	if td.GetUnsealedCid() != zeroPiece2K.String() {
		t.Fatalf("tree_d comm_d = %s, want %s", td.GetUnsealedCid(), zeroPiece2K)
	}
}

// TestWithCleanupRemovesOnlyWhatTheStageMade: after a failed stage call
// the cache folder holds again exactly what it held before: files and
// folders the call made are gone, what was there (tree_d's output, an
// operator's file, even one the call rewrote) stays. A successful call
// keeps everything, and a call whose context is done does not run.
func TestWithCleanupRemovesOnlyWhatTheStageMade(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    bool
		want    []string
		wantErr bool
	}{
		{"failed call", true, []string{"keep", "sc-02-data-tree-d.dat"}, true},
		{"successful call", false, []string{"keep", "new", "sc-02-data-tree-d.dat", "sub"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"keep", "sc-02-data-tree-d.dat"} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("before"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := withCleanup(context.Background(), dir, func() error {
				os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644)
				os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755)
				os.WriteFile(filepath.Join(dir, "keep"), []byte("rewritten"), 0o644)
				if tc.fail {
					return errors.New("stage failed")
				}
				return nil
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("withCleanup = %v", err)
			}
			ents, _ := os.ReadDir(dir)
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("cache folder after the call: %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("done context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		if err := withCleanup(ctx, t.TempDir(), func() error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
			t.Errorf("withCleanup on a done context: %v, ran %v", err, ran)
		}
	})
}
