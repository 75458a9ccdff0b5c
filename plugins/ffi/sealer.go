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
