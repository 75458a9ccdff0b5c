// Command fakev2 is a plugin from the future: it speaks a protocol version
// 2 that does not exist yet and, with -v1, protocol 1 as well. It is built
// without package sdk, the way a plugin in another language or against
// another SDK would be, so the versioning tests exercise go-plugin's
// negotiation and nothing of ours on the plugin side.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func main() {
	v1 := flag.Bool("v1", false, "also serve protocol version 1")
	key := flag.String("cookie-key", "", "magic cookie key")
	value := flag.String("cookie-value", "", "magic cookie value")
	flag.Parse()
	versions := map[int]plugin.PluginSet{2: {"stages": &v2{}}}
	if *v1 {
		versions[1] = plugin.PluginSet{"stages": &stagesV1{}}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: *key, MagicCookieValue: *value},
		VersionedPlugins: versions,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(256<<20), grpc.MaxSendMsgSize(256<<20))...)
		},
	})
}

// v2 registers nothing beyond go-plugin's own services: the host side of
// the test only checks which version was negotiated.
type v2 struct{ plugin.NetRPCUnsupportedPlugin }

func (*v2) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (*v2) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("server side only")
}

type stagesV1 struct{ plugin.NetRPCUnsupportedPlugin }

func (*stagesV1) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	sealv1.RegisterStagesServer(s, &server{})
	return nil
}
func (*stagesV1) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("server side only")
}

type server struct {
	sealv1.UnimplementedStagesServer
}

func (*server) Info(context.Context, *sealv1.InfoRequest) (*sealv1.InfoResponse, error) {
	return &sealv1.InfoResponse{Name: "fakev2", Version: os.Getenv("FAKEV2_VERSION"), ProtocolVersion: 1}, nil
}

// C1 and C2 stand for a plugin that predates large payloads as files: it
// never says accepts_blobs, so a host must send and expect plain bytes.
// Seeing a blob field proves the host wrong.

// C1 answers as many bytes as the seed's first 8 bytes say (big-endian).
func (*server) C1(_ context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
	if req.GetResponseBlobDir() != "" {
		return nil, fmt.Errorf("fakev2 predates blobs, yet the host offered response_blob_dir %q", req.GetResponseBlobDir())
	}
	if len(req.GetSeed()) < 8 {
		return nil, fmt.Errorf("fakev2: seed of %d bytes, want 8", len(req.GetSeed()))
	}
	return &sealv1.C1Response{Phase1Output: make([]byte, binary.BigEndian.Uint64(req.GetSeed()))}, nil
}

// C2 answers the SHA-256 of phase1_output.
func (*server) C2(_ context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	if req.GetPhase1OutputBlob() != nil {
		return nil, fmt.Errorf("fakev2 predates blobs, yet the host sent phase1_output_blob %v", req.GetPhase1OutputBlob())
	}
	sum := sha256.Sum256(req.GetPhase1Output())
	return &sealv1.C2Response{Proof: sum[:]}, nil
}
