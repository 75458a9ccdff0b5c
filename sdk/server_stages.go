package sdk

import (
	"context"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Handlers of the stages added to v1 after the sealing ones. None of their
// fields is large enough to need a blob (a snap vanilla proof is per
// partition and small next to a C1 output), so they share one shape, call.

func (s *server) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	if s.p.SnapEncode == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_SNAP_ENCODE)
	}
	return call(s, ctx, sealv1.Stage_STAGE_SNAP_ENCODE, s.p.SnapEncode.SnapEncode, req)
}

func (s *server) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	if s.p.SnapProve == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_SNAP_PROVE)
	}
	return call(s, ctx, sealv1.Stage_STAGE_SNAP_PROVE, s.p.SnapProve.SnapProve, req)
}

func (s *server) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	if s.p.WindowPoSt == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_WINDOW_POST)
	}
	return call(s, ctx, sealv1.Stage_STAGE_WINDOW_POST, s.p.WindowPoSt.WindowPoSt, req)
}

func (s *server) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	if s.p.WinningPoSt == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_WINNING_POST)
	}
	return call(s, ctx, sealv1.Stage_STAGE_WINNING_POST, s.p.WinningPoSt.WinningPoSt, req)
}

func (s *server) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	if s.p.Unseal == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_UNSEAL)
	}
	return call(s, ctx, sealv1.Stage_STAGE_UNSEAL, s.p.Unseal.Unseal, req)
}

func (s *server) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	if s.p.AddPieces == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_ADD_PIECES)
	}
	return call(s, ctx, sealv1.Stage_STAGE_ADD_PIECES, s.p.AddPieces.AddPieces, req)
}

// call runs a served stage as the sealing stages' handlers do: track the
// call, refuse one cancelled before it began, turn a panic or a nil answer
// into an error, encode the error for the wire.
func call[Q, R any](s *server, ctx context.Context, stage sealv1.Stage, f func(context.Context, *Q) (*R, error), req *Q) (resp *R, err error) {
	ctx, done := s.begin(ctx, stage, &err)
	defer done()
	if err := notStarted(ctx); err != nil {
		return nil, err
	}
	resp, err = f(ctx, req)
	return resp, s.finish(ctx, resp == nil, err)
}
