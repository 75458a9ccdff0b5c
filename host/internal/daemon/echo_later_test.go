package daemon

import (
	"context"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// echoPlugin's answers to the stages besides sealing (FuzzTaskService).

func (p *echoPlugin) SnapEncode(_ context.Context, r *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	p.keep(r)
	return &sealv1.SnapEncodeResponse{}, nil
}
func (p *echoPlugin) SnapProve(_ context.Context, r *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	p.keep(r)
	return &sealv1.SnapProveResponse{}, nil
}
func (p *echoPlugin) WindowPoSt(_ context.Context, r *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	p.keep(r)
	return &sealv1.WindowPoStResponse{}, nil
}
func (p *echoPlugin) WinningPoSt(_ context.Context, r *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	p.keep(r)
	return &sealv1.WinningPoStResponse{}, nil
}
func (p *echoPlugin) Unseal(_ context.Context, r *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	p.keep(r)
	return &sealv1.UnsealResponse{}, nil
}
func (p *echoPlugin) AddPieces(_ context.Context, r *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	p.keep(r)
	return &sealv1.AddPiecesResponse{}, nil
}
