//go:build cgo && ffi

package main

import (
	"context"

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
