package pluginclient_test

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sealhost/sealhost/internal/pluginclient"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The baseline for every benchmark here is the same sdk server (the same
// stage code) served in-process by a plain gRPC server on a unix socket,
// with no TLS and no go-plugin but the same window and buffer sizes,
// measured in the same run, so the ratio is what go-plugin (a separate
// process, mutual TLS) costs. Each benchmark's
// ns/op and MB/s are the plugin's; "plain-…" metrics are the baseline's
// and "x-plain" is plugin time over baseline time.

// plainClient serves allStages in-process over a unix socket.
func plainClient(b *testing.B) sealv1.StagesClient {
	b.Helper()
	dir, err := os.MkdirTemp("", "plain") // short: unix socket paths are limited
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	impl, err := sdk.NewServer(allStages("plain"))
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(sdk.MaxMessageSize), grpc.MaxSendMsgSize(sdk.MaxMessageSize),
		grpc.InitialWindowSize(64<<20), grpc.InitialConnWindowSize(64<<20),
		grpc.ReadBufferSize(1<<20), grpc.WriteBufferSize(1<<20))
	sealv1.RegisterStagesServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<20), grpc.WithInitialConnWindowSize(64<<20),
		grpc.WithReadBufferSize(1<<20), grpc.WithWriteBufferSize(1<<20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageSize), grpc.MaxCallSendMsgSize(sdk.MaxMessageSize)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return sealv1.NewStagesClient(conn)
}

type c2Caller interface {
	C2(ctx context.Context, req *sealv1.C2Request, opts ...grpc.CallOption) (*sealv1.C2Response, error)
}

// clientC2 adapts *pluginclient.Client to c2Caller.
type clientC2 struct{ c *pluginclient.Client }

func (c clientC2) C2(ctx context.Context, req *sealv1.C2Request, _ ...grpc.CallOption) (*sealv1.C2Response, error) {
	return c.c.C2(ctx, req)
}

// compare runs req b.N times through the plugin (timed) and then b.N
// times through the plain baseline, and reports the baseline and ratio.
func compare(b *testing.B, req *sealv1.C2Request, check func(*sealv1.C2Response) bool) {
	plug := clientC2{start(b, "all", pluginclient.Config{Name: "bench"})}
	plain := plainClient(b)
	ctx := context.Background()
	run := func(c c2Caller, n int) time.Duration {
		begin := time.Now()
		for range n {
			resp, err := c.C2(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if !check(resp) {
				b.Fatal("unexpected response")
			}
		}
		return time.Since(begin)
	}
	// Warm both paths (connections, TLS session, buffers) off the clock.
	run(plug, 3)
	run(plain, 3)
	b.ResetTimer()
	dPlug := run(plug, b.N)
	b.StopTimer()
	dPlain := run(plain, b.N)
	b.ReportMetric(float64(dPlain.Nanoseconds())/float64(b.N), "plain-ns/op")
	b.ReportMetric(float64(dPlug)/float64(dPlain), "x-plain")
	if bytes := float64(b.N) * float64(payloadSize); req.GetSector().GetSectorNumber() >= 2000 {
		b.ReportMetric(bytes/dPlain.Seconds()/1e6, "plain-MB/s")
	}
}

const payloadSize = 64 << 20

// BenchmarkNoopCall is one tiny stage call through go-plugin (a real
// subprocess, mutual TLS) against a plain gRPC call.
func BenchmarkNoopCall(b *testing.B) {
	req := &sealv1.C2Request{Sector: sector(1), Phase1Output: []byte("x")}
	compare(b, req, func(r *sealv1.C2Response) bool { return string(r.GetProof()) == "x" })
}

// BenchmarkPayload64MiB moves 64 MiB host to plugin (request) and plugin to
// host (response).
func BenchmarkPayload64MiB(b *testing.B) {
	b.Run("host-to-plugin", func(b *testing.B) {
		b.SetBytes(payloadSize)
		req := &sealv1.C2Request{Sector: sector(2000), Phase1Output: make([]byte, payloadSize)}
		compare(b, req, func(r *sealv1.C2Response) bool { return len(r.GetProof()) == 0 })
	})
	b.Run("plugin-to-host", func(b *testing.B) {
		b.SetBytes(payloadSize)
		req := &sealv1.C2Request{Sector: sector(2001), Phase1Output: binary.BigEndian.AppendUint64(nil, payloadSize)}
		compare(b, req, func(r *sealv1.C2Response) bool { return len(r.GetProof()) == payloadSize })
	})
}
