package plugintest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestPlausibleLater feeds the kit's judgement of the later stages'
// answers right and wrong responses to the default requests.
func TestPlausibleLater(t *testing.T) {
	dir := t.TempDir()
	in, err := DefaultInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var r [32]byte
	r[0] = 7
	sealed := cidString(commcid.ReplicaCommitmentV1ToCID(r[:]))
	proof := func(pt int64) *sealv1.PoStProof {
		return &sealv1.PoStProof{RegisteredPostProof: pt, Proof: make([]byte, 192)}
	}
	unsealed := filepath.Join(dir, "unsealed")
	if err := os.WriteFile(unsealed, make([]byte, 2032), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "add-staged"), make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	half := cidString(commcid.PieceCommitmentV1ToCID(make([]byte, 32)))
	for _, tc := range []struct {
		name string
		resp proto.Message
		want string // "" = plausible
	}{
		{"snap_encode", &sealv1.SnapEncodeResponse{SealedCid: sealed, UnsealedCid: zeroPiece2KiB}, ""},
		{"snap_encode CIDs swapped", &sealv1.SnapEncodeResponse{SealedCid: zeroPiece2KiB, UnsealedCid: sealed}, "sealed_cid (the new comm_r)"},
		{"snap_prove", &sealv1.SnapProveResponse{Proof: make([]byte, 192)}, ""},
		{"snap_prove short", &sealv1.SnapProveResponse{Proof: make([]byte, 191)}, "proof is 191 bytes; want 192"},
		{"window_post", &sealv1.WindowPoStResponse{Proofs: []*sealv1.PoStProof{proof(DefaultWindowPoStProofType)}}, ""},
		{"window_post nothing", &sealv1.WindowPoStResponse{}, "no proofs and no faulty_sectors"},
		{"window_post other type", &sealv1.WindowPoStResponse{Proofs: []*sealv1.PoStProof{proof(5)}}, "registered_post_proof 5, want the request's 10"},
		{"window_post faults and proofs", &sealv1.WindowPoStResponse{Proofs: []*sealv1.PoStProof{proof(10)}, FaultySectors: []uint64{1}}, "both proofs and faulty_sectors"},
		{"window_post invented faults", &sealv1.WindowPoStResponse{FaultySectors: []uint64{1}}, "faulty_sectors [1] for sectors whose files are all there"},
		{"winning_post", &sealv1.WinningPoStResponse{Proofs: []*sealv1.PoStProof{proof(0)}}, ""},
		{"winning_post two", &sealv1.WinningPoStResponse{Proofs: []*sealv1.PoStProof{proof(0), proof(0)}}, "2 proofs, want 1"},
		{"unseal", &sealv1.UnsealResponse{NumBytes: 2032}, ""},
		{"unseal short", &sealv1.UnsealResponse{NumBytes: 2000}, "num_bytes 2000, want the request's 2032"},
		{"add_pieces", &sealv1.AddPiecesResponse{Pieces: []*sealv1.PieceInfo{{Size: 1024, PieceCid: half}, {Size: 1024, PieceCid: half}}}, ""},
		{"add_pieces short", &sealv1.AddPiecesResponse{Pieces: []*sealv1.PieceInfo{{Size: 1024, PieceCid: half}}}, "add up to 1024 bytes, want the sector's 2048"},
		{"add_pieces misaligned", &sealv1.AddPiecesResponse{Pieces: []*sealv1.PieceInfo{{Size: 512, PieceCid: half}, {Size: 1024, PieceCid: half}, {Size: 512, PieceCid: half}}}, "starts at byte 512"},
		{"add_pieces no piece of the request", &sealv1.AddPiecesResponse{Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: half}}}, "do not hold the request's 1 pieces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, ok := plausibleLater(tc.resp, in)
			if !ok {
				t.Fatal("not judged as a later stage's response")
			}
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("plausibleLater = %v, want %q", err, tc.want)
			}
		})
	}
	// The staged file of the old contract, unpadded: tree_d and pc1 would
	// read it short.
	if err := os.WriteFile(filepath.Join(dir, "add-staged"), make([]byte, 2032), 0o644); err != nil {
		t.Fatal(err)
	}
	two := &sealv1.AddPiecesResponse{Pieces: []*sealv1.PieceInfo{{Size: 1024, PieceCid: half}, {Size: 1024, PieceCid: half}}}
	if err, _ := plausibleLater(two, in); err == nil || !strings.Contains(err.Error(), "2032 bytes, want 2048 bytes (the sector size") {
		t.Errorf("add_pieces leaving 2032 bytes: %v, want the sector size asked for", err)
	}
	if _, ok := plausibleLater(&sealv1.C2Response{}, in); ok {
		t.Error("a c2 response judged as a later stage's")
	}
}

// An old Config.Inputs that knows only the sealing stages still gives the
// later stages their default requests.
func TestOldInputsGetLaterDefaults(t *testing.T) {
	h, err := newHarness(t, Config{Binary: mockBin, Stages: allStages, Inputs: func(dir string) (*Inputs, error) {
		in, err := DefaultInputs(dir)
		if err != nil {
			return nil, err
		}
		return &Inputs{TreeD: in.TreeD, PC1: in.PC1, PC2: in.PC2, C1: in.C1, C2: in.C2}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := h.inputs(t)
	if err != nil {
		t.Fatal(err)
	}
	if in.SnapEncode == nil || in.SnapProve == nil || in.WindowPoSt == nil || in.WinningPoSt == nil || in.Unseal == nil || in.AddPieces == nil {
		t.Fatalf("later requests missing: %+v", in)
	}
	if err := h.checkStages(t); err != nil {
		t.Fatal(err)
	}
}

// With a later stage as the probe, the generic checks exercise it: a
// window_post that hangs is caught by the cancellation check.
func TestLaterStageAsProbe(t *testing.T) {
	post := []sealv1.Stage{sealv1.Stage_STAGE_WINDOW_POST}
	h, err := newHarness(t, Config{Binary: mockBin, Stages: post, Env: []string{"MOCK_STAGES=window_post"},
		SlowEnv: []string{"MOCK_HANG=window_post", "MOCK_BUSY_THREADS=2"}, CancelBound: 2e9})
	if err != nil {
		t.Fatal(err)
	}
	if h.probe() != sealv1.Stage_STAGE_WINDOW_POST {
		t.Fatalf("probe %v", h.probe())
	}
	if err := h.checkCancel(t); err == nil || !strings.Contains(err.Error(), "window_post") || !strings.Contains(err.Error(), "of its threads still run") {
		t.Fatalf("checkCancel = %v, want the hanging window_post caught", err)
	}
	h, err = newHarness(t, Config{Binary: mockBin, Stages: post, Env: []string{"MOCK_STAGES=window_post", "MOCK_CRASH_RATE=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.checkConcurrent(t); err == nil || !strings.Contains(err.Error(), "concurrent window_post calls failed") {
		t.Fatalf("checkConcurrent = %v, want crashing window_post calls caught", err)
	}
}

// TestFeedSealed: once pc2 sealed the sector, the later stages' requests
// about it name its files, comm_r, comm_d and ticket; a request about
// another sector keeps its own.
func TestFeedSealed(t *testing.T) {
	in, err := DefaultInputs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other := &sealv1.PoStSector{RegisteredSealProof: DefaultProofType, SectorNumber: 2, SealedCid: "kept", SealedPath: "/kept", CachePath: "/kept-cache"}
	in.WindowPoSt.Sectors = append(in.WindowPoSt.Sectors, other)
	in.Unseal.Sector = &sealv1.Sector{RegisteredSealProof: DefaultProofType, MinerId: 1001, SectorNumber: 1}
	unsealPath := in.Unseal.GetSealedPath()
	var r [32]byte
	r[0] = 9
	resp := &sealv1.PC2Response{SealedCid: cidString(commcid.ReplicaCommitmentV1ToCID(r[:])), UnsealedCid: zeroPiece2KiB}
	feed(resp, in)
	sealed, cache := in.PC2.GetSealedPath(), in.PC2.GetCachePath()
	for _, c := range []struct {
		name      string
		got, want string
	}{
		{"snap_encode sector key", in.SnapEncode.GetSectorKeyPath(), sealed},
		{"snap_encode sector key cache", in.SnapEncode.GetSectorKeyCachePath(), cache},
		{"snap_prove sector key", in.SnapProve.GetSectorKeyPath(), sealed},
		{"snap_prove old comm_r", in.SnapProve.GetOldSealedCid(), resp.GetSealedCid()},
		{"window_post comm_r", in.WindowPoSt.GetSectors()[0].GetSealedCid(), resp.GetSealedCid()},
		{"window_post sealed", in.WindowPoSt.GetSectors()[0].GetSealedPath(), sealed},
		{"winning_post cache", in.WinningPoSt.GetSectors()[0].GetCachePath(), cache},
		{"window_post other sector", in.WindowPoSt.GetSectors()[1].GetSealedPath(), "/kept"},
		{"unseal of another miner's sector", in.Unseal.GetSealedPath(), unsealPath},
		{"c1 comm_r", in.C1.GetSealedCid(), resp.GetSealedCid()},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}
