package pluginclient

import (
	"context"

	"google.golang.org/grpc"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The stages added to v1 after the sealing ones carry no blob, so each is
// the gRPC call with the plugin's error decoded. A plugin that predates
// them answers UNIMPLEMENTED, decoded like any other error.

// SnapEncode calls the plugin's snap_encode stage.
func (c *Client) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	return plain(c, ctx, "snap_encode", sealv1.StagesClient.SnapEncode, req)
}

// SnapProve calls the plugin's snap_prove stage.
func (c *Client) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	return plain(c, ctx, "snap_prove", sealv1.StagesClient.SnapProve, req)
}

// WindowPoSt calls the plugin's window_post stage.
func (c *Client) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	return plain(c, ctx, "window_post", sealv1.StagesClient.WindowPoSt, req)
}

// WinningPoSt calls the plugin's winning_post stage.
func (c *Client) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	return plain(c, ctx, "winning_post", sealv1.StagesClient.WinningPoSt, req)
}

// Unseal calls the plugin's unseal stage.
func (c *Client) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	return plain(c, ctx, "unseal", sealv1.StagesClient.Unseal, req)
}

// AddPieces calls the plugin's add_pieces stage.
func (c *Client) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	return plain(c, ctx, "add_pieces", sealv1.StagesClient.AddPieces, req)
}

func plain[Q, R any](c *Client, ctx context.Context, stage string, rpc func(sealv1.StagesClient, context.Context, *Q, ...grpc.CallOption) (*R, error), req *Q) (*R, error) {
	s, err := c.client()
	if err != nil {
		return nil, err
	}
	resp, err := rpc(s, ctx, req)
	if err != nil {
		return nil, c.callError(ctx, stage, err)
	}
	return resp, nil
}
