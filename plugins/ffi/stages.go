package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// stages maps protocol requests onto a Sealer after checking the
// preconditions lotus enforces, so that a bad request fails here with a
// message an operator can act on instead of deep inside rust-fil-proofs.
//
// filecoin-ffi calls cannot be interrupted once started, so the Sealer the
// plugin runs with (childSealer) makes each in a child process and ends a
// cancelled call by killing that child; the stage then removes what the
// call left in the cache dir, so a retry starts clean.
type stages struct {
	sealer Sealer
}

func (s *stages) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	_, size, err := sectorOf(req.GetSector())
	if err != nil {
		return nil, err
	}
	if err := checkPieces(req.GetPieces(), size, false); err != nil {
		return nil, err
	}
	if err := checkDir("cache_path", req.GetCachePath()); err != nil {
		return nil, err
	}
	if err := checkFile("staged_path", req.GetStagedPath(), false); err != nil {
		return nil, err
	}
	commD, err := BuildTreeD(ctx, req.GetStagedPath(), req.GetCachePath(), size)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, sdk.Errorf("%v", err)
	}
	c, err := commcid.DataCommitmentV1ToCID(commD[:])
	if err != nil {
		return nil, sdk.Errorf("tree_d: %v", err)
	}
	return &sealv1.TreeDResponse{UnsealedCid: c.String()}, nil
}

func (s *stages) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error) {
	proof, size, err := sectorOf(req.GetSector())
	if err != nil {
		return nil, err
	}
	pieces, err := piecesOf(req.GetPieces(), size)
	if err != nil {
		return nil, err
	}
	if err := checkRandomness("ticket", req.GetTicket()); err != nil {
		return nil, err
	}
	if err := checkFile("staged_path", req.GetStagedPath(), false); err != nil {
		return nil, err
	}
	// lotus creates the sealed file, empty, before PC1; rust-fil-proofs
	// fails obscurely without it.
	if err := checkFile("sealed_path", req.GetSealedPath(), true); err != nil {
		return nil, err
	}
	if err := checkFreshCache(req.GetCachePath()); err != nil {
		return nil, err
	}
	var out []byte
	err = withCleanup(ctx, req.GetCachePath(), func() error {
		var e error
		defer func() {
			// PC1 copies the staged data into the sealed file first; a
			// failed or killed PC1 leaves it to be empty again, as the
			// retry's precondition wants.
			if e != nil {
				os.Truncate(req.GetSealedPath(), 0)
			}
		}()
		out, e = s.sealer.SealPreCommitPhase1(ctx, proof, req.GetCachePath(), req.GetStagedPath(), req.GetSealedPath(),
			abi.SectorNumber(req.GetSector().GetSectorNumber()), abi.ActorID(req.GetSector().GetMinerId()),
			abi.SealRandomness(req.GetTicket()), pieces)
		return e
	})
	if err != nil {
		return nil, stageErr("pc1", err)
	}
	if err := recordStaged(req.GetCachePath(), req.GetStagedPath()); err != nil {
		return nil, sdk.Errorf("pc1: recording the staged file for pc2: %v", err)
	}
	return &sealv1.PC1Response{Phase1Output: out}, nil
}

func (s *stages) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	if _, _, err := sectorOf(req.GetSector()); err != nil {
		return nil, err
	}
	if len(req.GetPhase1Output()) == 0 {
		return nil, sdk.Errorf("pc2: phase1_output is empty: pass PC1's output")
	}
	if err := checkDir("cache_path", req.GetCachePath()); err != nil {
		return nil, err
	}
	if err := checkFile("sealed_path", req.GetSealedPath(), false); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	restored, err := beginPC2(req.GetCachePath(), req.GetSealedPath())
	if err != nil {
		return nil, err
	}
	if restored {
		sdk.Logger(ctx).Warn("an earlier pc2 of this sector did not finish: the sealed file was copied again from the staged file and its trees removed", "cache", req.GetCachePath(), "sealed", req.GetSealedPath())
	}
	var commR, commD cid.Cid
	err = withCleanup(ctx, req.GetCachePath(), func() error {
		var e error
		commR, commD, e = s.sealer.SealPreCommitPhase2(ctx, req.GetPhase1Output(), req.GetCachePath(), req.GetSealedPath())
		return e
	})
	if err != nil {
		return nil, stageErr("pc2", err)
	}
	endPC2(req.GetCachePath())
	return &sealv1.PC2Response{SealedCid: commR.String(), UnsealedCid: commD.String()}, nil
}

func (s *stages) C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
	proof, size, err := sectorOf(req.GetSector())
	if err != nil {
		return nil, err
	}
	pieces, err := piecesOf(req.GetPieces(), size)
	if err != nil {
		return nil, err
	}
	commR, err := parseCID("sealed_cid", req.GetSealedCid())
	if err != nil {
		return nil, err
	}
	commD, err := parseCID("unsealed_cid", req.GetUnsealedCid())
	if err != nil {
		return nil, err
	}
	if err := checkRandomness("ticket", req.GetTicket()); err != nil {
		return nil, err
	}
	if err := checkRandomness("seed", req.GetSeed()); err != nil {
		return nil, err
	}
	if err := checkDir("cache_path", req.GetCachePath()); err != nil {
		return nil, err
	}
	if err := checkFile("sealed_path", req.GetSealedPath(), false); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.sealer.SealCommitPhase1(ctx, proof, commR, commD, req.GetCachePath(), req.GetSealedPath(),
		abi.SectorNumber(req.GetSector().GetSectorNumber()), abi.ActorID(req.GetSector().GetMinerId()),
		abi.SealRandomness(req.GetTicket()), abi.InteractiveSealRandomness(req.GetSeed()), pieces)
	if err != nil {
		return nil, stageErr("c1", err)
	}
	return &sealv1.C1Response{Phase1Output: out}, nil
}

func (s *stages) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	if _, _, err := sectorOf(req.GetSector()); err != nil {
		return nil, err
	}
	if len(req.GetPhase1Output()) == 0 {
		return nil, sdk.Errorf("c2: phase1_output is empty: pass C1's output")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c1, err := parseC1Output(req.GetPhase1Output())
	if err != nil {
		return nil, err
	}
	id := req.GetSector()
	sealProof, err := s.sealer.SealCommitPhase2(ctx, req.GetPhase1Output(), abi.SectorNumber(id.GetSectorNumber()), abi.ActorID(id.GetMinerId()))
	if err != nil {
		return nil, stageErr("c2", err)
	}
	// As Curio does before it reports a proof: a proof that does not verify
	// would be rejected on chain after the precommit deposit is spent, so it
	// is refused here, where a retry is still cheap.
	commR, err := commcid.ReplicaCommitmentV1ToCID(c1.CommR[:])
	if err != nil {
		return nil, sdk.Errorf("c2: comm_r of phase1_output: %v", err)
	}
	commD, err := commcid.DataCommitmentV1ToCID(c1.CommD[:])
	if err != nil {
		return nil, sdk.Errorf("c2: comm_d of phase1_output: %v", err)
	}
	ok, err := s.sealer.VerifySeal(ctx, proof.SealVerifyInfo{
		SealProof:             abi.RegisteredSealProof(id.GetRegisteredSealProof()),
		SectorID:              abi.SectorID{Miner: abi.ActorID(id.GetMinerId()), Number: abi.SectorNumber(id.GetSectorNumber())},
		Randomness:            c1.Ticket[:],
		InteractiveRandomness: c1.Seed[:],
		Proof:                 sealProof,
		SealedCID:             commR,
		UnsealedCID:           commD,
	})
	if err != nil {
		return nil, stageErr("c2: verifying the proof", err)
	}
	if !ok {
		return nil, sdk.Errorf("c2: the proof rust-fil-proofs made for sector %d does not verify (VerifySeal false for comm_r %s, comm_d %s): not returned; check that FIL_PROOFS_PARAMETER_CACHE holds the parameters and verifying keys of one setup", id.GetSectorNumber(), commR, commD)
	}
	return &sealv1.C2Response{Proof: sealProof, Verified: true, Verification: verification()}, nil
}

// c1Output is the part of filecoin-ffi's C1 output (filecoin-proofs-api's
// SealCommitPhase1Output as JSON) that VerifySeal needs. 32-byte values
// are JSON arrays of numbers, which encoding/json decodes into arrays.
type c1Output struct {
	CommR  [32]byte `json:"comm_r"`
	CommD  [32]byte `json:"comm_d"`
	Ticket [32]byte `json:"ticket"`
	Seed   [32]byte `json:"seed"`
}

func parseC1Output(b []byte) (c1Output, error) {
	var c c1Output
	if err := json.Unmarshal(b, &c); err != nil {
		return c, sdk.Errorf("c2: phase1_output is not filecoin-ffi's C1 output (JSON with comm_r, comm_d, ticket, seed): %v; pass C1's output unchanged", err)
	}
	if c.CommR == ([32]byte{}) || c.CommD == ([32]byte{}) {
		return c, sdk.Errorf("c2: phase1_output has no comm_r or comm_d: pass C1's output unchanged")
	}
	return c, nil
}

// verification says how a proof was checked, and whether the parameters
// are the insecure local ones tools/filcrypto/build.sh makes.
func verification() string {
	dir := os.Getenv("FIL_PROOFS_PARAMETER_CACHE")
	if dir == "" {
		dir = "/var/tmp/filecoin-proof-parameters"
	}
	if _, err := os.Stat(filepath.Join(dir, "README-INSECURE.txt")); err == nil {
		return "VerifySeal (filecoin-ffi " + ffiVersion + ") with local INSECURE test parameters in " + dir + ": valid against these keys only, never on chain"
	}
	return "VerifySeal (filecoin-ffi " + ffiVersion + ") with the parameters in " + dir
}

// sectorOf checks the proof type and returns its sector size.
func sectorOf(s *sealv1.Sector) (abi.RegisteredSealProof, uint64, error) {
	if s == nil {
		return 0, 0, sdk.Errorf("sector is missing: set registered_seal_proof, miner_id and sector_number")
	}
	proof := abi.RegisteredSealProof(s.GetRegisteredSealProof())
	size, err := proof.SectorSize()
	if err != nil {
		return 0, 0, sdk.Errorf("registered_seal_proof %d is not a known seal proof type: %v (8 is StackedDrg32GiBV1_1, 9 StackedDrg64GiBV1_1)", s.GetRegisteredSealProof(), err)
	}
	return proof, uint64(size), nil
}

// piecesOf converts pieces after checking that they fill the sector exactly,
// as lotus does before calling PC1: rust-fil-proofs would fail later and less
// clearly.
func piecesOf(in []*sealv1.PieceInfo, sectorSize uint64) ([]abi.PieceInfo, error) {
	if err := checkPieces(in, sectorSize, true); err != nil {
		return nil, err
	}
	out := make([]abi.PieceInfo, len(in))
	for i, p := range in {
		c, err := parseCID(fmt.Sprintf("pieces[%d].piece_cid", i), p.GetPieceCid())
		if err != nil {
			return nil, err
		}
		out[i] = abi.PieceInfo{Size: abi.PaddedPieceSize(p.GetSize()), PieceCID: c}
	}
	return out, nil
}

func checkPieces(in []*sealv1.PieceInfo, sectorSize uint64, required bool) error {
	if len(in) == 0 {
		if required {
			return sdk.Errorf("pieces is empty: a committed-capacity sector has one zero piece of the whole sector size")
		}
		return nil
	}
	var sum uint64
	for i, p := range in {
		if err := abi.PaddedPieceSize(p.GetSize()).Validate(); err != nil {
			return sdk.Errorf("pieces[%d].size %d: %v", i, p.GetSize(), err)
		}
		sum += p.GetSize()
	}
	if sum != sectorSize {
		return sdk.Errorf("pieces add up to %d padded bytes (%d unpadded), want exactly the sector's %d (%d unpadded)",
			sum, abi.PaddedPieceSize(sum).Unpadded(), sectorSize, abi.PaddedPieceSize(sectorSize).Unpadded())
	}
	return nil
}

func parseCID(field, s string) (cid.Cid, error) {
	if s == "" {
		return cid.Undef, sdk.Errorf("%s is empty", field)
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, sdk.Errorf("%s %q is not a CID: %v", field, s, err)
	}
	return c, nil
}

func checkRandomness(field string, b []byte) error {
	if len(b) != 32 {
		return sdk.Errorf("%s has %d bytes, want 32", field, len(b))
	}
	return nil
}

func checkDir(field, path string) error {
	if path == "" {
		return sdk.Errorf("%s is empty", field)
	}
	st, err := os.Stat(path)
	if err != nil {
		return sdk.Errorf("%s: %v", field, err)
	}
	if !st.IsDir() {
		return sdk.Errorf("%s %s is not a directory", field, path)
	}
	return nil
}

func checkFile(field, path string, mustBeEmpty bool) error {
	if path == "" {
		return sdk.Errorf("%s is empty", field)
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && mustBeEmpty {
			return sdk.Errorf("%s %s does not exist: create it empty before PC1, as lotus does", field, path)
		}
		return sdk.Errorf("%s: %v", field, err)
	}
	if !st.Mode().IsRegular() {
		return sdk.Errorf("%s %s is not a regular file", field, path)
	}
	if mustBeEmpty && st.Size() != 0 {
		return sdk.Errorf("%s %s is not empty (%d bytes): PC1 writes the replica there; remove it or pass a fresh file", field, path, st.Size())
	}
	return nil
}

// checkFreshCache allows only tree_d's output in the cache before PC1:
// leftover layers of an earlier run would be read as this sector's.
func checkFreshCache(dir string) error {
	if err := checkDir("cache_path", dir); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return sdk.Errorf("cache_path: %v", err)
	}
	for _, e := range ents {
		if e.Name() != TreeDFile {
			return sdk.Errorf("cache_path %s is not fresh: it holds %s from an earlier run; clear the cache dir before PC1", dir, e.Name())
		}
	}
	return nil
}

// withCleanup runs call unless ctx is already done, and when it fails
// removes what it added to dir, so a retry starts from the same state.
func withCleanup(ctx context.Context, dir string, call func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	before := map[string]bool{}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			before[e.Name()] = true
		}
	}
	err := call()
	if err != nil {
		if ents, e := os.ReadDir(dir); e == nil {
			for _, ent := range ents {
				if !before[ent.Name()] {
					os.RemoveAll(filepath.Join(dir, ent.Name()))
				}
			}
		}
	}
	return err
}

// stageErr marks filecoin-ffi's own failures non-retryable (rust-fil-proofs
// fails the same way on the same input) and a call whose child died before
// answering (killed, OOM, abort) retryable: the stage cleaned up after it.
func stageErr(stage string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *ChildError
	if errors.As(err, &ce) {
		return sdk.RetryableErrorf("%s: %v", stage, err)
	}
	return sdk.Errorf("%s: %v", stage, err)
}
