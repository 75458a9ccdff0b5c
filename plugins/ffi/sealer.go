package main

import (
	"context"
	"errors"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
)

// Sealer is the part of filecoin-ffi this plugin calls. The stage logic is
// written against it so that it can be tested here with a fake, while the
// real implementation (ffi_cgo.go, build tags cgo && ffi) is a thin adapter
// that is type-checked against filecoin-ffi v1.32.0 by typecheck_test.go.
//
// filecoin-ffi calls cannot be interrupted once started, and a Rust panic or
// abort ends the process that made the call. So the plugin never calls
// filecoin-ffi in the process that serves gRPC: childSealer (child.go) runs
// each call in a child process of its own binary and honours ctx by killing
// that child.
type Sealer interface {
	SealPreCommitPhase1(ctx context.Context, proof abi.RegisteredSealProof, cacheDir, staged, sealed string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) ([]byte, error)
	SealPreCommitPhase2(ctx context.Context, phase1Out []byte, cacheDir, sealed string) (commR, commD cid.Cid, err error)
	SealCommitPhase1(ctx context.Context, proof abi.RegisteredSealProof, commR, commD cid.Cid, cacheDir, sealed string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness,
		pieces []abi.PieceInfo) ([]byte, error)
	SealCommitPhase2(ctx context.Context, phase1Out []byte, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error)
	VerifySeal(ctx context.Context, info proof.SealVerifyInfo) (bool, error)
	GPUDevices(ctx context.Context) ([]string, error)
}

// ErrNoFFI is what every stage but tree_d answers in a binary built without
// filecoin-ffi. Never a fake result.
var ErrNoFFI = errors.New("built without filecoin-ffi: see plugins/ffi/README.md to build the plugin with `make ffi FFI_DIR=…`")

// ffiVersion is the filecoin-ffi release this plugin is built and
// type-checked against (go.mod; tools/filcrypto/build.sh builds its library).
const ffiVersion = "v1.32.0"

// Prover is the part of filecoin-ffi that works on sectors already sealed:
// snap updates (encode, vanilla and SNARK update proofs), Window and
// Winning PoSt, unsealing, and adding pieces to a staged file. It is apart
// from Sealer so that the stage logic of the sealing stages and its fakes
// do not grow with it; both run in the same per-call child process
// (childSealer implements both) for the same reasons.
//
// The arguments mirror filecoin-ffi v1.32.0's, with paths instead of open
// files: the child opens them, so no descriptor crosses processes.
type Prover interface {
	// AddPiece appends a piece's bytes (fr32-padded, after the alignment
	// padding filecoin-ffi computes from existing) to the staged file.
	AddPiece(ctx context.Context, proof abi.RegisteredSealProof, piecePath string, size abi.UnpaddedPieceSize,
		stagedPath string, existing []abi.UnpaddedPieceSize) (left, total abi.UnpaddedPieceSize, piece cid.Cid, err error)
	EncodeInto(ctx context.Context, proof abi.RegisteredUpdateProof, newReplica, newCache, sectorKey, sectorKeyCache, staged string,
		pieces []abi.PieceInfo) (newSealed, newUnsealed cid.Cid, err error)
	GenerateUpdateVanillaProofs(ctx context.Context, proof abi.RegisteredUpdateProof, oldSealed, newSealed, unsealed cid.Cid,
		newReplica, newCache, sectorKey, sectorKeyCache string) ([][]byte, error)
	GenerateUpdateProofWithVanilla(ctx context.Context, proof abi.RegisteredUpdateProof, oldSealed, newSealed, unsealed cid.Cid,
		vanilla [][]byte) ([]byte, error)
	VerifyUpdateProof(ctx context.Context, info proof.ReplicaUpdateInfo) (bool, error)
	GenerateWinningPoSt(ctx context.Context, miner abi.ActorID, sectors []PoStSector, randomness abi.PoStRandomness) ([]proof.PoStProof, error)
	VerifyWinningPoSt(ctx context.Context, info proof.WinningPoStVerifyInfo) (bool, error)
	// GenerateWindowPoSt returns the faulty sectors filecoin-ffi names when
	// it cannot prove some (with its error).
	GenerateWindowPoSt(ctx context.Context, miner abi.ActorID, sectors []PoStSector, randomness abi.PoStRandomness) ([]proof.PoStProof, []abi.SectorNumber, error)
	VerifyWindowPoSt(ctx context.Context, info proof.WindowPoStVerifyInfo) (bool, error)
	// UnsealRange writes the unpadded bytes [offset, offset+size) of the
	// sector's data to outPath (created or truncated).
	UnsealRange(ctx context.Context, proof abi.RegisteredSealProof, cacheDir, sealedPath, outPath string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, unsealed cid.Cid, offset, size uint64) error
}

// PoStSector is one sector a PoSt proves, as filecoin-ffi's
// PrivateSectorInfo has it.
type PoStSector struct {
	proof.SectorInfo
	PoStProofType    abi.RegisteredPoStProof
	CacheDirPath     string
	SealedSectorPath string
}
