//go:build cgo && ffi

package main

// Real tests of the filecoin-ffi calls on sealed sectors (Prover): snap
// update, Window and Winning PoSt, unseal and add_piece, each made through
// childSealer (one child process per call, as the plugin runs them) on 2KiB
// sectors sealed in the test, and each proof checked again in this process,
// outside the plugin. The parameters are the local INSECURE ones of `make
// params` (PARAM_CIRCUITS: porep, winning-post, window-post, update).

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	ffi "github.com/filecoin-project/filecoin-ffi"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// preCommitted is a sector sealed through tree_d, pc1 and pc2 (no c1/c2:
// PoSt, snap and unseal need the replica and its cache, not a seal proof).
type preCommitted struct {
	sectorDirs
	id           *sealv1.Sector
	ticket       []byte
	commR, commD cid.Cid
}

func sealPC2(t *testing.T, st *stages, s sectorDirs, num uint64, pieces []*sealv1.PieceInfo) preCommitted {
	t.Helper()
	ctx := context.Background()
	id, tk := sector2K(num), randomBytes(t)
	if _, err := st.TreeD(ctx, &sealv1.TreeDRequest{Sector: id, CachePath: s.cache, StagedPath: s.staged, Pieces: pieces}); err != nil {
		t.Fatalf("tree_d: %v", err)
	}
	pc1, err := st.PC1(ctx, &sealv1.PC1Request{Sector: id, CachePath: s.cache, StagedPath: s.staged, SealedPath: s.sealed, Ticket: tk, Pieces: pieces})
	if err != nil {
		t.Fatalf("pc1: %v", err)
	}
	pc2, err := st.PC2(ctx, &sealv1.PC2Request{Sector: id, Phase1Output: pc1.GetPhase1Output(), CachePath: s.cache, SealedPath: s.sealed})
	if err != nil {
		t.Fatalf("pc2: %v", err)
	}
	r, _ := cid.Decode(pc2.GetSealedCid())
	d, _ := cid.Decode(pc2.GetUnsealedCid())
	return preCommitted{sectorDirs: s, id: id, ticket: tk, commR: r, commD: d}
}

func prover(t *testing.T, st *stages) Prover {
	p, ok := st.sealer.(Prover)
	if !ok {
		t.Fatalf("%T is not a Prover", st.sealer)
	}
	return p
}

// randomPiece writes a full-sector piece of random bytes (not zeros: an
// unseal or encode that lost the data would still match zeros) and adds it
// through the child's add_piece to a new, empty staged file. It checks the
// piece CID against filecoin-ffi's in this process.
func randomPiece(t *testing.T, p Prover, dir string) (data []byte, staged string, piece abi.PieceInfo) {
	t.Helper()
	data = make([]byte, abi.PaddedPieceSize(2048).Unpadded())
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "piece")
	staged = filepath.Join(dir, "staged-piece")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	left, total, pc, err := p.AddPiece(context.Background(), proof2K, src, abi.UnpaddedPieceSize(len(data)), staged, nil)
	if err != nil {
		t.Fatalf("add_piece: %v", err)
	}
	if left != 0 || total != abi.UnpaddedPieceSize(len(data)) {
		t.Fatalf("add_piece: left alignment %d, total %d; want 0 and %d", left, total, len(data))
	}
	if st, err := os.Stat(staged); err != nil || st.Size() != 2048 {
		t.Fatalf("staged file after add_piece: %v, %v bytes; want 2048", err, st.Size())
	}
	direct, err := ffi.GeneratePieceCID(proof2K, src, abi.UnpaddedPieceSize(len(data)))
	if err != nil || !direct.Equals(pc) {
		t.Fatalf("piece CID through the child %s, GeneratePieceCID here %s (%v)", pc, direct, err)
	}
	return data, staged, abi.PieceInfo{Size: 2048, PieceCID: pc}
}

// TestRealSnapUpdate: a sealed CC sector (the sector key) gets a piece of
// random data: EncodeInto, vanilla update proofs, the SNARK made from them,
// and VerifyUpdateProof accepts it, in the child and in this process; with
// another sector key's comm_r it does not.
func TestRealSnapUpdate(t *testing.T) {
	st := realStages(t)
	p := prover(t, st)
	ctx := context.Background()
	key := sealPC2(t, st, newSector(t), 30, ccPieces())
	other := sealPC2(t, st, newSector(t), 31, ccPieces())
	up, err := proof2K.RegisteredUpdateProof()
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	_, staged, piece := randomPiece(t, p, dir)
	replica, replicaCache := filepath.Join(dir, "update"), filepath.Join(dir, "update-cache")
	// As lotus lays a snap update out: the new replica file at sector size,
	// its cache folder empty.
	if err := os.WriteFile(replica, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(replicaCache, 0o755); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	newR, newD, err := p.EncodeInto(ctx, up, replica, replicaCache, key.sealed, key.cache, staged, []abi.PieceInfo{piece})
	if err != nil {
		t.Fatalf("snap_encode: %v", err)
	}
	tEncode := time.Since(t0)
	wantD, err := ffi.GenerateUnsealedCID(proof2K, []abi.PieceInfo{piece})
	if err != nil || !wantD.Equals(newD) {
		t.Fatalf("snap_encode comm_d %s, GenerateUnsealedCID %s (%v)", newD, wantD, err)
	}
	if newR.Equals(key.commR) {
		t.Fatal("the updated replica has the sector key's comm_r")
	}
	t0 = time.Now()
	vanilla, err := p.GenerateUpdateVanillaProofs(ctx, up, key.commR, newR, newD, replica, replicaCache, key.sealed, key.cache)
	if err != nil {
		t.Fatalf("vanilla update proofs: %v", err)
	}
	tVanilla := time.Since(t0)
	if len(vanilla) == 0 {
		t.Fatal("no vanilla update proofs")
	}
	t0 = time.Now()
	snark, err := p.GenerateUpdateProofWithVanilla(ctx, up, key.commR, newR, newD, vanilla)
	if err != nil {
		t.Fatalf("update proof: %v", err)
	}
	tProve := time.Since(t0)
	t.Logf("2KiB snap: encode %v, %d vanilla proofs (%d bytes) in %v, update proof %d bytes in %v (child start included)",
		tEncode, len(vanilla), len(vanilla[0]), tVanilla, len(snark), tProve)

	info := proof.ReplicaUpdateInfo{UpdateProofType: up, OldSealedSectorCID: key.commR, NewSealedSectorCID: newR, NewUnsealedSectorCID: newD, Proof: snark}
	ok, err := p.VerifyUpdateProof(ctx, info)
	if err != nil || !ok {
		t.Fatalf("VerifyUpdateProof in the child = %v, %v", ok, err)
	}
	ok, err = ffi.SectorUpdate.VerifyUpdateProof(info)
	if err != nil || !ok {
		t.Fatalf("VerifyUpdateProof in the test process = %v, %v", ok, err)
	}
	wrong := info
	wrong.OldSealedSectorCID = other.commR
	if ok, _ := ffi.SectorUpdate.VerifyUpdateProof(wrong); ok {
		t.Fatal("VerifyUpdateProof accepted the proof against another sector key's comm_r")
	}
}

// postRandomness is 32 random bytes that are a valid field element
// (filecoin-ffi requires fr32 randomness: top two bits clear).
func postRandomness(t *testing.T) abi.PoStRandomness {
	r := randomBytes(t)
	r[31] &= 0x3f
	return r
}

// TestRealPoSt: two sealed sectors; a WindowPoSt over both and a WinningPoSt
// over the one the challenge picks, each verified in the child and in this
// process, and each refused with other randomness.
func TestRealPoSt(t *testing.T) {
	st := realStages(t)
	p := prover(t, st)
	ctx := context.Background()
	set := []preCommitted{sealPC2(t, st, newSector(t), 40, ccPieces()), sealPC2(t, st, newSector(t), 41, ccPieces())}
	miner := abi.ActorID(sector2K(0).GetMinerId())
	private := func(typ abi.RegisteredPoStProof, in []preCommitted) []PoStSector {
		out := make([]PoStSector, len(in))
		for i, s := range in {
			out[i] = PoStSector{SectorInfo: proof.SectorInfo{SealProof: proof2K, SectorNumber: abi.SectorNumber(s.id.GetSectorNumber()), SealedCID: s.commR},
				PoStProofType: typ, CacheDirPath: s.cache, SealedSectorPath: s.sealed}
		}
		return out
	}
	public := func(in []PoStSector) []proof.SectorInfo {
		out := make([]proof.SectorInfo, len(in))
		for i, s := range in {
			out[i] = s.SectorInfo
		}
		return out
	}

	t.Run("window", func(t *testing.T) {
		// V1_1 (FIP-0061): what lotus proves with since network version 21.
		typ := abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1
		rnd := postRandomness(t)
		sectors := private(typ, set)
		t0 := time.Now()
		proofs, faults, err := p.GenerateWindowPoSt(ctx, miner, sectors, rnd)
		if err != nil || len(faults) > 0 {
			t.Fatalf("window_post: %v (faults %v)", err, faults)
		}
		t.Logf("2KiB WindowPoSt over %d sectors: %d proof(s), %d bytes, in %v (child start included)", len(sectors), len(proofs), len(proofs[0].ProofBytes), time.Since(t0))
		info := proof.WindowPoStVerifyInfo{Randomness: rnd, Proofs: proofs, ChallengedSectors: public(sectors), Prover: miner}
		if ok, err := p.VerifyWindowPoSt(ctx, info); err != nil || !ok {
			t.Fatalf("VerifyWindowPoSt in the child = %v, %v", ok, err)
		}
		if ok, err := ffi.VerifyWindowPoSt(info); err != nil || !ok {
			t.Fatalf("VerifyWindowPoSt in the test process = %v, %v", ok, err)
		}
		info.Randomness = postRandomness(t)
		if ok, _ := ffi.VerifyWindowPoSt(info); ok {
			t.Fatal("VerifyWindowPoSt accepted the proof with other randomness")
		}
	})

	t.Run("winning", func(t *testing.T) {
		typ, err := proof2K.RegisteredWinningPoStProof()
		if err != nil {
			t.Fatal(err)
		}
		rnd := postRandomness(t)
		// Which of the proving set's sectors this randomness challenges
		// (what lotus computes before asking for the proof).
		idx, err := ffi.GenerateWinningPoStSectorChallenge(typ, miner, rnd, uint64(len(set)))
		if err != nil || len(idx) == 0 {
			t.Fatalf("GenerateWinningPoStSectorChallenge = %v, %v", idx, err)
		}
		var challenged []preCommitted
		for _, i := range idx {
			challenged = append(challenged, set[i])
		}
		sectors := private(typ, challenged)
		t0 := time.Now()
		proofs, err := p.GenerateWinningPoSt(ctx, miner, sectors, rnd)
		if err != nil {
			t.Fatalf("winning_post: %v", err)
		}
		t.Logf("2KiB WinningPoSt (challenged sector index %v): %d proof(s), %d bytes, in %v (child start included)", idx, len(proofs), len(proofs[0].ProofBytes), time.Since(t0))
		info := proof.WinningPoStVerifyInfo{Randomness: rnd, Proofs: proofs, ChallengedSectors: public(sectors), Prover: miner}
		if ok, err := p.VerifyWinningPoSt(ctx, info); err != nil || !ok {
			t.Fatalf("VerifyWinningPoSt in the child = %v, %v", ok, err)
		}
		if ok, err := ffi.VerifyWinningPoSt(info); err != nil || !ok {
			t.Fatalf("VerifyWinningPoSt in the test process = %v, %v", ok, err)
		}
		info.Randomness = postRandomness(t)
		if ok, _ := ffi.VerifyWinningPoSt(info); ok {
			t.Fatal("VerifyWinningPoSt accepted the proof with other randomness")
		}
	})
}

// TestRealUnseal: a sector sealed with a piece of random data unseals to
// the piece's bytes, whole and as a range from the middle.
func TestRealUnseal(t *testing.T) {
	st := realStages(t)
	p := prover(t, st)
	ctx := context.Background()
	s := newSector(t)
	data, staged, piece := randomPiece(t, p, t.TempDir())
	if err := os.Rename(staged, s.staged); err != nil {
		t.Fatal(err)
	}
	sec := sealPC2(t, st, s, 50, []*sealv1.PieceInfo{{Size: uint64(piece.Size), PieceCid: piece.PieceCID.String()}})
	for _, r := range []struct {
		name         string
		offset, size uint64
	}{{"whole", 0, uint64(len(data))}, {"second half", 1016, 1016}} {
		t.Run(r.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "unsealed")
			t0 := time.Now()
			err := p.UnsealRange(ctx, proof2K, sec.cache, sec.sealed, out, abi.SectorNumber(sec.id.GetSectorNumber()),
				abi.ActorID(sec.id.GetMinerId()), sec.ticket, sec.commD, r.offset, r.size)
			if err != nil {
				t.Fatalf("unseal: %v", err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want := data[r.offset : r.offset+r.size]
			if !bytes.Equal(got, want) {
				t.Fatalf("unsealed %d bytes, want the piece's %d bytes [%d, %d) (first differing byte: %d)", len(got), len(want), r.offset, r.offset+r.size, firstDiff(got, want))
			}
			t.Logf("unsealed [%d, %d) in %v (child start included)", r.offset, r.offset+r.size, time.Since(t0))
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
