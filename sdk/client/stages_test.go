package client

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Each later stage's call reaches its own RPC and names its stage in the
// error: a host without it answers UNIMPLEMENTED for that method.
func TestLaterStageCalls(t *testing.T) {
	c := serve(t, &fakeHost{})
	ctx := context.Background()
	for _, tc := range []struct {
		stage, method string
		call          func() error
	}{
		{"snap_encode", "SnapEncode", func() error { _, err := c.SnapEncode(ctx, &sealv1.SnapEncodeRequest{}); return err }},
		{"snap_prove", "SnapProve", func() error { _, err := c.SnapProve(ctx, &sealv1.SnapProveRequest{}); return err }},
		{"window_post", "WindowPoSt", func() error { _, err := c.WindowPoSt(ctx, &sealv1.WindowPoStRequest{}); return err }},
		{"winning_post", "WinningPoSt", func() error { _, err := c.WinningPoSt(ctx, &sealv1.WinningPoStRequest{}); return err }},
		{"unseal", "Unseal", func() error { _, err := c.Unseal(ctx, &sealv1.UnsealRequest{}); return err }},
		{"add_pieces", "AddPieces", func() error { _, err := c.AddPieces(ctx, &sealv1.AddPiecesRequest{}); return err }},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			var te *TaskError
			err := tc.call()
			if !errors.As(err, &te) || te.Stage != tc.stage || te.Code != codes.Unimplemented || !strings.Contains(err.Error(), "method "+tc.method+" not implemented") {
				t.Fatalf("err = %v, want UNIMPLEMENTED for %s naming %s", err, tc.method, tc.stage)
			}
		})
	}
}
