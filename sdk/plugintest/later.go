package plugintest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The stages besides sealing: snap deals, PoSt, unseal and add_pieces.
// Their default requests live beside the sealing ones in the same 2 KiB
// layout, and a Config.Inputs that predates them gets them filled in
// (laterDefaults), so an existing plugin's test keeps compiling and
// passing.

// Default proof types of the later stages for the 2 KiB sector.
const (
	// DefaultUpdateProofType is abi.RegisteredUpdateProof
	// StackedDrg2KiBV1.
	DefaultUpdateProofType = 0
	// DefaultWindowPoStProofType is StackedDrgWindow2KiBV1_1, what lotus
	// uses for new 2 KiB sectors.
	DefaultWindowPoStProofType = 10
	// DefaultWinningPoStProofType is StackedDrgWinning2KiBV1.
	DefaultWinningPoStProofType = 0
)

// laterDefaults adds to in the default requests of the later stages it
// lacks, laid out in dir: dir/sector-key (a 2 KiB sealed CC sector's
// file, also what PoSt and unseal read) with dir/cache, dir/snap (the new
// replica, an existing 2 KiB file) with dir/snap-cache, dir/unsealed for
// unseal's output, dir/piece (1016 bytes of one half-sector piece) and
// dir/add-staged for add_pieces' output. snap_prove's new CIDs are
// placeholders the kit replaces with snap_encode's answer when the plugin
// serves it, and the sector key and PoSt's and unseal's sector are
// replaced by the sector pc2 sealed when it serves pc2 (feedSealed).
func laterDefaults(dir string, in *Inputs) error {
	if in.SnapEncode != nil && in.SnapProve != nil && in.WindowPoSt != nil && in.WinningPoSt != nil && in.Unseal != nil && in.AddPieces != nil {
		return nil
	}
	cache, staged := filepath.Join(dir, "cache"), filepath.Join(dir, "staged")
	key, snap, snapCache := filepath.Join(dir, "sector-key"), filepath.Join(dir, "snap"), filepath.Join(dir, "snap-cache")
	piece := filepath.Join(dir, "piece")
	for _, d := range []string{cache, snapCache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for path, n := range map[string]int{staged: 2048, key: 2048, snap: 2048, piece: 1016} {
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
			return err
		}
	}
	sector := func() *sealv1.Sector {
		return &sealv1.Sector{RegisteredSealProof: DefaultProofType, MinerId: 1000, SectorNumber: 1}
	}
	pieces := func() []*sealv1.PieceInfo { return []*sealv1.PieceInfo{{Size: 2048, PieceCid: zeroPiece2KiB}} }
	ticket, randomness := make([]byte, 32), make([]byte, 32)
	for i := range ticket {
		ticket[i], randomness[i] = byte(i), byte(3*i+1)
	}
	ticket[31], randomness[31] = 0, 0
	var oldR, newR [32]byte
	copy(oldR[:], "plugintest placeholder comm_r..")
	copy(newR[:], "plugintest placeholder new_r...")
	oldSealed := cidString(commcid.ReplicaCommitmentV1ToCID(oldR[:]))
	postSectors := func() []*sealv1.PoStSector {
		return []*sealv1.PoStSector{{RegisteredSealProof: DefaultProofType, SectorNumber: 1, SealedCid: oldSealed, CachePath: cache, SealedPath: key}}
	}
	if in.SnapEncode == nil {
		in.SnapEncode = &sealv1.SnapEncodeRequest{Sector: sector(), RegisteredUpdateProof: DefaultUpdateProofType,
			NewReplicaPath: snap, NewCachePath: snapCache, SectorKeyPath: key, SectorKeyCachePath: cache, StagedPath: staged, Pieces: pieces()}
	}
	if in.SnapProve == nil {
		in.SnapProve = &sealv1.SnapProveRequest{Sector: sector(), RegisteredUpdateProof: DefaultUpdateProofType,
			OldSealedCid: oldSealed, NewSealedCid: cidString(commcid.ReplicaCommitmentV1ToCID(newR[:])), NewUnsealedCid: zeroPiece2KiB,
			NewReplicaPath: snap, NewCachePath: snapCache, SectorKeyPath: key, SectorKeyCachePath: cache}
	}
	if in.WindowPoSt == nil {
		in.WindowPoSt = &sealv1.WindowPoStRequest{MinerId: 1000, RegisteredPostProof: DefaultWindowPoStProofType, Randomness: randomness, Sectors: postSectors()}
	}
	if in.WinningPoSt == nil {
		in.WinningPoSt = &sealv1.WinningPoStRequest{MinerId: 1000, RegisteredPostProof: DefaultWinningPoStProofType, Randomness: randomness, Sectors: postSectors()}
	}
	if in.Unseal == nil {
		in.Unseal = &sealv1.UnsealRequest{Sector: sector(), CachePath: cache, SealedPath: key, UnsealedPath: filepath.Join(dir, "unsealed"),
			Ticket: ticket, UnsealedCid: zeroPiece2KiB, Offset: 0, NumBytes: 2032}
	}
	if in.AddPieces == nil {
		in.AddPieces = &sealv1.AddPiecesRequest{Sector: sector(), StagedPath: filepath.Join(dir, "add-staged"),
			Pieces: []*sealv1.PieceFile{{Path: piece, Size: 1024}}}
	}
	return nil
}

// callLater sends in's request for one of the later stages.
func callLater(ctx context.Context, c *pluginclient.Client, stage sealv1.Stage, in *Inputs) (proto.Message, error) {
	switch stage {
	case sealv1.Stage_STAGE_SNAP_ENCODE:
		return c.SnapEncode(ctx, in.SnapEncode)
	case sealv1.Stage_STAGE_SNAP_PROVE:
		return c.SnapProve(ctx, in.SnapProve)
	case sealv1.Stage_STAGE_WINDOW_POST:
		return c.WindowPoSt(ctx, in.WindowPoSt)
	case sealv1.Stage_STAGE_WINNING_POST:
		return c.WinningPoSt(ctx, in.WinningPoSt)
	case sealv1.Stage_STAGE_UNSEAL:
		return c.Unseal(ctx, in.Unseal)
	case sealv1.Stage_STAGE_ADD_PIECES:
		return c.AddPieces(ctx, in.AddPieces)
	}
	return nil, fmt.Errorf("no stage %v", stage)
}

// updateProofSize is an update proof's length: 192 bytes per partition,
// 16 partitions for 32 GiB and 64 GiB sectors, 1 below.
func updateProofSize(up int64) (int, bool) {
	if up < 0 || up > 4 {
		return 0, false
	}
	if up >= 3 {
		return 16 * 192, true
	}
	return 192, true
}

func checkPoStProofs(ps []*sealv1.PoStProof, pt int64) error {
	for i, p := range ps {
		if p.GetRegisteredPostProof() != pt {
			return fmt.Errorf("proofs[%d] is of registered_post_proof %d, want the request's %d", i, p.GetRegisteredPostProof(), pt)
		}
		if len(p.GetProof()) != 192 {
			return fmt.Errorf("proofs[%d] is %d bytes, want 192 (one SNARK per partition)", i, len(p.GetProof()))
		}
	}
	return nil
}

// plausibleLater reports what is wrong with a later stage's response, or
// nil; ok is false for a response of a sealing stage.
func plausibleLater(resp proto.Message, in *Inputs) (err error, ok bool) {
	switch r := resp.(type) {
	case *sealv1.SnapEncodeResponse:
		if err := checkCID(r.GetSealedCid(), sealedKind); err != nil {
			return fmt.Errorf("sealed_cid (the new comm_r): %v", err), true
		}
		if err := checkCID(r.GetUnsealedCid(), unsealedKind); err != nil {
			return fmt.Errorf("unsealed_cid (the new comm_d): %v", err), true
		}
	case *sealv1.SnapProveResponse:
		if want, known := updateProofSize(in.SnapProve.GetRegisteredUpdateProof()); known && len(r.GetProof()) != want {
			return fmt.Errorf("proof is %d bytes; want %d for update proof type %d (192 bytes per partition)", len(r.GetProof()), want, in.SnapProve.GetRegisteredUpdateProof()), true
		}
	case *sealv1.WindowPoStResponse:
		if len(r.GetFaultySectors()) > 0 {
			if len(r.GetProofs()) > 0 {
				return errors.New("both proofs and faulty_sectors: with faults the caller drops those sectors and asks again, so proofs must be empty"), true
			}
			return fmt.Errorf("faulty_sectors %v for sectors whose files are all there", r.GetFaultySectors()), true
		}
		if len(r.GetProofs()) == 0 {
			return errors.New("no proofs and no faulty_sectors; want one proof per partition"), true
		}
		return checkPoStProofs(r.GetProofs(), in.WindowPoSt.GetRegisteredPostProof()), true
	case *sealv1.WinningPoStResponse:
		if len(r.GetProofs()) != 1 {
			return fmt.Errorf("%d proofs, want 1 (a winning PoSt is one partition)", len(r.GetProofs())), true
		}
		return checkPoStProofs(r.GetProofs(), in.WinningPoSt.GetRegisteredPostProof()), true
	case *sealv1.UnsealResponse:
		if r.GetNumBytes() != in.Unseal.GetNumBytes() {
			return fmt.Errorf("num_bytes %d, want the request's %d", r.GetNumBytes(), in.Unseal.GetNumBytes()), true
		}
		st, err := os.Stat(in.Unseal.GetUnsealedPath())
		if err != nil || uint64(st.Size()) != r.GetNumBytes() {
			return fmt.Errorf("unsealed_path after the call: %v, want a file of the %d bytes unsealed", statOrSize(st, err), r.GetNumBytes()), true
		}
	case *sealv1.AddPiecesResponse:
		return plausiblePieces(r, in.AddPieces), true
	default:
		return nil, false
	}
	return nil, true
}

func statOrSize(st os.FileInfo, err error) any {
	if err != nil {
		return err
	}
	return fmt.Sprintf("%d bytes", st.Size())
}

// plausiblePieces checks add_pieces' answer: every piece a piece CID of a
// power-of-two size, the request's pieces among them in order with their
// sizes (and CIDs when given), together filling the sector; the staged
// file the sector size (fr32-padded, what tree_d and pc1 read).
func plausiblePieces(r *sealv1.AddPiecesResponse, req *sealv1.AddPiecesRequest) error {
	size, err := sdk.SectorSize(req.GetSector().GetRegisteredSealProof())
	if err != nil {
		return nil
	}
	var sum uint64
	next := 0
	for i, p := range r.GetPieces() {
		if sz := p.GetSize(); sz < 128 || sz&(sz-1) != 0 {
			return fmt.Errorf("pieces[%d]: size %d is not a power of two of at least 128", i, sz)
		}
		if err := checkCID(p.GetPieceCid(), unsealedKind); err != nil {
			return fmt.Errorf("pieces[%d].piece_cid: %v", i, err)
		}
		if sum%p.GetSize() != 0 {
			return fmt.Errorf("pieces[%d] (%d bytes) starts at byte %d, not a multiple of its size", i, p.GetSize(), sum)
		}
		if next < len(req.GetPieces()) {
			want := req.GetPieces()[next]
			if p.GetSize() == want.GetSize() && (want.GetPieceCid() == "" || want.GetPieceCid() == p.GetPieceCid()) {
				// A filler of the same size would also match; the kit
				// cannot tell them apart without the data's commitment.
				next++
			}
		}
		sum += p.GetSize()
	}
	if next < len(req.GetPieces()) {
		return fmt.Errorf("the answer's pieces %v do not hold the request's %d pieces in order", r.GetPieces(), len(req.GetPieces()))
	}
	if sum != size {
		return fmt.Errorf("pieces add up to %d bytes, want the sector's %d (tree_d and pc1 take them as they are)", sum, size)
	}
	st, err := os.Stat(req.GetStagedPath())
	if err != nil || uint64(st.Size()) != size {
		return fmt.Errorf("staged_path after the call: %v, want %d bytes (the sector size: the pieces fr32-padded, as tree_d and pc1 read the file)", statOrSize(st, err), size)
	}
	return nil
}

// feedSealed points the later stages' requests about the sector pc2 just
// sealed (the same miner and sector number) at it: its sealed file and
// cache as the sector key of snap_encode and snap_prove and as what PoSt
// and unseal read, its comm_r and comm_d, pc1's ticket. A real prover
// cannot prove the kit's placeholder sector key (2 KiB of zeros under
// another sector's cache and a made-up comm_r); the sector the plugin
// sealed it can.
func feedSealed(r *sealv1.PC2Response, in *Inputs) {
	id, sealed, cache := in.PC2.GetSector(), in.PC2.GetSealedPath(), in.PC2.GetCachePath()
	same := func(miner, number uint64) bool {
		return miner == id.GetMinerId() && number == id.GetSectorNumber()
	}
	if e := in.SnapEncode; e != nil && same(e.GetSector().GetMinerId(), e.GetSector().GetSectorNumber()) {
		e.SectorKeyPath, e.SectorKeyCachePath = sealed, cache
	}
	if p := in.SnapProve; p != nil && same(p.GetSector().GetMinerId(), p.GetSector().GetSectorNumber()) {
		p.SectorKeyPath, p.SectorKeyCachePath, p.OldSealedCid = sealed, cache, r.GetSealedCid()
	}
	for _, post := range []struct {
		miner   uint64
		sectors []*sealv1.PoStSector
	}{{in.WindowPoSt.GetMinerId(), in.WindowPoSt.GetSectors()}, {in.WinningPoSt.GetMinerId(), in.WinningPoSt.GetSectors()}} {
		for _, s := range post.sectors {
			if same(post.miner, s.GetSectorNumber()) && s.GetRegisteredSealProof() == id.GetRegisteredSealProof() {
				s.SealedCid, s.SealedPath, s.CachePath = r.GetSealedCid(), sealed, cache
			}
		}
	}
	if u := in.Unseal; u != nil && same(u.GetSector().GetMinerId(), u.GetSector().GetSectorNumber()) {
		u.SealedPath, u.CachePath, u.UnsealedCid, u.Ticket = sealed, cache, r.GetUnsealedCid(), in.PC1.GetTicket()
	}
}

// feedLater passes snap_encode's new CIDs on to snap_prove.
func feedLater(resp proto.Message, in *Inputs) {
	if r, ok := resp.(*sealv1.SnapEncodeResponse); ok {
		in.SnapProve.NewSealedCid, in.SnapProve.NewUnsealedCid = r.GetSealedCid(), r.GetUnsealedCid()
	}
}

// invalidLater makes the later stages' requests carry an unknown proof
// type (every proof type field) or a missing cache folder; ok is false
// when the stage takes no cache folder.
func invalidLater(in *Inputs, proofType bool, stage sealv1.Stage) (ok bool) {
	const missing = "/nonexistent/plugintest/cache"
	if proofType {
		for _, s := range []*sealv1.Sector{in.SnapEncode.Sector, in.SnapProve.Sector, in.Unseal.Sector, in.AddPieces.Sector} {
			if s != nil {
				s.RegisteredSealProof = 9999
			}
		}
		in.SnapEncode.RegisteredUpdateProof, in.SnapProve.RegisteredUpdateProof = 9999, 9999
		in.WindowPoSt.RegisteredPostProof, in.WinningPoSt.RegisteredPostProof = 9999, 9999
		for _, s := range append(slices.Clone(in.WindowPoSt.GetSectors()), in.WinningPoSt.GetSectors()...) {
			s.RegisteredSealProof = 9999
		}
		return true
	}
	in.SnapEncode.NewCachePath, in.SnapProve.NewCachePath, in.Unseal.CachePath = missing, missing, missing
	for _, s := range append(slices.Clone(in.WindowPoSt.GetSectors()), in.WinningPoSt.GetSectors()...) {
		s.CachePath = missing
	}
	return stage != sealv1.Stage_STAGE_ADD_PIECES
}

// faultInstead says whether resp answers a missing cache the way
// window_post should: the sector listed in faulty_sectors, no proofs
// (filecoin-ffi reports unreadable sectors as faults, not as a bad
// request).
func faultInstead(resp proto.Message, in *Inputs) bool {
	r, ok := resp.(*sealv1.WindowPoStResponse)
	if !ok || len(r.GetProofs()) > 0 {
		return false
	}
	for _, s := range in.WindowPoSt.GetSectors() {
		if !slices.Contains(r.GetFaultySectors(), s.GetSectorNumber()) {
			return false
		}
	}
	return len(r.GetFaultySectors()) > 0
}
