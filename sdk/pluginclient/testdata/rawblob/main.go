// Command rawblob is a plugin written without package sdk that gets large
// payloads as files wrong: it claims to accept them, then answers c1 with
// a broken blob. Package sdk is kept out because a plugin importing it has
// fd 1 pointed at stderr until sdk.Serve runs, which this one never calls.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: os.Getenv("RAWBLOB_COOKIE_KEY"), MagicCookieValue: os.Getenv("RAWBLOB_COOKIE_VALUE")},
		VersionedPlugins: map[int]plugin.PluginSet{1: {"stages": &stagesV1{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// stagesV1 serves server, a plugin that claims to take blobs
// and answers c1 with a broken one, by sector number:
//
//	3001: a file that does not exist   3002: a file shorter than announced
//	3003: the file named by $RAWBLOB_OUTSIDE, outside the call's directory
//	3004: both inline bytes and a blob
type stagesV1 struct{ plugin.NetRPCUnsupportedPlugin }

func (*stagesV1) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	sealv1.RegisterStagesServer(s, &server{})
	return nil
}

func (*stagesV1) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("plugin side only")
}

type server struct {
	sealv1.UnimplementedStagesServer
}

func (*server) Info(context.Context, *sealv1.InfoRequest) (*sealv1.InfoResponse, error) {
	return &sealv1.InfoResponse{Name: "rawblob", ProtocolVersion: 1, AcceptsBlobs: true}, nil
}

func (*server) C1(_ context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
	dir := req.GetResponseBlobDir()
	if dir == "" {
		return nil, fmt.Errorf("rawblob: the host offered no response_blob_dir")
	}
	write := func(n int) string {
		p := filepath.Join(dir, "c1.blob")
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			panic(err)
		}
		return p
	}
	switch req.GetSector().GetSectorNumber() {
	case 3001:
		return &sealv1.C1Response{Phase1OutputBlob: &sealv1.Blob{Path: filepath.Join(dir, "never-written.blob"), Size: 2 << 20}}, nil
	case 3002:
		return &sealv1.C1Response{Phase1OutputBlob: &sealv1.Blob{Path: write(2 << 20), Size: 3 << 20}}, nil
	case 3003:
		p := os.Getenv("RAWBLOB_OUTSIDE")
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		return &sealv1.C1Response{Phase1OutputBlob: &sealv1.Blob{Path: p, Size: uint64(st.Size())}}, nil
	case 3004:
		return &sealv1.C1Response{Phase1Output: []byte("inline"), Phase1OutputBlob: &sealv1.Blob{Path: write(2 << 20), Size: 2 << 20}}, nil
	}
	return nil, fmt.Errorf("rawblob: no behaviour for sector %d", req.GetSector().GetSectorNumber())
}
