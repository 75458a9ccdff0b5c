//go:build cgo && ffi

package main

// The stages on sealed sectors through the plugin's stage API (the requests
// the host sends), on 2KiB sectors sealed in the test: add_pieces of random
// data → snap_encode → snap_prove, window_post and winning_post over the
// sealed (and the snapped) sectors, unseal back to the piece's bytes. Each
// proof the stage reports verified is verified again here, outside the
// plugin.

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ffi "github.com/filecoin-project/filecoin-ffi"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// addRandomPiece runs add_pieces with one piece of 1016 random bytes (half
// the sector, so the stage fills the rest with a zero piece) into a new
// staged file.
func addRandomPiece(t *testing.T, st *stages, id *sealv1.Sector, staged string) ([]byte, []*sealv1.PieceInfo) {
	t.Helper()
	data := make([]byte, 1016)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "deal")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := st.AddPieces(context.Background(), &sealv1.AddPiecesRequest{Sector: id, StagedPath: staged,
		Pieces: []*sealv1.PieceFile{{Path: src, Size: 1024}}})
	if err != nil {
		t.Fatalf("add_pieces: %v", err)
	}
	pieces := resp.GetPieces()
	if len(pieces) != 2 || pieces[1].GetSize() != 1024 {
		t.Fatalf("add_pieces answered %v, want the deal and one zero piece of 1024", pieces)
	}
	direct, err := ffi.GeneratePieceCID(proof2K, src, 1016)
	if err != nil || direct.String() != pieces[0].GetPieceCid() {
		t.Fatalf("add_pieces piece CID %s, GeneratePieceCID %v (%v)", pieces[0].GetPieceCid(), direct, err)
	}
	return data, pieces
}

func toAbiPieces(t *testing.T, in []*sealv1.PieceInfo) []abi.PieceInfo {
	out := make([]abi.PieceInfo, len(in))
	for i, p := range in {
		c, err := cid.Decode(p.GetPieceCid())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = abi.PieceInfo{Size: abi.PaddedPieceSize(p.GetSize()), PieceCID: c}
	}
	return out
}

func TestRealProvingStages(t *testing.T) {
	st := realStages(t)
	ctx := context.Background()
	miner := sector2K(0).GetMinerId()

	// A sector holding a deal of random data, sealed through the stages;
	// its staged file made by add_pieces.
	deal := newSector(t)
	data, pieces := addRandomPiece(t, st, sector2K(60), deal.staged)
	dealSealed := sealPC2(t, st, deal, 60, pieces)
	wantD, err := ffi.GenerateUnsealedCID(proof2K, toAbiPieces(t, pieces))
	if err != nil || !wantD.Equals(dealSealed.commD) {
		t.Fatalf("pc2 comm_d %s, GenerateUnsealedCID of add_pieces' pieces %s (%v)", dealSealed.commD, wantD, err)
	}

	t.Run("unseal", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "unsealed")
		resp, err := st.Unseal(ctx, &sealv1.UnsealRequest{Sector: dealSealed.id, CachePath: deal.cache, SealedPath: deal.sealed,
			UnsealedPath: out, Ticket: dealSealed.ticket, UnsealedCid: dealSealed.commD.String(), Offset: 0, NumBytes: 1016})
		if err != nil {
			t.Fatalf("unseal: %v", err)
		}
		got, _ := os.ReadFile(out)
		if resp.GetNumBytes() != 1016 || !bytes.Equal(got, data) {
			t.Fatalf("unsealed %d bytes (answer %d), want the deal's 1016 bytes back (first differing byte %d)", len(got), resp.GetNumBytes(), firstDiff(got, data))
		}
	})

	// A CC sector snapped with a second deal.
	key := sealPC2(t, st, newSector(t), 61, ccPieces())
	dir := t.TempDir()
	staged, replica, replicaCache := filepath.Join(dir, "staged"), filepath.Join(dir, "update"), filepath.Join(dir, "update-cache")
	_, snapPieces := addRandomPiece(t, st, key.id, staged)
	os.WriteFile(replica, make([]byte, 2048), 0o644)
	os.Mkdir(replicaCache, 0o755)
	up := int64(abi.RegisteredUpdateProof_StackedDrg2KiBV1)
	enc, err := st.SnapEncode(ctx, &sealv1.SnapEncodeRequest{Sector: key.id, RegisteredUpdateProof: up, NewReplicaPath: replica,
		NewCachePath: replicaCache, SectorKeyPath: key.sealed, SectorKeyCachePath: key.cache, StagedPath: staged, Pieces: snapPieces})
	if err != nil {
		t.Fatalf("snap_encode: %v", err)
	}
	newR, _ := cid.Decode(enc.GetSealedCid())
	newD, _ := cid.Decode(enc.GetUnsealedCid())
	if want, _ := ffi.GenerateUnsealedCID(proof2K, toAbiPieces(t, snapPieces)); !want.Equals(newD) {
		t.Fatalf("snap_encode comm_d %s, GenerateUnsealedCID %s", newD, want)
	}

	t.Run("snap_prove", func(t *testing.T) {
		resp, err := st.SnapProve(ctx, &sealv1.SnapProveRequest{Sector: key.id, RegisteredUpdateProof: up, OldSealedCid: key.commR.String(),
			NewSealedCid: newR.String(), NewUnsealedCid: newD.String(), NewReplicaPath: replica, NewCachePath: replicaCache,
			SectorKeyPath: key.sealed, SectorKeyCachePath: key.cache})
		if err != nil {
			t.Fatalf("snap_prove: %v", err)
		}
		if !resp.GetVerified() || !strings.Contains(resp.GetVerification(), "INSECURE") {
			t.Fatalf("snap_prove verified=%v (%q)", resp.GetVerified(), resp.GetVerification())
		}
		ok, err := ffi.SectorUpdate.VerifyUpdateProof(proof.ReplicaUpdateInfo{UpdateProofType: abi.RegisteredUpdateProof(up),
			OldSealedSectorCID: key.commR, NewSealedSectorCID: newR, NewUnsealedSectorCID: newD, Proof: resp.GetProof()})
		if err != nil || !ok {
			t.Fatalf("VerifyUpdateProof in the test process = %v, %v", ok, err)
		}
	})

	// The PoSt set: the deal sector as sealed and the snapped sector's new
	// replica (proven by its new comm_r and the update cache).
	set := []*sealv1.PoStSector{
		{RegisteredSealProof: int64(proof2K), SectorNumber: 60, SealedCid: dealSealed.commR.String(), CachePath: deal.cache, SealedPath: deal.sealed},
		{RegisteredSealProof: int64(proof2K), SectorNumber: 61, SealedCid: newR.String(), CachePath: replicaCache, SealedPath: replica},
	}
	public := func(in []*sealv1.PoStSector) []proof.SectorInfo {
		var out []proof.SectorInfo
		for _, s := range in {
			c, _ := cid.Decode(s.GetSealedCid())
			out = append(out, proof.SectorInfo{SealProof: proof2K, SectorNumber: abi.SectorNumber(s.GetSectorNumber()), SealedCID: c})
		}
		return out
	}
	postProofs := func(in []*sealv1.PoStProof) []proof.PoStProof {
		var out []proof.PoStProof
		for _, p := range in {
			out = append(out, proof.PoStProof{PoStProof: abi.RegisteredPoStProof(p.GetRegisteredPostProof()), ProofBytes: p.GetProof()})
		}
		return out
	}

	t.Run("window_post", func(t *testing.T) {
		rnd := postRandomness(t)
		resp, err := st.WindowPoSt(ctx, &sealv1.WindowPoStRequest{MinerId: miner, RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1),
			Randomness: rnd, Sectors: set})
		if err != nil {
			t.Fatalf("window_post: %v", err)
		}
		if !resp.GetVerified() || len(resp.GetFaultySectors()) != 0 {
			t.Fatalf("window_post verified=%v faults %v", resp.GetVerified(), resp.GetFaultySectors())
		}
		ok, err := ffi.VerifyWindowPoSt(proof.WindowPoStVerifyInfo{Randomness: rnd, Proofs: postProofs(resp.GetProofs()), ChallengedSectors: public(set), Prover: abi.ActorID(miner)})
		if err != nil || !ok {
			t.Fatalf("VerifyWindowPoSt in the test process = %v, %v", ok, err)
		}
	})

	t.Run("window_post names a faulty sector", func(t *testing.T) {
		// A sector whose tree_r_last is corrupt (random bytes over it, size
		// kept): its inclusion proofs fail, filecoin-ffi reports it faulty,
		// and the stage answers the list instead of an error, so the caller
		// can prove again without it.
		broken := newSector(t)
		b := sealPC2(t, st, broken, 62, ccPieces())
		trees, _ := filepath.Glob(filepath.Join(broken.cache, "sc-02-data-tree-r-last*.dat"))
		if len(trees) == 0 {
			t.Fatalf("no tree_r_last in %s", broken.cache)
		}
		for _, f := range trees {
			fi, _ := os.Stat(f)
			junk := make([]byte, fi.Size())
			rand.Read(junk)
			os.WriteFile(f, junk, 0o644)
		}
		bad := &sealv1.PoStSector{RegisteredSealProof: int64(proof2K), SectorNumber: 62, SealedCid: b.commR.String(), CachePath: broken.cache, SealedPath: broken.sealed}
		resp, err := st.WindowPoSt(ctx, &sealv1.WindowPoStRequest{MinerId: miner, RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1),
			Randomness: postRandomness(t), Sectors: []*sealv1.PoStSector{set[0], bad}})
		if err != nil {
			t.Fatalf("window_post over a sector with a corrupt tree_r_last: %v, want it named faulty", err)
		}
		if len(resp.GetFaultySectors()) != 1 || resp.GetFaultySectors()[0] != 62 || resp.GetVerified() || len(resp.GetProofs()) != 0 {
			t.Fatalf("window_post answered faulty %v, verified %v, %d proofs; want sector 62 faulty and no proof", resp.GetFaultySectors(), resp.GetVerified(), len(resp.GetProofs()))
		}
	})

	t.Run("winning_post", func(t *testing.T) {
		typ := abi.RegisteredPoStProof_StackedDrgWinning2KiBV1
		rnd := postRandomness(t)
		idx, err := ffi.GenerateWinningPoStSectorChallenge(typ, abi.ActorID(miner), rnd, uint64(len(set)))
		if err != nil {
			t.Fatal(err)
		}
		var challenged []*sealv1.PoStSector
		for _, i := range idx {
			challenged = append(challenged, set[i])
		}
		resp, err := st.WinningPoSt(ctx, &sealv1.WinningPoStRequest{MinerId: miner, RegisteredPostProof: int64(typ), Randomness: rnd, Sectors: challenged})
		if err != nil {
			t.Fatalf("winning_post: %v", err)
		}
		if !resp.GetVerified() {
			t.Fatal("winning_post not verified")
		}
		ok, err := ffi.VerifyWinningPoSt(proof.WinningPoStVerifyInfo{Randomness: rnd, Proofs: postProofs(resp.GetProofs()), ChallengedSectors: public(challenged), Prover: abi.ActorID(miner)})
		if err != nil || !ok {
			t.Fatalf("VerifyWinningPoSt in the test process = %v, %v", ok, err)
		}
	})
}
