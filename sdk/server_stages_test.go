package sdk

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// laterStage drives one of the stages added after the sealing ones through
// the server with a stage function whose answer the test picks.
type laterStage struct {
	stage sealv1.Stage
	name  string
	// plugin serves the stage with f: it returns a response when ok, the
	// error otherwise, and panics when err is the panic sentinel.
	plugin func(f func(context.Context) (bool, error)) Plugin
	call   func(ctx context.Context, s sealv1.StagesServer) (bool, error)
}

var errPanic = errors.New("panic please")

func answer[R any](ctx context.Context, f func(context.Context) (bool, error)) (*R, error) {
	ok, err := f(ctx)
	if err == errPanic {
		panic("stage exploded")
	}
	if !ok {
		return nil, err
	}
	return new(R), err
}

func later() []laterStage {
	return []laterStage{
		{sealv1.Stage_STAGE_SNAP_ENCODE, "snap_encode",
			func(f func(context.Context) (bool, error)) Plugin {
				return Plugin{SnapEncode: SnapEncodeFunc(func(ctx context.Context, _ *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
					return answer[sealv1.SnapEncodeResponse](ctx, f)
				})}
			},
			func(ctx context.Context, s sealv1.StagesServer) (bool, error) {
				r, err := s.SnapEncode(ctx, &sealv1.SnapEncodeRequest{})
				return r != nil, err
			}},
		{sealv1.Stage_STAGE_SNAP_PROVE, "snap_prove",
			func(f func(context.Context) (bool, error)) Plugin {
				return Plugin{SnapProve: SnapProveFunc(func(ctx context.Context, _ *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
					return answer[sealv1.SnapProveResponse](ctx, f)
				})}
			},
			func(ctx context.Context, s sealv1.StagesServer) (bool, error) {
				r, err := s.SnapProve(ctx, &sealv1.SnapProveRequest{})
				return r != nil, err
			}},
		{sealv1.Stage_STAGE_WINDOW_POST, "window_post",
			func(f func(context.Context) (bool, error)) Plugin {
				return Plugin{WindowPoSt: WindowPoStFunc(func(ctx context.Context, _ *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
					return answer[sealv1.WindowPoStResponse](ctx, f)
				})}
			},
			func(ctx context.Context, s sealv1.StagesServer) (bool, error) {
				r, err := s.WindowPoSt(ctx, &sealv1.WindowPoStRequest{})
				return r != nil, err
			}},
		{sealv1.Stage_STAGE_WINNING_POST, "winning_post",
			func(f func(context.Context) (bool, error)) Plugin {
				return Plugin{WinningPoSt: WinningPoStFunc(func(ctx context.Context, _ *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
					return answer[sealv1.WinningPoStResponse](ctx, f)
				})}
			},
			func(ctx context.Context, s sealv1.StagesServer) (bool, error) {
				r, err := s.WinningPoSt(ctx, &sealv1.WinningPoStRequest{})
				return r != nil, err
			}},
		{sealv1.Stage_STAGE_UNSEAL, "unseal",
			func(f func(context.Context) (bool, error)) Plugin {
				return Plugin{Unseal: UnsealFunc(func(ctx context.Context, _ *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
					return answer[sealv1.UnsealResponse](ctx, f)
				})}
			},
			func(ctx context.Context, s sealv1.StagesServer) (bool, error) {
				r, err := s.Unseal(ctx, &sealv1.UnsealRequest{})
				return r != nil, err
			}},
		{sealv1.Stage_STAGE_ADD_PIECES, "add_pieces",
			func(f func(context.Context) (bool, error)) Plugin {
				return Plugin{AddPieces: AddPiecesFunc(func(ctx context.Context, _ *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
					return answer[sealv1.AddPiecesResponse](ctx, f)
				})}
			},
			func(ctx context.Context, s sealv1.StagesServer) (bool, error) {
				r, err := s.AddPieces(ctx, &sealv1.AddPiecesRequest{})
				return r != nil, err
			}},
	}
}

func TestLaterStages(t *testing.T) {
	for _, st := range later() {
		t.Run(st.name, func(t *testing.T) {
			if got := StageName(st.stage); got != st.name {
				t.Errorf("StageName(%v) = %q, want %q", st.stage, got, st.name)
			}
			var answerWith func(context.Context) (bool, error)
			p := st.plugin(func(ctx context.Context) (bool, error) { return answerWith(ctx) })
			p.Name = "later"
			if got := p.Stages(); len(got) != 1 || got[0] != st.stage {
				t.Fatalf("Stages() = %v, want [%v]", got, st.stage)
			}
			srv, err := NewServer(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				name     string
				ok       bool
				err      error
				cancel   bool
				wantCode codes.Code
				wantMsg  string
			}{
				{name: "answer", ok: true},
				{name: "error", err: Errorf("bad %s", "input"), wantCode: codes.InvalidArgument, wantMsg: "bad input"},
				{name: "nil answer", wantCode: codes.Unknown, wantMsg: "neither a response nor an error"},
				{name: "panic", err: errPanic, wantCode: codes.Unknown, wantMsg: "panicked in " + st.name},
				{name: "cancelled before start", ok: true, cancel: true, wantCode: codes.Canceled},
			} {
				t.Run(tt.name, func(t *testing.T) {
					ran := false
					answerWith = func(context.Context) (bool, error) { ran = true; return tt.ok, tt.err }
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					if tt.cancel {
						cancel()
					}
					ok, err := st.call(ctx, srv)
					if tt.wantCode == codes.OK {
						if err != nil || !ok {
							t.Fatalf("got (%v, %v), want a response", ok, err)
						}
						return
					}
					if s, _ := status.FromError(err); s.Code() != tt.wantCode || !strings.Contains(s.Message(), tt.wantMsg) {
						t.Fatalf("error = %v, want code %v containing %q", err, tt.wantCode, tt.wantMsg)
					}
					if tt.cancel && ran {
						t.Error("the stage ran although the call was cancelled before it began")
					}
				})
			}
		})
	}
}

func TestLaterStagesUnimplementedAndTracked(t *testing.T) {
	all := later()
	for i, st := range all {
		t.Run(st.name, func(t *testing.T) {
			// Served by a plugin that serves only the next stage.
			other := all[(i+1)%len(all)]
			p := other.plugin(func(context.Context) (bool, error) { return true, nil })
			p.Name, p.Unserved = "other", "built without it"
			srv, err := NewServer(p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.call(context.Background(), srv)
			if s, _ := status.FromError(err); s.Code() != codes.Unimplemented || !strings.Contains(s.Message(), "does not serve stage "+st.name+" (it serves "+other.name+"): built without it") {
				t.Fatalf("error = %v, want UNIMPLEMENTED naming %s, %s and the reason", err, st.name, other.name)
			}

			// A running call is listed by Info until its handler returns.
			inside, release := make(chan struct{}), make(chan struct{})
			p = st.plugin(func(context.Context) (bool, error) { close(inside); <-release; return true, nil })
			p.Name = "tracked"
			srv, err = NewServer(p)
			if err != nil {
				t.Fatal(err)
			}
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(CallMetadata, "call-7"))
			errc := make(chan error, 1)
			go func() { _, err := st.call(ctx, srv); errc <- err }()
			<-inside
			info, _ := srv.Info(context.Background(), &sealv1.InfoRequest{})
			if got := info.GetRunningCalls(); len(got) != 1 || got[0] != "call-7" {
				t.Errorf("running_calls during the call = %v, want [call-7]", got)
			}
			close(release)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			info, _ = srv.Info(context.Background(), &sealv1.InfoRequest{})
			if got := info.GetRunningCalls(); len(got) != 0 {
				t.Errorf("running_calls after the call = %v, want none", got)
			}
		})
	}
}
