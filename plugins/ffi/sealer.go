package main

import (
	"context"
	"errors"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"
)

// Sealer is the part of filecoin-ffi this plugin calls. The stage logic is
// written against it so that it can be tested here with a fake, while the
// real implementation (ffi_cgo.go, build tags cgo && ffi) is a thin adapter
// that is type-checked against filecoin-ffi v1.30.0 by typecheck_test.go.
//
// The ctx arguments exist for the fake and for future versions: filecoin-ffi
// calls cannot be interrupted once started.
type Sealer interface {
	SealPreCommitPhase1(ctx context.Context, proof abi.RegisteredSealProof, cacheDir, staged, sealed string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) ([]byte, error)
	SealPreCommitPhase2(ctx context.Context, phase1Out []byte, cacheDir, sealed string) (commR, commD cid.Cid, err error)
	SealCommitPhase1(ctx context.Context, proof abi.RegisteredSealProof, commR, commD cid.Cid, cacheDir, sealed string,
		sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness,
		pieces []abi.PieceInfo) ([]byte, error)
	SealCommitPhase2(ctx context.Context, phase1Out []byte, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error)
	GPUDevices() ([]string, error)
}

// ErrNoFFI is what every stage but tree_d answers in a binary built without
// filecoin-ffi. Never a fake result.
var ErrNoFFI = errors.New("built without filecoin-ffi: see plugins/ffi/README.md to build the plugin with `make ffi FFI_DIR=…`")
