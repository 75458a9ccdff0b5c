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

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// fakeProver is fakeSealer with the calls on sealed sectors.
type fakeProver struct {
	*fakeSealer
	faults []abi.SectorNumber
	// unsealBytes is how many bytes UnsealRange writes (the range's size
	// when 0).
	unsealBytes int
	// encodeWrites is a file EncodeInto writes into the new cache.
	encodeWrites string
}

var (
	fakePieceCID, _ = commcid.PieceCommitmentV1ToCID(bytes.Repeat([]byte{7}, 32))
	fakeCommR, _    = commcid.ReplicaCommitmentV1ToCID(bytes.Repeat([]byte{1}, 32))
	fakeCommR2, _   = commcid.ReplicaCommitmentV1ToCID(bytes.Repeat([]byte{5}, 32))
	fakeCommD, _    = commcid.DataCommitmentV1ToCID(bytes.Repeat([]byte{2}, 32))
)

func (f *fakeProver) AddPiece(_ context.Context, sp abi.RegisteredSealProof, piecePath string, size abi.UnpaddedPieceSize,
	stagedPath string, existing []abi.UnpaddedPieceSize) (abi.UnpaddedPieceSize, abi.UnpaddedPieceSize, cid.Cid, error) {
	f.record("add_piece", sp, piecePath, size, stagedPath, existing)
	if f.err != nil {
		return 0, 0, cid.Undef, f.err
	}
	out, err := os.OpenFile(stagedPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, 0, cid.Undef, err
	}
	defer out.Close()
	out.Write(bytes.Repeat([]byte{0xaa}, int(size.Padded())))
	return 0, size, fakePieceCID, nil
}

func (f *fakeProver) EncodeInto(_ context.Context, up abi.RegisteredUpdateProof, newReplica, newCache, sectorKey, sectorKeyCache, staged string,
	pieces []abi.PieceInfo) (cid.Cid, cid.Cid, error) {
	f.record("snap_encode", up, newReplica, newCache, sectorKey, sectorKeyCache, staged, pieces)
	if f.encodeWrites != "" {
		os.WriteFile(filepath.Join(newCache, f.encodeWrites), []byte("partial"), 0o644)
	}
	return fakeCommR2, fakeCommD, f.err
}

func (f *fakeProver) GenerateUpdateVanillaProofs(_ context.Context, up abi.RegisteredUpdateProof, old, newR, newD cid.Cid,
	newReplica, newCache, sectorKey, sectorKeyCache string) ([][]byte, error) {
	f.record("snap_vanilla", up, old, newR, newD, newReplica, newCache, sectorKey, sectorKeyCache)
	return [][]byte{[]byte("vanilla")}, f.err
}

func (f *fakeProver) GenerateUpdateProofWithVanilla(_ context.Context, up abi.RegisteredUpdateProof, old, newR, newD cid.Cid, vanilla [][]byte) ([]byte, error) {
	f.record("snap_prove", up, old, newR, newD, vanilla)
	return make([]byte, 192), f.err
}

func (f *fakeProver) VerifyUpdateProof(_ context.Context, info proof.ReplicaUpdateInfo) (bool, error) {
	f.record("verify_update", info)
	return !f.invalid, nil
}

func (f *fakeProver) GenerateWinningPoSt(_ context.Context, miner abi.ActorID, sectors []PoStSector, rnd abi.PoStRandomness) ([]proof.PoStProof, error) {
	f.record("winning_post", miner, sectors, rnd)
	return []proof.PoStProof{{PoStProof: sectors[0].PoStProofType, ProofBytes: make([]byte, 192)}}, f.err
}

func (f *fakeProver) VerifyWinningPoSt(_ context.Context, info proof.WinningPoStVerifyInfo) (bool, error) {
	f.record("verify_winning_post", info)
	return !f.invalid, nil
}

func (f *fakeProver) GenerateWindowPoSt(_ context.Context, miner abi.ActorID, sectors []PoStSector, rnd abi.PoStRandomness) ([]proof.PoStProof, []abi.SectorNumber, error) {
	f.record("window_post", miner, sectors, rnd)
	if len(f.faults) > 0 {
		return nil, f.faults, errors.New("faulty sectors")
	}
	return []proof.PoStProof{{PoStProof: sectors[0].PoStProofType, ProofBytes: make([]byte, 192)}}, nil, f.err
}

func (f *fakeProver) VerifyWindowPoSt(_ context.Context, info proof.WindowPoStVerifyInfo) (bool, error) {
	f.record("verify_window_post", info)
	return !f.invalid, nil
}

func (f *fakeProver) UnsealRange(_ context.Context, sp abi.RegisteredSealProof, cacheDir, sealed, out string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, unsealed cid.Cid, offset, size uint64) error {
	f.record("unseal", sp, cacheDir, sealed, out, sector, miner, ticket, unsealed, offset, size)
	n := int(size)
	if f.unsealBytes != 0 {
		n = f.unsealBytes
	}
	os.WriteFile(out, make([]byte, n), 0o644)
	return f.err
}

func newFakeProver() *fakeProver { return &fakeProver{fakeSealer: &fakeSealer{}} }

func (f *fakeProver) names() []string {
	var out []string
	for _, c := range f.calls {
		out = append(out, c.name)
	}
	return out
}

// snapDirs is a sealed CC sector (the key) and a new replica laid out as
// lotus lays them out before snap_encode.
type snapDirs struct {
	key                   sectorDirs
	replica, replicaCache string
}

func newSnap(t *testing.T) snapDirs {
	s := newSector(t)
	os.WriteFile(s.sealed, make([]byte, 2048), 0o644)
	d := t.TempDir()
	sd := snapDirs{key: s, replica: filepath.Join(d, "update"), replicaCache: filepath.Join(d, "update-cache")}
	os.WriteFile(sd.replica, make([]byte, 2048), 0o644)
	os.Mkdir(sd.replicaCache, 0o755)
	return sd
}

func (sd snapDirs) encodeReq() *sealv1.SnapEncodeRequest {
	return &sealv1.SnapEncodeRequest{Sector: sector, RegisteredUpdateProof: int64(abi.RegisteredUpdateProof_StackedDrg2KiBV1),
		NewReplicaPath: sd.replica, NewCachePath: sd.replicaCache, SectorKeyPath: sd.key.sealed, SectorKeyCachePath: sd.key.cache,
		StagedPath: sd.key.staged, Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: fakePieceCID.String()}}}
}

func (sd snapDirs) proveReq() *sealv1.SnapProveRequest {
	return &sealv1.SnapProveRequest{Sector: sector, RegisteredUpdateProof: int64(abi.RegisteredUpdateProof_StackedDrg2KiBV1),
		OldSealedCid: fakeCommR.String(), NewSealedCid: fakeCommR2.String(), NewUnsealedCid: fakeCommD.String(),
		NewReplicaPath: sd.replica, NewCachePath: sd.replicaCache, SectorKeyPath: sd.key.sealed, SectorKeyCachePath: sd.key.cache}
}

func postSector(s sectorDirs, num uint64) *sealv1.PoStSector {
	os.WriteFile(s.sealed, make([]byte, 2048), 0o644)
	return &sealv1.PoStSector{RegisteredSealProof: int64(proof2K), SectorNumber: num, SealedCid: fakeCommR.String(), CachePath: s.cache, SealedPath: s.sealed}
}

var postRnd = append(bytes.Repeat([]byte{9}, 31), 0x3f)

func unsealReq(s sectorDirs) *sealv1.UnsealRequest {
	os.WriteFile(s.sealed, make([]byte, 2048), 0o644)
	return &sealv1.UnsealRequest{Sector: sector, CachePath: s.cache, SealedPath: s.sealed, UnsealedPath: filepath.Join(filepath.Dir(s.sealed), "unsealed"),
		Ticket: ticket, UnsealedCid: fakeCommD.String(), Offset: 0, NumBytes: 2032}
}

// TestProvingStagesRefuse: bad requests fail with an error naming the
// field and the fix, before any call into filecoin-ffi.
func TestProvingStagesRefuse(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, st *stages) error
		want string
	}{
		{"snap_encode update proof of another size", func(t *testing.T, st *stages) error {
			r := newSnap(t).encodeReq()
			r.RegisteredUpdateProof = int64(abi.RegisteredUpdateProof_StackedDrg8MiBV1)
			_, err := st.SnapEncode(ctx, r)
			return err
		}, "registered_update_proof 1 does not belong to registered_seal_proof 5: want 0"},
		{"snap_encode replica not at sector size", func(t *testing.T, st *stages) error {
			sd := newSnap(t)
			os.Truncate(sd.replica, 0)
			_, err := st.SnapEncode(ctx, sd.encodeReq())
			return err
		}, "is 0 bytes, want the sector's 2048: create it at the sector size"},
		{"snap_encode pieces short", func(t *testing.T, st *stages) error {
			r := newSnap(t).encodeReq()
			r.Pieces[0].Size = 1024
			_, err := st.SnapEncode(ctx, r)
			return err
		}, "pieces add up to 1024"},
		{"snap_encode no cache", func(t *testing.T, st *stages) error {
			sd := newSnap(t)
			os.Remove(sd.replicaCache)
			_, err := st.SnapEncode(ctx, sd.encodeReq())
			return err
		}, "new_cache_path"},
		{"snap_prove bad old comm_r", func(t *testing.T, st *stages) error {
			r := newSnap(t).proveReq()
			r.OldSealedCid = "nope"
			_, err := st.SnapProve(ctx, r)
			return err
		}, `old_sealed_cid "nope" is not a CID`},
		{"snap_prove without vanilla proofs or replica", func(t *testing.T, st *stages) error {
			r := newSnap(t).proveReq()
			r.NewReplicaPath = ""
			_, err := st.SnapProve(ctx, r)
			return err
		}, "new_replica_path is empty"},
		{"snap_prove empty vanilla proof", func(t *testing.T, st *stages) error {
			r := newSnap(t).proveReq()
			r.VanillaProofs = [][]byte{{}}
			_, err := st.SnapProve(ctx, r)
			return err
		}, "vanilla_proofs[0] is empty"},
		{"window_post randomness not a field element", func(t *testing.T, st *stages) error {
			rnd := bytes.Repeat([]byte{0xff}, 32)
			_, err := st.WindowPoSt(ctx, &sealv1.WindowPoStRequest{RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1),
				Randomness: rnd, Sectors: []*sealv1.PoStSector{postSector(newSector(t), 1)}})
			return err
		}, "randomness[31] &= 0x3f"},
		{"window_post no sectors", func(t *testing.T, st *stages) error {
			_, err := st.WindowPoSt(ctx, &sealv1.WindowPoStRequest{RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1), Randomness: postRnd})
			return err
		}, "sectors is empty"},
		{"window_post with a winning proof type", func(t *testing.T, st *stages) error {
			_, err := st.WindowPoSt(ctx, &sealv1.WindowPoStRequest{RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWinning2KiBV1),
				Randomness: postRnd, Sectors: []*sealv1.PoStSector{postSector(newSector(t), 1)}})
			return err
		}, "registered_post_proof 0 cannot prove sectors[0]"},
		{"window_post same sector twice", func(t *testing.T, st *stages) error {
			s := newSector(t)
			_, err := st.WindowPoSt(ctx, &sealv1.WindowPoStRequest{RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1),
				Randomness: postRnd, Sectors: []*sealv1.PoStSector{postSector(s, 3), postSector(s, 3)}})
			return err
		}, "sectors[1] and sectors[0] are both sector 3"},
		{"window_post sealed file missing", func(t *testing.T, st *stages) error {
			ps := postSector(newSector(t), 1)
			os.Remove(ps.SealedPath)
			_, err := st.WindowPoSt(ctx, &sealv1.WindowPoStRequest{RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1),
				Randomness: postRnd, Sectors: []*sealv1.PoStSector{ps}})
			return err
		}, "sectors[0].sealed_path"},
		{"winning_post with a window proof type", func(t *testing.T, st *stages) error {
			_, err := st.WinningPoSt(ctx, &sealv1.WinningPoStRequest{RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1),
				Randomness: postRnd, Sectors: []*sealv1.PoStSector{postSector(newSector(t), 1)}})
			return err
		}, "winning_post: registered_post_proof 5 cannot prove"},
		{"unseal nothing", func(t *testing.T, st *stages) error {
			r := unsealReq(newSector(t))
			r.NumBytes = 0
			_, err := st.Unseal(ctx, r)
			return err
		}, "num_bytes is 0"},
		{"unseal past the end", func(t *testing.T, st *stages) error {
			r := unsealReq(newSector(t))
			r.Offset = 1016
			_, err := st.Unseal(ctx, r)
			return err
		}, "offset 1016 + num_bytes 2032 runs past the sector's 2032 unpadded bytes"},
		{"unseal short ticket", func(t *testing.T, st *stages) error {
			r := unsealReq(newSector(t))
			r.Ticket = r.Ticket[:31]
			_, err := st.Unseal(ctx, r)
			return err
		}, "ticket has 31 bytes, want 32"},
		{"unseal output folder missing", func(t *testing.T, st *stages) error {
			r := unsealReq(newSector(t))
			r.UnsealedPath = filepath.Join(t.TempDir(), "no", "unsealed")
			_, err := st.Unseal(ctx, r)
			return err
		}, "unsealed_path's folder"},
		{"add_pieces do not fit", func(t *testing.T, st *stages) error {
			_, err := st.AddPieces(ctx, &sealv1.AddPiecesRequest{Sector: sector, StagedPath: filepath.Join(t.TempDir(), "staged"),
				Pieces: []*sealv1.PieceFile{{Size: 1024}, {Size: 2048}}})
			return err
		}, "pieces[1] ends at padded byte 4096 (alignment included), past the sector's 2048"},
		{"add_pieces short file", func(t *testing.T, st *stages) error {
			src := filepath.Join(t.TempDir(), "piece")
			os.WriteFile(src, make([]byte, 100), 0o644)
			_, err := st.AddPieces(ctx, &sealv1.AddPiecesRequest{Sector: sector, StagedPath: filepath.Join(t.TempDir(), "staged"),
				Pieces: []*sealv1.PieceFile{{Path: src, Size: 1024}}})
			return err
		}, "has 100 bytes, want 1016 (size 1024 unpadded): pad the deal's data"},
		{"add_pieces bad size", func(t *testing.T, st *stages) error {
			_, err := st.AddPieces(ctx, &sealv1.AddPiecesRequest{Sector: sector, StagedPath: filepath.Join(t.TempDir(), "staged"),
				Pieces: []*sealv1.PieceFile{{Size: 1000}}})
			return err
		}, "pieces[0].size 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProver()
			err := tc.run(t, &stages{sealer: f})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if len(f.calls) != 0 {
				t.Fatalf("filecoin-ffi was called: %v", f.names())
			}
		})
	}
}

func TestSnapStages(t *testing.T) {
	ctx := context.Background()
	t.Run("encode maps its arguments", func(t *testing.T) {
		sd := newSnap(t)
		f := newFakeProver()
		resp, err := (&stages{sealer: f}).SnapEncode(ctx, sd.encodeReq())
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetSealedCid() != fakeCommR2.String() || resp.GetUnsealedCid() != fakeCommD.String() {
			t.Fatalf("response %v", resp)
		}
		want := []any{abi.RegisteredUpdateProof_StackedDrg2KiBV1, sd.replica, sd.replicaCache, sd.key.sealed, sd.key.cache, sd.key.staged,
			[]abi.PieceInfo{{Size: 2048, PieceCID: fakePieceCID}}}
		if !reflect.DeepEqual(f.calls[0].args, want) {
			t.Fatalf("EncodeInto got %v, want %v", f.calls[0].args, want)
		}
	})
	t.Run("failed encode cleans the new cache", func(t *testing.T) {
		sd := newSnap(t)
		os.WriteFile(filepath.Join(sd.replicaCache, "operator-note"), nil, 0o644)
		f := newFakeProver()
		f.err, f.encodeWrites = errors.New("boom"), "sc-02-data-tree-r-last.dat"
		if _, err := (&stages{sealer: f}).SnapEncode(ctx, sd.encodeReq()); err == nil || !strings.Contains(err.Error(), "snap_encode: boom") {
			t.Fatalf("err = %v", err)
		}
		ents, _ := os.ReadDir(sd.replicaCache)
		if len(ents) != 1 || ents[0].Name() != "operator-note" {
			t.Fatalf("new cache after a failed encode: %v, want only the file that was there before", ents)
		}
	})
	t.Run("prove makes vanilla proofs, the SNARK, and verifies it", func(t *testing.T) {
		f := newFakeProver()
		resp, err := (&stages{sealer: f}).SnapProve(ctx, newSnap(t).proveReq())
		if err != nil {
			t.Fatal(err)
		}
		if got := f.names(); !reflect.DeepEqual(got, []string{"snap_vanilla", "snap_prove", "verify_update"}) {
			t.Fatalf("calls %v", got)
		}
		if !resp.GetVerified() || len(resp.GetProof()) != 192 || !strings.HasPrefix(resp.GetVerification(), "VerifyUpdateProof") {
			t.Fatalf("response verified=%v proof %d bytes verification %q", resp.GetVerified(), len(resp.GetProof()), resp.GetVerification())
		}
		info := f.calls[2].args[0].(proof.ReplicaUpdateInfo)
		if !info.OldSealedSectorCID.Equals(fakeCommR) || !info.NewSealedSectorCID.Equals(fakeCommR2) || !info.NewUnsealedSectorCID.Equals(fakeCommD) {
			t.Fatalf("verified against %+v", info)
		}
	})
	t.Run("prove with vanilla proofs reads no file", func(t *testing.T) {
		f := newFakeProver()
		r := newSnap(t).proveReq()
		r.NewReplicaPath, r.NewCachePath, r.SectorKeyPath, r.SectorKeyCachePath = "", "", "", ""
		r.VanillaProofs = [][]byte{[]byte("made elsewhere")}
		if _, err := (&stages{sealer: f}).SnapProve(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got := f.names(); !reflect.DeepEqual(got, []string{"snap_prove", "verify_update"}) {
			t.Fatalf("calls %v", got)
		}
		if v := f.calls[0].args[4].([][]byte); string(v[0]) != "made elsewhere" {
			t.Fatalf("vanilla proofs passed on: %q", v)
		}
	})
	t.Run("a proof that does not verify is not returned", func(t *testing.T) {
		f := newFakeProver()
		f.invalid = true
		_, err := (&stages{sealer: f}).SnapProve(ctx, newSnap(t).proveReq())
		if err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPoStStages(t *testing.T) {
	ctx := context.Background()
	window := func(t *testing.T) *sealv1.WindowPoStRequest {
		return &sealv1.WindowPoStRequest{MinerId: 1000, RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1),
			Randomness: postRnd, Sectors: []*sealv1.PoStSector{postSector(newSector(t), 1), postSector(newSector(t), 2)}}
	}
	t.Run("window proves and verifies", func(t *testing.T) {
		f := newFakeProver()
		resp, err := (&stages{sealer: f}).WindowPoSt(ctx, window(t))
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetVerified() || len(resp.GetProofs()) != 1 || resp.GetProofs()[0].GetRegisteredPostProof() != int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1) {
			t.Fatalf("response %v", resp)
		}
		info := f.calls[1].args[0].(proof.WindowPoStVerifyInfo)
		if info.Prover != 1000 || len(info.ChallengedSectors) != 2 || info.ChallengedSectors[1].SectorNumber != 2 || !bytes.Equal(info.Randomness, postRnd) {
			t.Fatalf("verified with %+v", info)
		}
	})
	t.Run("window faults are an answer", func(t *testing.T) {
		f := newFakeProver()
		f.faults = []abi.SectorNumber{2}
		resp, err := (&stages{sealer: f}).WindowPoSt(ctx, window(t))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(resp.GetFaultySectors(), []uint64{2}) || len(resp.GetProofs()) != 0 || resp.GetVerified() {
			t.Fatalf("response %v", resp)
		}
	})
	t.Run("window proof that does not verify", func(t *testing.T) {
		f := newFakeProver()
		f.invalid = true
		if _, err := (&stages{sealer: f}).WindowPoSt(ctx, window(t)); err == nil || !strings.Contains(err.Error(), "VerifyWindowPoSt false") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("winning proves and verifies", func(t *testing.T) {
		f := newFakeProver()
		resp, err := (&stages{sealer: f}).WinningPoSt(ctx, &sealv1.WinningPoStRequest{MinerId: 1000, RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWinning2KiBV1),
			Randomness: postRnd, Sectors: []*sealv1.PoStSector{postSector(newSector(t), 7)}})
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetVerified() || !strings.HasPrefix(resp.GetVerification(), "VerifyWinningPoSt") {
			t.Fatalf("response %v", resp)
		}
		sectors := f.calls[0].args[1].([]PoStSector)
		if sectors[0].SectorNumber != 7 || sectors[0].PoStProofType != abi.RegisteredPoStProof_StackedDrgWinning2KiBV1 {
			t.Fatalf("proved %+v", sectors)
		}
	})
}

func TestUnsealStage(t *testing.T) {
	ctx := context.Background()
	t.Run("maps its arguments", func(t *testing.T) {
		f := newFakeProver()
		r := unsealReq(newSector(t))
		r.Offset, r.NumBytes = 1016, 1016
		resp, err := (&stages{sealer: f}).Unseal(ctx, r)
		if err != nil || resp.GetNumBytes() != 1016 {
			t.Fatalf("%v, %v", resp, err)
		}
		a := f.calls[0].args
		if a[3] != r.UnsealedPath || a[4] != abi.SectorNumber(42) || a[5] != abi.ActorID(1000) || a[8] != uint64(1016) || a[9] != uint64(1016) {
			t.Fatalf("UnsealRange got %v", a)
		}
	})
	t.Run("a short output is removed", func(t *testing.T) {
		f := newFakeProver()
		f.unsealBytes = 100
		r := unsealReq(newSector(t))
		if _, err := (&stages{sealer: f}).Unseal(ctx, r); err == nil || !strings.Contains(err.Error(), "wrote 100 bytes") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(r.UnsealedPath); !os.IsNotExist(err) {
			t.Fatalf("the partial output is still there: %v", err)
		}
	})
}

func TestAddPiecesStage(t *testing.T) {
	ctx := context.Background()
	zero := func(n uint64) *sealv1.PieceInfo {
		return &sealv1.PieceInfo{Size: n, PieceCid: zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(n).Unpadded()).String()}
	}
	data := func(n uint64) *sealv1.PieceInfo { return &sealv1.PieceInfo{Size: n, PieceCid: fakePieceCID.String()} }
	for _, tc := range []struct {
		name     string
		pieces   []uint64 // 0 bit set in the name's sense: see files
		withData []bool
		want     []*sealv1.PieceInfo
		// existing is what AddPiece is told is already there, per data piece.
		existing [][]abi.UnpaddedPieceSize
	}{
		{"one full piece", []uint64{2048}, []bool{true}, []*sealv1.PieceInfo{data(2048)}, [][]abi.UnpaddedPieceSize{nil}},
		{"small piece, filled to the end", []uint64{256}, []bool{true}, []*sealv1.PieceInfo{data(256), zero(256), zero(512), zero(1024)}, [][]abi.UnpaddedPieceSize{nil}},
		{"aligned before a larger piece", []uint64{256, 1024}, []bool{true, true},
			[]*sealv1.PieceInfo{data(256), zero(256), zero(512), data(1024)}, [][]abi.UnpaddedPieceSize{nil, {254, 254, 508}}},
		{"a piece of zeros needs no data", []uint64{512, 1024}, []bool{true, false},
			[]*sealv1.PieceInfo{data(512), zero(512), zero(1024)}, [][]abi.UnpaddedPieceSize{nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var req []*sealv1.PieceFile
			for i, n := range tc.pieces {
				pf := &sealv1.PieceFile{Size: n}
				if tc.withData[i] {
					pf.Path = filepath.Join(dir, "piece")
					os.WriteFile(pf.Path, make([]byte, abi.PaddedPieceSize(n).Unpadded()), 0o644)
				}
				req = append(req, pf)
			}
			f := newFakeProver()
			staged := filepath.Join(dir, "staged")
			resp, err := (&stages{sealer: f}).AddPieces(ctx, &sealv1.AddPiecesRequest{Sector: sector, StagedPath: staged, Pieces: req})
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, p := range resp.GetPieces() {
				got = append(got, p.String())
			}
			for _, p := range tc.want {
				want = append(want, p.String())
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pieces\n%v\nwant\n%v", got, want)
			}
			b, _ := os.ReadFile(staged)
			if len(b) != 2048 {
				t.Fatalf("staged file %d bytes, want 2048", len(b))
			}
			// The data pieces' bytes are where the piece list says.
			var off uint64
			for _, p := range resp.GetPieces() {
				isData := p.GetPieceCid() == fakePieceCID.String()
				if isData != (b[off] == 0xaa) {
					t.Fatalf("byte %d is %#x; piece there is %v", off, b[off], p)
				}
				off += p.GetSize()
			}
			var n int
			for _, c := range f.calls {
				if !reflect.DeepEqual(c.args[4], tc.existing[n]) && !(len(tc.existing[n]) == 0 && len(c.args[4].([]abi.UnpaddedPieceSize)) == 0) {
					t.Fatalf("AddPiece %d told existing %v, want %v", n, c.args[4], tc.existing[n])
				}
				n++
			}
		})
	}
	t.Run("wrong data is refused and the staged file removed", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "piece")
		os.WriteFile(src, make([]byte, 2032), 0o644)
		staged := filepath.Join(dir, "staged")
		_, err := (&stages{sealer: newFakeProver()}).AddPieces(ctx, &sealv1.AddPiecesRequest{Sector: sector, StagedPath: staged,
			Pieces: []*sealv1.PieceFile{{Path: src, Size: 2048, PieceCid: zeroPiece2K.String()}}})
		if err == nil || !strings.Contains(err.Error(), "the file is not the deal's data") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(staged); !os.IsNotExist(err) {
			t.Fatalf("staged file left: %v", err)
		}
	})
}

func TestZeroPieces(t *testing.T) {
	for _, tc := range []struct {
		off, align uint64
		want       []uint64
	}{
		{0, 2048, nil},
		{256, 1024, []uint64{256, 512}},
		{384, 2048, []uint64{128, 512, 1024}},
		{1024, 1024, nil},
	} {
		got := zeroPieces(tc.off, tc.align)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("zeroPieces(%d, %d) = %v, want %v", tc.off, tc.align, got, tc.want)
		}
		// Each starts at a multiple of its own size.
		off := tc.off
		for _, p := range got {
			if off%p != 0 {
				t.Errorf("zeroPieces(%d, %d): piece %d at %d is not aligned", tc.off, tc.align, p, off)
			}
			off += p
		}
	}
}
