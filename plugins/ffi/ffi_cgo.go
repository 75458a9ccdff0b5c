//go:build cgo && ffi

package main

import (
	"context"
	"fmt"
	"io"
	"os"

	ffi "github.com/filecoin-project/filecoin-ffi"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
)

// realSealer calls filecoin-ffi v1.32.0 in the calling process; the plugin
// uses it only inside a call's child process (child.go). It only compiles
// where filecoin-ffi was built (tools/filcrypto/build.sh); typecheck_test.go
// checks it against the real API everywhere else.
type realSealer struct{}

func newSealer() Sealer { return realSealer{} }

var _ Prover = realSealer{}

const builtWithFFI = true

func (realSealer) SealPreCommitPhase1(_ context.Context, proof abi.RegisteredSealProof, cacheDir, staged, sealed string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) ([]byte, error) {
	return ffi.SealPreCommitPhase1(proof, cacheDir, staged, sealed, sector, miner, ticket, pieces)
}

func (realSealer) SealPreCommitPhase2(_ context.Context, phase1Out []byte, cacheDir, sealed string) (cid.Cid, cid.Cid, error) {
	return ffi.SealPreCommitPhase2(phase1Out, cacheDir, sealed)
}

func (realSealer) SealCommitPhase1(_ context.Context, proof abi.RegisteredSealProof, commR, commD cid.Cid, cacheDir, sealed string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness,
	pieces []abi.PieceInfo) ([]byte, error) {
	return ffi.SealCommitPhase1(proof, commR, commD, cacheDir, sealed, sector, miner, ticket, seed, pieces)
}

func (realSealer) SealCommitPhase2(_ context.Context, phase1Out []byte, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error) {
	return ffi.SealCommitPhase2(phase1Out, sector, miner)
}

func (realSealer) VerifySeal(_ context.Context, info proof.SealVerifyInfo) (bool, error) {
	return ffi.VerifySeal(info)
}

func (realSealer) GPUDevices(context.Context) ([]string, error) { return ffi.GetGPUDevices() }

func (realSealer) AddPiece(_ context.Context, proof abi.RegisteredSealProof, piecePath string, size abi.UnpaddedPieceSize,
	stagedPath string, existing []abi.UnpaddedPieceSize) (abi.UnpaddedPieceSize, abi.UnpaddedPieceSize, cid.Cid, error) {
	in, err := os.Open(piecePath)
	if err != nil {
		return 0, 0, cid.Undef, err
	}
	defer in.Close()
	out, err := os.OpenFile(stagedPath, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, cid.Undef, err
	}
	// filecoin-ffi writes at the descriptor's offset: after the pieces
	// already there.
	if _, err := out.Seek(0, io.SeekEnd); err != nil {
		out.Close()
		return 0, 0, cid.Undef, err
	}
	left, total, c, err := ffi.WriteWithAlignment(proof, in, size, out, existing)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing %s: %w", stagedPath, cerr)
	}
	return left, total, c, err
}

func (realSealer) EncodeInto(_ context.Context, proof abi.RegisteredUpdateProof, newReplica, newCache, sectorKey, sectorKeyCache, staged string,
	pieces []abi.PieceInfo) (cid.Cid, cid.Cid, error) {
	return ffi.SectorUpdate.EncodeInto(proof, newReplica, newCache, sectorKey, sectorKeyCache, staged, pieces)
}

func (realSealer) GenerateUpdateVanillaProofs(_ context.Context, proof abi.RegisteredUpdateProof, oldSealed, newSealed, unsealed cid.Cid,
	newReplica, newCache, sectorKey, sectorKeyCache string) ([][]byte, error) {
	return ffi.SectorUpdate.GenerateUpdateVanillaProofs(proof, oldSealed, newSealed, unsealed, newReplica, newCache, sectorKey, sectorKeyCache)
}

func (realSealer) GenerateUpdateProofWithVanilla(_ context.Context, proof abi.RegisteredUpdateProof, oldSealed, newSealed, unsealed cid.Cid,
	vanilla [][]byte) ([]byte, error) {
	return ffi.SectorUpdate.GenerateUpdateProofWithVanilla(proof, oldSealed, newSealed, unsealed, vanilla)
}

func (realSealer) VerifyUpdateProof(_ context.Context, info proof.ReplicaUpdateInfo) (bool, error) {
	return ffi.SectorUpdate.VerifyUpdateProof(info)
}

func privateSectors(in []PoStSector) ffi.SortedPrivateSectorInfo {
	out := make([]ffi.PrivateSectorInfo, len(in))
	for i, s := range in {
		out[i] = ffi.PrivateSectorInfo{SectorInfo: s.SectorInfo, CacheDirPath: s.CacheDirPath, PoStProofType: s.PoStProofType, SealedSectorPath: s.SealedSectorPath}
	}
	return ffi.NewSortedPrivateSectorInfo(out...)
}

func (realSealer) GenerateWinningPoSt(_ context.Context, miner abi.ActorID, sectors []PoStSector, randomness abi.PoStRandomness) ([]proof.PoStProof, error) {
	return ffi.GenerateWinningPoSt(miner, privateSectors(sectors), randomness)
}

func (realSealer) VerifyWinningPoSt(_ context.Context, info proof.WinningPoStVerifyInfo) (bool, error) {
	return ffi.VerifyWinningPoSt(info)
}

func (realSealer) GenerateWindowPoSt(_ context.Context, miner abi.ActorID, sectors []PoStSector, randomness abi.PoStRandomness) ([]proof.PoStProof, []abi.SectorNumber, error) {
	return ffi.GenerateWindowPoSt(miner, privateSectors(sectors), randomness)
}

func (realSealer) VerifyWindowPoSt(_ context.Context, info proof.WindowPoStVerifyInfo) (bool, error) {
	return ffi.VerifyWindowPoSt(info)
}

func (realSealer) UnsealRange(_ context.Context, proof abi.RegisteredSealProof, cacheDir, sealedPath, outPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, unsealed cid.Cid, offset, size uint64) error {
	sealed, err := os.Open(sealedPath)
	if err != nil {
		return err
	}
	defer sealed.Close()
	out, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = ffi.UnsealRange(proof, cacheDir, sealed, out, sector, miner, ticket, unsealed, offset, size)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing %s: %w", outPath, cerr)
	}
	return err
}
