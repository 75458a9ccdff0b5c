package main

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The stages on sealed sectors (snap_encode, snap_prove, window_post,
// winning_post, unseal, add_pieces) check their input as the sealing stages
// do, then make their calls through the Prover the plugin runs with (the
// same child process per call). Proofs are verified before they are
// returned, as c2's are: a WindowPoSt that does not verify costs the miner a
// fault, and here a retry is still possible.

func (s *stages) prover() (Prover, error) {
	p, ok := s.sealer.(Prover)
	if !ok {
		return nil, sdk.Errorf("%T cannot make the calls on sealed sectors (snap, PoSt, unseal, add_pieces)", s.sealer)
	}
	return p, nil
}

// updateProofOf checks that the update proof type belongs to the sector's
// seal proof (same size), as lotus derives it.
func updateProofOf(sealProof abi.RegisteredSealProof, got int64) (abi.RegisteredUpdateProof, error) {
	want, err := sealProof.RegisteredUpdateProof()
	if err != nil {
		return 0, sdk.Errorf("registered_seal_proof %d has no snap update proof: %v", sealProof, err)
	}
	if abi.RegisteredUpdateProof(got) != want {
		return 0, sdk.Errorf("registered_update_proof %d does not belong to registered_seal_proof %d: want %d (abi.RegisteredSealProof.RegisteredUpdateProof)", got, sealProof, want)
	}
	return want, nil
}

// checkSized checks that a file exists and is exactly size bytes.
func checkSized(field, path string, size uint64, fix string) error {
	if err := checkFile(field, path, false); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return sdk.Errorf("%s: %v", field, err)
	}
	if uint64(st.Size()) != size {
		return sdk.Errorf("%s %s is %d bytes, want the sector's %d: %s", field, path, st.Size(), size, fix)
	}
	return nil
}

// snapInput checks what snap_encode and snap_prove share: the sector and
// its update proof type.
func (s *stages) snapInput(sector *sealv1.Sector, upType int64) (Prover, uint64, abi.RegisteredUpdateProof, error) {
	p, err := s.prover()
	if err != nil {
		return nil, 0, 0, err
	}
	sp, size, err := sectorOf(sector)
	if err != nil {
		return nil, 0, 0, err
	}
	up, err := updateProofOf(sp, upType)
	return p, size, up, err
}

// checkSnapFiles checks the four files of a snap update; replicaFix says
// how to make a new replica of the wrong size right.
func checkSnapFiles(size uint64, replica, replicaCache, key, keyCache, replicaFix string) error {
	if err := checkSized("new_replica_path", replica, size, replicaFix); err != nil {
		return err
	}
	if err := checkDir("new_cache_path", replicaCache); err != nil {
		return err
	}
	if err := checkSized("sector_key_path", key, size, "pass the CC sector's sealed file"); err != nil {
		return err
	}
	return checkDir("sector_key_cache_path", keyCache)
}

func (s *stages) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	p, size, up, err := s.snapInput(req.GetSector(), req.GetRegisteredUpdateProof())
	if err != nil {
		return nil, err
	}
	pieces, err := piecesOf(req.GetPieces(), size)
	if err != nil {
		return nil, err
	}
	if err := checkSnapFiles(size, req.GetNewReplicaPath(), req.GetNewCachePath(), req.GetSectorKeyPath(), req.GetSectorKeyCachePath(),
		"create it at the sector size before snap_encode, as lotus does"); err != nil {
		return nil, err
	}
	if err := checkSized("staged_path", req.GetStagedPath(), size, "pass add_pieces' output, the whole sector's data"); err != nil {
		return nil, err
	}
	var newR, newD cid.Cid
	err = withCleanup(ctx, req.GetNewCachePath(), func() error {
		var e error
		newR, newD, e = p.EncodeInto(ctx, up, req.GetNewReplicaPath(), req.GetNewCachePath(), req.GetSectorKeyPath(),
			req.GetSectorKeyCachePath(), req.GetStagedPath(), pieces)
		return e
	})
	if err != nil {
		return nil, stageErr("snap_encode", err)
	}
	return &sealv1.SnapEncodeResponse{SealedCid: newR.String(), UnsealedCid: newD.String()}, nil
}

func (s *stages) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	p, size, up, err := s.snapInput(req.GetSector(), req.GetRegisteredUpdateProof())
	if err != nil {
		return nil, err
	}
	old, err := parseCID("old_sealed_cid", req.GetOldSealedCid())
	if err != nil {
		return nil, err
	}
	newR, err := parseCID("new_sealed_cid", req.GetNewSealedCid())
	if err != nil {
		return nil, err
	}
	newD, err := parseCID("new_unsealed_cid", req.GetNewUnsealedCid())
	if err != nil {
		return nil, err
	}
	vanilla := req.GetVanillaProofs()
	if len(vanilla) == 0 {
		// The vanilla proofs are made here, from the files.
		if err := checkSnapFiles(size, req.GetNewReplicaPath(), req.GetNewCachePath(), req.GetSectorKeyPath(), req.GetSectorKeyCachePath(),
			"pass snap_encode's new replica"); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		vanilla, err = p.GenerateUpdateVanillaProofs(ctx, up, old, newR, newD, req.GetNewReplicaPath(), req.GetNewCachePath(),
			req.GetSectorKeyPath(), req.GetSectorKeyCachePath())
		if err != nil {
			return nil, stageErr("snap_prove: vanilla proofs", err)
		}
	}
	for i, v := range vanilla {
		if len(v) == 0 {
			return nil, sdk.Errorf("snap_prove: vanilla_proofs[%d] is empty: pass GenerateUpdateVanillaProofs' output unchanged", i)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	snark, err := p.GenerateUpdateProofWithVanilla(ctx, up, old, newR, newD, vanilla)
	if err != nil {
		return nil, stageErr("snap_prove", err)
	}
	ok, err := p.VerifyUpdateProof(ctx, proof.ReplicaUpdateInfo{UpdateProofType: up, OldSealedSectorCID: old,
		NewSealedSectorCID: newR, NewUnsealedSectorCID: newD, Proof: snark})
	if err != nil {
		return nil, stageErr("snap_prove: verifying the proof", err)
	}
	if !ok {
		return nil, sdk.Errorf("snap_prove: the update proof for sector %d does not verify (VerifyUpdateProof false for old comm_r %s, new comm_r %s, comm_d %s): not returned; %s",
			req.GetSector().GetSectorNumber(), old, newR, newD, paramsHint)
	}
	return &sealv1.SnapProveResponse{Proof: snark, Verified: true, Verification: verifiedWith("VerifyUpdateProof")}, nil
}

const paramsHint = "check that FIL_PROOFS_PARAMETER_CACHE holds the parameters and verifying keys of one setup"

// verifiedWith is verification() naming the filecoin-ffi function used.
func verifiedWith(fn string) string {
	v := verification()
	const seal = "VerifySeal"
	if len(v) >= len(seal) && v[:len(seal)] == seal {
		return fn + v[len(seal):]
	}
	return fn + ": " + v
}

// postSectors checks a PoSt's sectors and its proof type: every sector's
// seal proof has the PoSt proof type's sector size and the kind (window or
// winning) the stage proves.
func postSectors(kind string, typ abi.RegisteredPoStProof, in []*sealv1.PoStSector) ([]PoStSector, error) {
	if len(in) == 0 {
		return nil, sdk.Errorf("%s: sectors is empty: pass the sectors to prove", kind)
	}
	out := make([]PoStSector, len(in))
	seen := map[uint64]int{}
	for i, ps := range in {
		field := fmt.Sprintf("sectors[%d]", i)
		sp := abi.RegisteredSealProof(ps.GetRegisteredSealProof())
		var want []abi.RegisteredPoStProof
		if kind == "winning_post" {
			w, err := sp.RegisteredWinningPoStProof()
			if err != nil {
				return nil, sdk.Errorf("%s.registered_seal_proof %d: %v", field, ps.GetRegisteredSealProof(), err)
			}
			want = []abi.RegisteredPoStProof{w}
		} else {
			w, err := sp.RegisteredWindowPoStProof()
			if err != nil {
				return nil, sdk.Errorf("%s.registered_seal_proof %d: %v", field, ps.GetRegisteredSealProof(), err)
			}
			// V1 and V1_1 (FIP-0061, lotus' choice since network
			// version 21) prove the same sectors.
			want = []abi.RegisteredPoStProof{w, w + abi.RegisteredPoStProof_StackedDrgWindow2KiBV1_1 - abi.RegisteredPoStProof_StackedDrgWindow2KiBV1}
		}
		if typ != want[0] && (len(want) == 1 || typ != want[1]) {
			return nil, sdk.Errorf("%s: registered_post_proof %d cannot prove %s (registered_seal_proof %d): want one of %v", kind, typ, field, sp, want)
		}
		if j, dup := seen[ps.GetSectorNumber()]; dup {
			return nil, sdk.Errorf("%s: %s and sectors[%d] are both sector %d: pass each sector once", kind, field, j, ps.GetSectorNumber())
		}
		seen[ps.GetSectorNumber()] = i
		c, err := parseCID(field+".sealed_cid", ps.GetSealedCid())
		if err != nil {
			return nil, err
		}
		if err := checkDir(field+".cache_path", ps.GetCachePath()); err != nil {
			return nil, err
		}
		if err := checkFile(field+".sealed_path", ps.GetSealedPath(), false); err != nil {
			return nil, err
		}
		out[i] = PoStSector{SectorInfo: proof.SectorInfo{SealProof: sp, SectorNumber: abi.SectorNumber(ps.GetSectorNumber()), SealedCID: c},
			PoStProofType: typ, CacheDirPath: ps.GetCachePath(), SealedSectorPath: ps.GetSealedPath()}
	}
	return out, nil
}

// checkPoStRandomness: filecoin-ffi takes PoSt randomness as a field
// element, which lotus makes by clearing the top two bits of the last byte.
func checkPoStRandomness(b []byte) error {
	if err := checkRandomness("randomness", b); err != nil {
		return err
	}
	if b[31]&0xc0 != 0 {
		return sdk.Errorf("randomness is not a field element (last byte %#x has a top bit set): clear them as lotus does (randomness[31] &= 0x3f)", b[31])
	}
	return nil
}

func publicSectors(in []PoStSector) []proof.SectorInfo {
	out := make([]proof.SectorInfo, len(in))
	for i, s := range in {
		out[i] = s.SectorInfo
	}
	return out
}

func protoProofs(in []proof.PoStProof) []*sealv1.PoStProof {
	out := make([]*sealv1.PoStProof, len(in))
	for i, p := range in {
		out[i] = &sealv1.PoStProof{RegisteredPostProof: int64(p.PoStProof), Proof: p.ProofBytes}
	}
	return out
}

// postInput checks what window_post and winning_post share: the
// randomness, the proof type and the sectors.
func (s *stages) postInput(ctx context.Context, kind string, typ int64, rnd []byte, in []*sealv1.PoStSector) (Prover, []PoStSector, error) {
	p, err := s.prover()
	if err != nil {
		return nil, nil, err
	}
	if err := checkPoStRandomness(rnd); err != nil {
		return nil, nil, err
	}
	sectors, err := postSectors(kind, abi.RegisteredPoStProof(typ), in)
	if err != nil {
		return nil, nil, err
	}
	return p, sectors, ctx.Err()
}

func (s *stages) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	p, sectors, err := s.postInput(ctx, "window_post", req.GetRegisteredPostProof(), req.GetRandomness(), req.GetSectors())
	if err != nil {
		return nil, err
	}
	miner := abi.ActorID(req.GetMinerId())
	proofs, faults, err := p.GenerateWindowPoSt(ctx, miner, sectors, req.GetRandomness())
	if len(faults) > 0 {
		// The caller declares them faulty and asks again without them.
		out := &sealv1.WindowPoStResponse{}
		for _, f := range faults {
			out.FaultySectors = append(out.FaultySectors, uint64(f))
		}
		sdk.Logger(ctx).Warn("window_post: filecoin-ffi could not prove some sectors", "faulty", out.FaultySectors, "error", err)
		return out, nil
	}
	if err != nil {
		return nil, stageErr("window_post", err)
	}
	ok, err := p.VerifyWindowPoSt(ctx, proof.WindowPoStVerifyInfo{Randomness: req.GetRandomness(), Proofs: proofs,
		ChallengedSectors: publicSectors(sectors), Prover: miner})
	if err != nil {
		return nil, stageErr("window_post: verifying the proof", err)
	}
	if !ok {
		return nil, sdk.Errorf("window_post: the proof over %d sectors does not verify (VerifyWindowPoSt false): not returned; %s", len(sectors), paramsHint)
	}
	return &sealv1.WindowPoStResponse{Proofs: protoProofs(proofs), Verified: true, Verification: verifiedWith("VerifyWindowPoSt")}, nil
}

func (s *stages) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	p, sectors, err := s.postInput(ctx, "winning_post", req.GetRegisteredPostProof(), req.GetRandomness(), req.GetSectors())
	if err != nil {
		return nil, err
	}
	miner := abi.ActorID(req.GetMinerId())
	proofs, err := p.GenerateWinningPoSt(ctx, miner, sectors, req.GetRandomness())
	if err != nil {
		return nil, stageErr("winning_post", err)
	}
	ok, err := p.VerifyWinningPoSt(ctx, proof.WinningPoStVerifyInfo{Randomness: req.GetRandomness(), Proofs: proofs,
		ChallengedSectors: publicSectors(sectors), Prover: miner})
	if err != nil {
		return nil, stageErr("winning_post: verifying the proof", err)
	}
	if !ok {
		return nil, sdk.Errorf("winning_post: the proof does not verify (VerifyWinningPoSt false): not returned; %s", paramsHint)
	}
	return &sealv1.WinningPoStResponse{Proofs: protoProofs(proofs), Verified: true, Verification: verifiedWith("VerifyWinningPoSt")}, nil
}

// checkOutPath checks that a file the stage creates can be: a path whose
// folder exists and that is not a folder itself.
func checkOutPath(field, path string) error {
	if path == "" {
		return sdk.Errorf("%s is empty", field)
	}
	if err := checkDir(field+"'s folder", filepath.Dir(path)); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return sdk.Errorf("%s %s exists and is not a regular file", field, path)
	}
	return nil
}

func (s *stages) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	p, err := s.prover()
	if err != nil {
		return nil, err
	}
	sp, size, err := sectorOf(req.GetSector())
	if err != nil {
		return nil, err
	}
	if err := checkDir("cache_path", req.GetCachePath()); err != nil {
		return nil, err
	}
	if err := checkSized("sealed_path", req.GetSealedPath(), size, "pass the sector's sealed file"); err != nil {
		return nil, err
	}
	if err := checkOutPath("unsealed_path", req.GetUnsealedPath()); err != nil {
		return nil, err
	}
	if err := checkRandomness("ticket", req.GetTicket()); err != nil {
		return nil, err
	}
	commD, err := parseCID("unsealed_cid", req.GetUnsealedCid())
	if err != nil {
		return nil, err
	}
	data := uint64(abi.PaddedPieceSize(size).Unpadded())
	off, n := req.GetOffset(), req.GetNumBytes()
	if n == 0 {
		return nil, sdk.Errorf("num_bytes is 0: pass the range's length in unpadded bytes (%d for the whole sector)", data)
	}
	if off > data || n > data-off {
		return nil, sdk.Errorf("offset %d + num_bytes %d runs past the sector's %d unpadded bytes", off, n, data)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := req.GetSector()
	err = p.UnsealRange(ctx, sp, req.GetCachePath(), req.GetSealedPath(), req.GetUnsealedPath(), abi.SectorNumber(id.GetSectorNumber()),
		abi.ActorID(id.GetMinerId()), req.GetTicket(), commD, off, n)
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(req.GetUnsealedPath()); err == nil && uint64(st.Size()) != n {
			err = fmt.Errorf("wrote %d bytes to %s, want %d", st.Size(), req.GetUnsealedPath(), n)
		}
	}
	if err != nil {
		// A part of the range is not the range: remove it, so no reader
		// takes it for the data.
		os.Remove(req.GetUnsealedPath())
		return nil, stageErr("unseal", err)
	}
	return &sealv1.UnsealResponse{NumBytes: n}, nil
}

// zeroPieces are the zero pieces that take a staged file from off padded
// bytes to the next multiple of align (a power of two), smallest first:
// each then starts at a multiple of its own size, as a piece must.
func zeroPieces(off, align uint64) []uint64 {
	gap := (align - off%align) % align
	var out []uint64
	for gap != 0 {
		p := uint64(1) << bits.TrailingZeros64(gap)
		out = append(out, p)
		gap -= p
	}
	return out
}

// appendZeros appends a zero piece of padded size n: fr32 padding of zeros
// is zeros, so no call into filecoin-ffi is needed.
func appendZeros(f *os.File, n uint64) error {
	_, err := io.CopyN(f, zeroReader{}, int64(n))
	return err
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func (s *stages) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	p, err := s.prover()
	if err != nil {
		return nil, err
	}
	sp, size, err := sectorOf(req.GetSector())
	if err != nil {
		return nil, err
	}
	if err := checkOutPath("staged_path", req.GetStagedPath()); err != nil {
		return nil, err
	}
	if len(req.GetPieces()) == 0 {
		return nil, sdk.Errorf("pieces is empty: pass at least one piece (a piece without path is zeros)")
	}
	// Check everything, alignment included, before writing anything.
	var off uint64
	for i, pc := range req.GetPieces() {
		psize := abi.PaddedPieceSize(pc.GetSize())
		if err := psize.Validate(); err != nil {
			return nil, sdk.Errorf("pieces[%d].size %d: %v", i, pc.GetSize(), err)
		}
		if pc.GetPath() != "" {
			if err := checkFile(fmt.Sprintf("pieces[%d].path", i), pc.GetPath(), false); err != nil {
				return nil, err
			}
			st, _ := os.Stat(pc.GetPath())
			if uint64(st.Size()) < uint64(psize.Unpadded()) {
				return nil, sdk.Errorf("pieces[%d].path %s has %d bytes, want %d (size %d unpadded): pad the deal's data to its piece size first", i, pc.GetPath(), st.Size(), psize.Unpadded(), psize)
			}
		}
		if pc.GetPieceCid() != "" {
			if _, err := parseCID(fmt.Sprintf("pieces[%d].piece_cid", i), pc.GetPieceCid()); err != nil {
				return nil, err
			}
		}
		for _, z := range zeroPieces(off, uint64(psize)) {
			off += z
		}
		off += uint64(psize)
		if off > size {
			return nil, sdk.Errorf("pieces[%d] ends at padded byte %d (alignment included), past the sector's %d: the pieces do not fit", i, off, size)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.addPieces(ctx, p, sp, size, req)
	if err != nil {
		// A staged file with part of the pieces is no sector's data.
		os.Remove(req.GetStagedPath())
		return nil, stageErr("add_pieces", err)
	}
	return &sealv1.AddPiecesResponse{Pieces: out}, nil
}

func (s *stages) addPieces(ctx context.Context, p Prover, sp abi.RegisteredSealProof, size uint64, req *sealv1.AddPiecesRequest) ([]*sealv1.PieceInfo, error) {
	staged := req.GetStagedPath()
	f, err := os.OpenFile(staged, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*sealv1.PieceInfo
	var existing []abi.UnpaddedPieceSize
	var off uint64
	zeros := func(n uint64) error {
		if err := appendZeros(f, n); err != nil {
			return fmt.Errorf("writing %d zero bytes to %s: %w", n, staged, err)
		}
		c := zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(n).Unpadded())
		out = append(out, &sealv1.PieceInfo{Size: n, PieceCid: c.String()})
		existing = append(existing, abi.PaddedPieceSize(n).Unpadded())
		off += n
		return nil
	}
	for i, pc := range req.GetPieces() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, z := range zeroPieces(off, pc.GetSize()) {
			if err := zeros(z); err != nil {
				return nil, err
			}
		}
		var got string
		if pc.GetPath() == "" {
			if err := zeros(pc.GetSize()); err != nil {
				return nil, err
			}
			got = out[len(out)-1].GetPieceCid()
		} else {
			unpadded := abi.PaddedPieceSize(pc.GetSize()).Unpadded()
			left, _, c, err := p.AddPiece(ctx, sp, pc.GetPath(), unpadded, staged, existing)
			if err != nil {
				return nil, fmt.Errorf("pieces[%d]: %w", i, err)
			}
			if left != 0 {
				return nil, fmt.Errorf("pieces[%d]: filecoin-ffi aligned it with %d more bytes than this stage computed", i, left)
			}
			if _, err := f.Seek(0, io.SeekEnd); err != nil {
				return nil, err
			}
			got = c.String()
			out = append(out, &sealv1.PieceInfo{Size: pc.GetSize(), PieceCid: got})
			existing = append(existing, unpadded)
			off += pc.GetSize()
		}
		if want := pc.GetPieceCid(); want != "" && want != got {
			return nil, sdk.Errorf("pieces[%d]: the data's piece CID is %s, the request expects %s: the file is not the deal's data", i, got, want)
		}
	}
	for _, z := range zeroPieces(off, size) {
		if err := zeros(z); err != nil {
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if uint64(st.Size()) != size {
		return nil, fmt.Errorf("%s ended up %d bytes, want the sector's %d", staged, st.Size(), size)
	}
	return out, nil
}
