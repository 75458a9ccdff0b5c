package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The stages besides sealing. As for the sealing ones, every output is a
// pure function of the request and the inputs are checked the way
// filecoin-ffi checks them; proofs are FAKE (verified false, and the
// verification line says so). snap_encode's comm_d follows the same rule
// as tree_d's (a sector filled by one piece has that piece's commitment),
// so the conformance kit's cross-stage checks hold. unseal writes zeros,
// the data of a CC sector: the mock keeps no sector data. add_pieces
// writes the real bytes and real zero-piece commitments, but a data
// piece's commitment is a digest (FAKE) unless the request names one.

// updateSizes are abi.RegisteredUpdateProof 0..4's sector sizes.
var updateSizes = [5]uint64{2 << 10, 8 << 20, 512 << 20, 32 << 30, 64 << 30}

// updatePartitions is an update proof's SNARK partition count by size
// position (rust-fil-proofs: 16 for 32 GiB and 64 GiB, 1 below).
var updatePartitions = [5]int{1, 1, 1, 16, 16}

// checkUpdateProof checks the update proof type against the sector's
// size and returns its size position.
func checkUpdateProof(p proofInfo, up int64) (int, error) {
	if up < 0 || up >= int64(len(updateSizes)) {
		return 0, sdk.Errorf("registered_update_proof %d is not an update proof this mock knows (want 0..4: StackedDrg{2KiB..64GiB}V1)", up)
	}
	if updateSizes[up] != p.sectorSize {
		return 0, sdk.Errorf("registered_update_proof %d is for %d-byte sectors, but the sector is %s (%d bytes)", up, updateSizes[up], p.name, p.sectorSize)
	}
	return int(up), nil
}

func (m *mock) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	p, err := checkSector(req.GetSector())
	if err == nil {
		_, err = checkUpdateProof(p, req.GetRegisteredUpdateProof())
	}
	if err == nil {
		err = firstErr(checkPieces(p, req.GetPieces()),
			checkFile("new_replica_path (lotus creates it before the update)", req.GetNewReplicaPath()), checkDir("new_cache_path", req.GetNewCachePath()),
			checkFile("sector_key_path", req.GetSectorKeyPath()), checkDir("sector_key_cache_path", req.GetSectorKeyCachePath()),
			checkFile("staged_path", req.GetStagedPath()))
	}
	if err != nil {
		return nil, err
	}
	if err := m.w.do(ctx, "snap_encode"); err != nil {
		return nil, err
	}
	d := commD(req)
	r := commitment("snap_comm_r", sectorBytes(req.GetSector()), d[:], []byte(req.GetSectorKeyPath()))
	return &sealv1.SnapEncodeResponse{SealedCid: sealedCID(r), UnsealedCid: unsealedCID(d)}, nil
}

func (m *mock) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	p, err := checkSector(req.GetSector())
	var up int
	if err == nil {
		up, err = checkUpdateProof(p, req.GetRegisteredUpdateProof())
	}
	if err != nil {
		return nil, err
	}
	var cids [][32]byte
	for _, c := range []struct {
		field, v string
		parse    func(string, string) ([32]byte, error)
	}{{"old_sealed_cid", req.GetOldSealedCid(), parseSealedCID}, {"new_sealed_cid", req.GetNewSealedCid(), parseSealedCID},
		{"new_unsealed_cid", req.GetNewUnsealedCid(), parseUnsealedCID}} {
		v, err := c.parse(c.field, c.v)
		if err != nil {
			return nil, sdk.Errorf("%v", err)
		}
		cids = append(cids, v)
	}
	if cids[0] == cids[1] {
		return nil, sdk.Errorf("old_sealed_cid and new_sealed_cid are both %s: an update changes comm_r (pass the sector key's comm_r and snap_encode's)", req.GetOldSealedCid())
	}
	if n := len(req.GetVanillaProofs()); n > 0 && n != updatePartitions[up] {
		return nil, sdk.Errorf("%d vanilla_proofs, want one per partition: %d for %s", n, updatePartitions[up], p.name)
	}
	if len(req.GetVanillaProofs()) == 0 {
		if err := firstErr(checkFile("new_replica_path", req.GetNewReplicaPath()), checkDir("new_cache_path", req.GetNewCachePath()),
			checkFile("sector_key_path", req.GetSectorKeyPath()), checkDir("sector_key_cache_path", req.GetSectorKeyCachePath())); err != nil {
			return nil, err
		}
	}
	if err := m.w.do(ctx, "snap_prove"); err != nil {
		return nil, err
	}
	seed := commitment("snap_proof", sectorBytes(req.GetSector()), cids[0][:], cids[1][:], cids[2][:])
	return &sealv1.SnapProveResponse{Proof: stretch(seed, 192*updatePartitions[up]), Verification: fakeProofNote}, nil
}

// postInfo is what the mock knows of abi.RegisteredPoStProof pt: the sector
// size, and how many sectors a partition proves (rust-fil-proofs'
// WINDOW_POST_SECTOR_COUNT; a winning PoSt proves one challenged sector
// per call here).
func postInfo(pt int64, window bool) (size uint64, perPartition int, err error) {
	perWindow := [5]int{2, 2, 2, 2349, 2300}
	switch {
	case !window && pt >= 0 && pt < 5:
		return updateSizes[pt], 1, nil
	case window && pt >= 5 && pt < 15:
		return updateSizes[pt%5], perWindow[pt%5], nil
	case window:
		return 0, 0, sdk.Errorf("registered_post_proof %d is not a window PoSt proof (want 5..14: StackedDrgWindow{2KiB..64GiB}V1 or V1_1; 10 is StackedDrgWindow2KiBV1_1)", pt)
	}
	return 0, 0, sdk.Errorf("registered_post_proof %d is not a winning PoSt proof (want 0..4: StackedDrgWinning{2KiB..64GiB}V1)", pt)
}

// postSectors checks a PoSt request's sectors; files that cannot be read
// make their sectors faulty, as filecoin-ffi reports them.
func postSectors(size uint64, ss []*sealv1.PoStSector) (faulty []uint64, digest []byte, err error) {
	if len(ss) == 0 {
		return nil, nil, sdk.Errorf("no sectors: a PoSt proves at least one sector")
	}
	seen := map[uint64]bool{}
	for i, s := range ss {
		p, err := lookupProof(s.GetRegisteredSealProof())
		if err != nil {
			return nil, nil, sdk.Errorf("sectors[%d]: %v", i, err)
		}
		if p.sectorSize != size {
			return nil, nil, sdk.Errorf("sectors[%d] is a %s sector, but registered_post_proof is for %d-byte sectors", i, p.name, size)
		}
		if seen[s.GetSectorNumber()] {
			return nil, nil, sdk.Errorf("sectors[%d]: sector %d is listed twice", i, s.GetSectorNumber())
		}
		seen[s.GetSectorNumber()] = true
		r, err := parseSealedCID(fmt.Sprintf("sectors[%d].sealed_cid", i), s.GetSealedCid())
		if err != nil {
			return nil, nil, sdk.Errorf("%v", err)
		}
		if checkDir("cache_path", s.GetCachePath()) != nil || checkFile("sealed_path", s.GetSealedPath()) != nil {
			faulty = append(faulty, s.GetSectorNumber())
		}
		digest = binary.LittleEndian.AppendUint64(digest, s.GetSectorNumber())
		digest = append(digest, r[:]...)
	}
	slices.Sort(faulty)
	return faulty, digest, nil
}

func (m *mock) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	size, per, err := postInfo(req.GetRegisteredPostProof(), true)
	if err == nil {
		err = check32("randomness", req.GetRandomness())
	}
	if err != nil {
		return nil, err
	}
	faulty, digest, err := postSectors(size, req.GetSectors())
	if err != nil {
		return nil, err
	}
	if err := m.w.do(ctx, "window_post"); err != nil {
		return nil, err
	}
	if len(faulty) > 0 {
		return &sealv1.WindowPoStResponse{FaultySectors: faulty, Verification: fakeProofNote}, nil
	}
	resp := &sealv1.WindowPoStResponse{Verification: fakeProofNote}
	for i := 0; i*per < len(req.GetSectors()); i++ {
		seed := commitment("window_post", binary.LittleEndian.AppendUint64(nil, req.GetMinerId()), req.GetRandomness(), digest, []byte{byte(i)})
		resp.Proofs = append(resp.Proofs, &sealv1.PoStProof{RegisteredPostProof: req.GetRegisteredPostProof(), Proof: stretch(seed, 192)})
	}
	return resp, nil
}

func (m *mock) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	size, _, err := postInfo(req.GetRegisteredPostProof(), false)
	if err == nil {
		err = check32("randomness", req.GetRandomness())
	}
	if err != nil {
		return nil, err
	}
	faulty, digest, err := postSectors(size, req.GetSectors())
	if err != nil {
		return nil, err
	}
	if len(faulty) > 0 {
		// Winning PoSt has no faults to declare: the block is lost.
		return nil, sdk.Errorf("winning PoSt: sectors %v have no readable cache or sealed file", faulty)
	}
	if err := m.w.do(ctx, "winning_post"); err != nil {
		return nil, err
	}
	seed := commitment("winning_post", binary.LittleEndian.AppendUint64(nil, req.GetMinerId()), req.GetRandomness(), digest)
	return &sealv1.WinningPoStResponse{Verification: fakeProofNote,
		Proofs: []*sealv1.PoStProof{{RegisteredPostProof: req.GetRegisteredPostProof(), Proof: stretch(seed, 192)}}}, nil
}

func (m *mock) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	p, err := checkSector(req.GetSector())
	if err == nil {
		_, err = parseUnsealedCID("unsealed_cid", req.GetUnsealedCid())
		if err != nil {
			err = sdk.Errorf("%v", err)
		}
	}
	if err == nil {
		err = firstErr(check32("ticket", req.GetTicket()), checkDir("cache_path", req.GetCachePath()), checkFile("sealed_path", req.GetSealedPath()),
			checkDir("the folder of unsealed_path", filepath.Dir(req.GetUnsealedPath())))
	}
	if err != nil {
		return nil, err
	}
	unpadded := p.sectorSize - p.sectorSize/128
	if req.GetNumBytes() == 0 || req.GetOffset() > unpadded || req.GetNumBytes() > unpadded-req.GetOffset() {
		return nil, sdk.Errorf("range offset %d, num_bytes %d: want a non-empty range inside the sector's %d unpadded bytes", req.GetOffset(), req.GetNumBytes(), unpadded)
	}
	if err := m.w.do(ctx, "unseal"); err != nil {
		return nil, err
	}
	f, err := os.Create(req.GetUnsealedPath())
	if err != nil {
		return nil, sdk.Errorf("unsealed_path: %v", err)
	}
	if err := f.Truncate(int64(req.GetNumBytes())); err != nil {
		f.Close()
		return nil, sdk.RetryableErrorf("unsealed_path: %v", err)
	}
	if err := f.Close(); err != nil {
		return nil, sdk.RetryableErrorf("unsealed_path: %v", err)
	}
	return &sealv1.UnsealResponse{NumBytes: req.GetNumBytes()}, nil
}

func (m *mock) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	p, err := checkSector(req.GetSector())
	if err == nil {
		err = checkDir("the folder of staged_path", filepath.Dir(req.GetStagedPath()))
	}
	if err != nil {
		return nil, err
	}
	layout, err := layPieces(p.sectorSize, req.GetPieces())
	if err != nil {
		return nil, err
	}
	if err := m.w.do(ctx, "add_pieces"); err != nil {
		return nil, err
	}
	f, err := os.Create(req.GetStagedPath())
	if err != nil {
		return nil, sdk.Errorf("staged_path: %v", err)
	}
	defer f.Close()
	resp := &sealv1.AddPiecesResponse{}
	for _, l := range layout {
		info := &sealv1.PieceInfo{Size: l.size, PieceCid: unsealedCID(zeroCommitment(l.size))}
		if l.piece != nil {
			if info.PieceCid, err = writePiece(f, l.offset, l.piece); err != nil {
				return nil, err
			}
		}
		resp.Pieces = append(resp.Pieces, info)
	}
	if err := f.Truncate(int64(p.sectorSize)); err != nil {
		return nil, sdk.RetryableErrorf("staged_path: %v", err)
	}
	if err := f.Close(); err != nil {
		return nil, sdk.RetryableErrorf("staged_path: %v", err)
	}
	return resp, nil
}

// placed is a piece at its padded offset in the sector; piece is nil for
// a zero filler.
type placed struct {
	offset, size uint64
	piece        *sealv1.PieceFile
}

// layPieces places the pieces in order, each at a multiple of its own
// size with zero pieces in front when needed (as WriteWithAlignment
// aligns), and zero pieces after them up to the sector's end.
func layPieces(sector uint64, ps []*sealv1.PieceFile) ([]placed, error) {
	var out []placed
	var off uint64
	fill := func(to uint64) {
		for off < to {
			sz := off & -off // the largest piece aligned at off
			if off == 0 {
				sz = sector
			}
			for off+sz > to {
				sz /= 2
			}
			out = append(out, placed{offset: off, size: sz})
			off += sz
		}
	}
	for i, pc := range ps {
		sz := pc.GetSize()
		if sz < 128 || sz&(sz-1) != 0 {
			return nil, sdk.Errorf("pieces[%d]: padded size %d is not a power of two of at least 128 bytes", i, sz)
		}
		if pc.GetPieceCid() != "" {
			if _, err := parseUnsealedCID(fmt.Sprintf("pieces[%d].piece_cid", i), pc.GetPieceCid()); err != nil {
				return nil, sdk.Errorf("%v", err)
			}
		}
		if pc.GetPath() != "" {
			st, err := os.Stat(pc.GetPath())
			if err != nil {
				return nil, sdk.Errorf("pieces[%d].path: %v", i, err)
			}
			if st.IsDir() || uint64(st.Size()) < sz-sz/128 {
				return nil, sdk.Errorf("pieces[%d].path %s holds %d bytes, want a file of the piece's %d unpadded bytes", i, pc.GetPath(), st.Size(), sz-sz/128)
			}
		}
		start := (off + sz - 1) / sz * sz
		if start+sz > sector {
			return nil, sdk.Errorf("pieces[%d] (%d bytes) does not fit: the pieces before it fill the sector to byte %d of %d", i, sz, off, sector)
		}
		fill(start)
		out = append(out, placed{offset: off, size: sz, piece: pc})
		off += sz
	}
	fill(sector)
	return out, nil
}

// writePiece writes a piece's unpadded bytes fr32-padded at its padded
// offset in the staged file and returns its piece CID: the request's, else
// for a zero piece the real zero commitment, else a FAKE digest of the
// bytes.
func writePiece(f *os.File, offset uint64, pc *sealv1.PieceFile) (string, error) {
	n := int64(pc.GetSize() - pc.GetSize()/128)
	if pc.GetPath() == "" {
		if pc.GetPieceCid() != "" {
			return pc.GetPieceCid(), nil
		}
		return unsealedCID(zeroCommitment(pc.GetSize())), nil
	}
	in, err := os.Open(pc.GetPath())
	if err != nil {
		return "", sdk.Errorf("piece %s: %v", pc.GetPath(), err)
	}
	defer in.Close()
	raw := make([]byte, n)
	if _, err := io.ReadFull(in, raw); err != nil {
		return "", sdk.RetryableErrorf("reading piece %s: %v", pc.GetPath(), err)
	}
	if _, err := f.WriteAt(fr32Pad(raw), int64(offset)); err != nil {
		return "", sdk.RetryableErrorf("writing piece %s into the staged file: %v", pc.GetPath(), err)
	}
	if pc.GetPieceCid() != "" {
		return pc.GetPieceCid(), nil
	}
	h := sha256.Sum256(raw)
	return unsealedCID(commitment("piece", binary.LittleEndian.AppendUint64(nil, pc.GetSize()), h[:])), nil
}

// fr32Pad spreads each 127 bytes (1016 bits) of raw over 128 bytes as four
// 254-bit runs, each in a 32-byte field element whose top two bits stay
// zero: the padding filecoin-ffi's WriteWithAlignment applies, so the
// staged file is laid out as a real plugin's. len(raw) is a multiple of
// 127.
func fr32Pad(raw []byte) []byte {
	out := make([]byte, len(raw)/127*128)
	for c := 0; c+127 <= len(raw); c += 127 {
		in, o := raw[c:c+127], out[c/127*128:]
		for q := range 4 {
			bit := 254 * q
			for b := range 32 {
				i, sh := bit/8+b, uint(bit%8)
				v := in[i] >> sh
				if sh > 0 && i+1 < len(in) {
					v |= in[i+1] << (8 - sh)
				}
				o[32*q+b] = v
			}
			o[32*q+31] &= 0x3f
		}
	}
	return out
}

// zeroCommitment is the real commitment of size padded zero bytes: the
// root of a binary SHA-256 tree (truncated to 254 bits, as
// rust-fil-proofs' hasher does) over 32-byte zero leaves.
func zeroCommitment(size uint64) [32]byte {
	var c [32]byte
	for n := uint64(32); n < size; n *= 2 {
		c = sha256.Sum256(append(c[:], c[:]...))
		c[31] &= 0x3f
	}
	return c
}

// stretch extends seed to n bytes in SHA-256 counter mode.
func stretch(seed [32]byte, n int) []byte {
	out := make([]byte, 0, n+32)
	var ctr [8]byte
	for i := uint64(0); len(out) < n; i++ {
		binary.LittleEndian.PutUint64(ctr[:], i)
		sum := sha256.Sum256(append(seed[:], ctr[:]...))
		out = append(out, sum[:]...)
	}
	return out[:n]
}
