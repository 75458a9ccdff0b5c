//go:build !(cgo && ffi)

package main

import (
	"context"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
)

// noSealer stands in where filecoin-ffi was not built in: every call answers
// ErrNoFFI, so the plugin still serves tree_d and says plainly why the other
// stages cannot run.
type noSealer struct{}

func newSealer() Sealer { return noSealer{} }

var _ Prover = noSealer{}

const builtWithFFI = false

func (noSealer) SealPreCommitPhase1(context.Context, abi.RegisteredSealProof, string, string, string,
	abi.SectorNumber, abi.ActorID, abi.SealRandomness, []abi.PieceInfo) ([]byte, error) {
	return nil, ErrNoFFI
}

func (noSealer) SealPreCommitPhase2(context.Context, []byte, string, string) (cid.Cid, cid.Cid, error) {
	return cid.Undef, cid.Undef, ErrNoFFI
}

func (noSealer) SealCommitPhase1(context.Context, abi.RegisteredSealProof, cid.Cid, cid.Cid, string, string,
	abi.SectorNumber, abi.ActorID, abi.SealRandomness, abi.InteractiveSealRandomness, []abi.PieceInfo) ([]byte, error) {
	return nil, ErrNoFFI
}

func (noSealer) SealCommitPhase2(context.Context, []byte, abi.SectorNumber, abi.ActorID) ([]byte, error) {
	return nil, ErrNoFFI
}

func (noSealer) VerifySeal(context.Context, proof.SealVerifyInfo) (bool, error) {
	return false, ErrNoFFI
}

func (noSealer) GPUDevices(context.Context) ([]string, error) { return nil, ErrNoFFI }

func (noSealer) AddPiece(context.Context, abi.RegisteredSealProof, string, abi.UnpaddedPieceSize, string, []abi.UnpaddedPieceSize) (abi.UnpaddedPieceSize, abi.UnpaddedPieceSize, cid.Cid, error) {
	return 0, 0, cid.Undef, ErrNoFFI
}

func (noSealer) EncodeInto(context.Context, abi.RegisteredUpdateProof, string, string, string, string, string, []abi.PieceInfo) (cid.Cid, cid.Cid, error) {
	return cid.Undef, cid.Undef, ErrNoFFI
}

func (noSealer) GenerateUpdateVanillaProofs(context.Context, abi.RegisteredUpdateProof, cid.Cid, cid.Cid, cid.Cid, string, string, string, string) ([][]byte, error) {
	return nil, ErrNoFFI
}

func (noSealer) GenerateUpdateProofWithVanilla(context.Context, abi.RegisteredUpdateProof, cid.Cid, cid.Cid, cid.Cid, [][]byte) ([]byte, error) {
	return nil, ErrNoFFI
}

func (noSealer) VerifyUpdateProof(context.Context, proof.ReplicaUpdateInfo) (bool, error) {
	return false, ErrNoFFI
}

func (noSealer) GenerateWinningPoSt(context.Context, abi.ActorID, []PoStSector, abi.PoStRandomness) ([]proof.PoStProof, error) {
	return nil, ErrNoFFI
}

func (noSealer) VerifyWinningPoSt(context.Context, proof.WinningPoStVerifyInfo) (bool, error) {
	return false, ErrNoFFI
}

func (noSealer) GenerateWindowPoSt(context.Context, abi.ActorID, []PoStSector, abi.PoStRandomness) ([]proof.PoStProof, []abi.SectorNumber, error) {
	return nil, nil, ErrNoFFI
}

func (noSealer) VerifyWindowPoSt(context.Context, proof.WindowPoStVerifyInfo) (bool, error) {
	return false, ErrNoFFI
}

func (noSealer) UnsealRange(context.Context, abi.RegisteredSealProof, string, string, string, abi.SectorNumber, abi.ActorID, abi.SealRandomness, cid.Cid, uint64, uint64) error {
	return ErrNoFFI
}
