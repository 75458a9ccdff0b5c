package daemon

import (
	"context"
	"fmt"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Task handlers of the stages besides sealing (snap, PoSt, unseal,
// add_pieces). They run exactly as the sealing stages' do (runStage); the
// plugin's stage call is found by its method, since an in-process test
// plugin (supervise.Config.Launch) need not serve them. PoSt requests
// name no single sector: their tasks show none.

func (s *service) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	return runStage(s.h, ctx, config.StageSnapEncode, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.SnapEncodeResponse, error) {
		sc, ok := c.(interface {
			SnapEncode(context.Context, *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error)
		})
		if !ok {
			return nil, noStage(c, config.StageSnapEncode)
		}
		return sc.SnapEncode(ctx, req)
	})
}

func (s *service) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	return runStage(s.h, ctx, config.StageSnapProve, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.SnapProveResponse, error) {
		sc, ok := c.(interface {
			SnapProve(context.Context, *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error)
		})
		if !ok {
			return nil, noStage(c, config.StageSnapProve)
		}
		return sc.SnapProve(ctx, req)
	})
}

func (s *service) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	return runStage(s.h, ctx, config.StageWindowPoSt, req, nil, func(ctx context.Context, c stageClient) (*sealv1.WindowPoStResponse, error) {
		sc, ok := c.(interface {
			WindowPoSt(context.Context, *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error)
		})
		if !ok {
			return nil, noStage(c, config.StageWindowPoSt)
		}
		return sc.WindowPoSt(ctx, req)
	})
}

func (s *service) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	return runStage(s.h, ctx, config.StageWinningPoSt, req, nil, func(ctx context.Context, c stageClient) (*sealv1.WinningPoStResponse, error) {
		sc, ok := c.(interface {
			WinningPoSt(context.Context, *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error)
		})
		if !ok {
			return nil, noStage(c, config.StageWinningPoSt)
		}
		return sc.WinningPoSt(ctx, req)
	})
}

func (s *service) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	return runStage(s.h, ctx, config.StageUnseal, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.UnsealResponse, error) {
		sc, ok := c.(interface {
			Unseal(context.Context, *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error)
		})
		if !ok {
			return nil, noStage(c, config.StageUnseal)
		}
		return sc.Unseal(ctx, req)
	})
}

func (s *service) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	return runStage(s.h, ctx, config.StageAddPieces, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.AddPiecesResponse, error) {
		sc, ok := c.(interface {
			AddPieces(context.Context, *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error)
		})
		if !ok {
			return nil, noStage(c, config.StageAddPieces)
		}
		return sc.AddPieces(ctx, req)
	})
}

func noStage(c stageClient, stage config.Stage) error {
	return fmt.Errorf("the plugin instance's client (%T) has no %s call", c, stage)
}
