package sdk

import (
	"context"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Each stage is its own one-method interface so a plugin implements only
// what it serves, and requests and responses are structs so fields can be
// added to the protocol without breaking anyone's code.
//
// ctx carries the host's deadline and is cancelled when the host gives up
// on the call (or goes away): long work should check ctx.Done() and return
// ctx.Err(). The request is the plugin's to read; the response must not be
// nil when the error is nil.

// TreeDStage builds tree_d and returns comm_d.
type TreeDStage interface {
	TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error)
}

// PC1Stage is filecoin-ffi's SealPreCommitPhase1.
type PC1Stage interface {
	PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error)
}

// PC2Stage is filecoin-ffi's SealPreCommitPhase2.
type PC2Stage interface {
	PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error)
}

// C1Stage is filecoin-ffi's SealCommitPhase1.
type C1Stage interface {
	C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error)
}

// C2Stage is filecoin-ffi's SealCommitPhase2.
type C2Stage interface {
	C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error)
}

// TreeDFunc lets a plain function serve as a TreeDStage.
type TreeDFunc func(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error)

// TreeD calls f.
func (f TreeDFunc) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	return f(ctx, req)
}

// PC1Func lets a plain function serve as a PC1Stage.
type PC1Func func(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error)

// PC1 calls f.
func (f PC1Func) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error) {
	return f(ctx, req)
}

// PC2Func lets a plain function serve as a PC2Stage.
type PC2Func func(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error)

// PC2 calls f.
func (f PC2Func) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	return f(ctx, req)
}

// C1Func lets a plain function serve as a C1Stage.
type C1Func func(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error)

// C1 calls f.
func (f C1Func) C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
	return f(ctx, req)
}

// C2Func lets a plain function serve as a C2Stage.
type C2Func func(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error)

// C2 calls f.
func (f C2Func) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	return f(ctx, req)
}

// The stages added to protocol v1 after the sealing ones: snap deals,
// PoSt, unseal and add_pieces.

// SnapEncodeStage is filecoin-ffi's SectorUpdate.EncodeInto.
type SnapEncodeStage interface {
	SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error)
}

// SnapEncodeFunc lets a plain function serve as a SnapEncodeStage.
type SnapEncodeFunc func(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error)

// SnapEncode calls f.
func (f SnapEncodeFunc) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	return f(ctx, req)
}

// SnapProveStage is filecoin-ffi's SectorUpdate update proof (vanilla proofs, then the SNARK).
type SnapProveStage interface {
	SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error)
}

// SnapProveFunc lets a plain function serve as a SnapProveStage.
type SnapProveFunc func(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error)

// SnapProve calls f.
func (f SnapProveFunc) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	return f(ctx, req)
}

// WindowPoStStage is filecoin-ffi's GenerateWindowPoSt.
type WindowPoStStage interface {
	WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error)
}

// WindowPoStFunc lets a plain function serve as a WindowPoStStage.
type WindowPoStFunc func(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error)

// WindowPoSt calls f.
func (f WindowPoStFunc) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	return f(ctx, req)
}

// WinningPoStStage is filecoin-ffi's GenerateWinningPoSt.
type WinningPoStStage interface {
	WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error)
}

// WinningPoStFunc lets a plain function serve as a WinningPoStStage.
type WinningPoStFunc func(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error)

// WinningPoSt calls f.
func (f WinningPoStFunc) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	return f(ctx, req)
}

// UnsealStage is filecoin-ffi's UnsealRange.
type UnsealStage interface {
	Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error)
}

// UnsealFunc lets a plain function serve as a UnsealStage.
type UnsealFunc func(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error)

// Unseal calls f.
func (f UnsealFunc) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	return f(ctx, req)
}

// AddPiecesStage is writes a staged sector file from piece files (filecoin-ffi's WriteWithAlignment).
type AddPiecesStage interface {
	AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error)
}

// AddPiecesFunc lets a plain function serve as a AddPiecesStage.
type AddPiecesFunc func(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error)

// AddPieces calls f.
func (f AddPiecesFunc) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	return f(ctx, req)
}
