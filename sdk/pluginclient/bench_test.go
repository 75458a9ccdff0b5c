package pluginclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// mtlsCreds makes a throwaway self-signed certificate used by both ends,
// the way go-plugin's AutoMTLS does.
func mtlsCreds(b *testing.B) (server, client credentials.TransportCredentials) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}),
		credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
}

// The baseline for every benchmark here is the same sdk server (the same
// stage code) served in-process by a plain gRPC server on a unix socket,
// with no TLS and no go-plugin but the same window and buffer sizes,
// measured in the same run, so the ratio is what go-plugin (a separate
// process, mutual TLS) costs. Each benchmark's
// ns/op and MB/s are the plugin's; "plain-…" metrics are the baseline's
// and "x-plain" is plugin time over baseline time.

// plainClient serves allStages in-process over a unix socket, with mutual
// TLS when withTLS (as go-plugin's AutoMTLS does, minus the process).
func plainClient(b *testing.B, withTLS bool) sealv1.StagesClient {
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
	serverCreds, clientCreds := insecure.NewCredentials(), insecure.NewCredentials()
	if withTLS {
		serverCreds, clientCreds = mtlsCreds(b)
	}
	srv := grpc.NewServer(grpc.Creds(serverCreds), grpc.MaxRecvMsgSize(sdk.MaxMessageSize), grpc.MaxSendMsgSize(sdk.MaxMessageSize),
		grpc.InitialWindowSize(64<<20), grpc.InitialConnWindowSize(64<<20),
		grpc.ReadBufferSize(1<<20), grpc.WriteBufferSize(1<<20))
	sealv1.RegisterStagesServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(clientCreds),
		grpc.WithInitialWindowSize(64<<20), grpc.WithInitialConnWindowSize(64<<20),
		grpc.WithReadBufferSize(1<<20), grpc.WithWriteBufferSize(1<<20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageSize), grpc.MaxCallSendMsgSize(sdk.MaxMessageSize)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return sealv1.NewStagesClient(conn)
}

// stageCaller is what the benchmarks call: a plain gRPC client or, through
// clientStages, the host's pluginclient.
type stageCaller interface {
	C1(ctx context.Context, req *sealv1.C1Request, opts ...grpc.CallOption) (*sealv1.C1Response, error)
	C2(ctx context.Context, req *sealv1.C2Request, opts ...grpc.CallOption) (*sealv1.C2Response, error)
}

// clientStages adapts *pluginclient.Client to stageCaller.
type clientStages struct{ c *pluginclient.Client }

func (c clientStages) C1(ctx context.Context, req *sealv1.C1Request, _ ...grpc.CallOption) (*sealv1.C1Response, error) {
	return c.c.C1(ctx, req)
}

func (c clientStages) C2(ctx context.Context, req *sealv1.C2Request, _ ...grpc.CallOption) (*sealv1.C2Response, error) {
	return c.c.C2(ctx, req)
}

// compare makes call b.N times through the plugin and b.N times through
// the plain baseline, alternating one call each so that both see the same
// machine load (the benchmark machine is shared), and reports both.
// ns/op and MB/s are overridden with the plugin's own figures, since the
// benchmark's clock runs over both. With bytes > 0, MB/s figures are
// reported for that many bytes moved per call.
func compare(b *testing.B, bytes int, call func(stageCaller) error) {
	plug := clientStages{start(b, "all", pluginclient.Config{Name: "bench"})}
	if bytes > 0 && plug.c.BlobDir() == "" {
		b.Fatal("the plugin does not take large payloads as files: the fast path is off")
	}
	plain := plainClient(b, false)
	withTLS := plainClient(b, true)
	// For payloads, also the plugin with the fast path off: what every
	// payload cost before it, and still costs with a plugin predating it.
	var inline stageCaller
	if bytes > 0 {
		inline = clientStages{start(b, "all", pluginclient.Config{Name: "bench-inline", InlinePayloads: true})}
	}
	timed := func(c stageCaller) time.Duration {
		begin := time.Now()
		err := call(c)
		d := time.Since(begin)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	// Warm both paths (connections, TLS, buffers) off the clock.
	for range 3 {
		timed(plug)
		timed(plain)
		timed(withTLS)
		if inline != nil {
			timed(inline)
		}
	}
	b.ResetTimer()
	var dPlug, dPlain, dTLS, dInline time.Duration
	for range b.N {
		dPlug += timed(plug)
		dPlain += timed(plain)
		dTLS += timed(withTLS)
		if inline != nil {
			dInline += timed(inline)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(dPlug.Nanoseconds())/n, "ns/op")
	b.ReportMetric(float64(dPlain.Nanoseconds())/n, "plain-ns/op")
	b.ReportMetric(float64(dPlug)/float64(dPlain), "x-plain")
	// Not a target, an explanation: how much of the ratio is TLS alone.
	b.ReportMetric(float64(dTLS)/float64(dPlain), "tls-x-plain")
	if bytes > 0 {
		b.ReportMetric(n*float64(bytes)/dPlug.Seconds()/1e6, "MB/s")
		b.ReportMetric(n*float64(bytes)/dPlain.Seconds()/1e6, "plain-MB/s")
		b.ReportMetric(n*float64(bytes)/dInline.Seconds()/1e6, "inline-MB/s")
		b.ReportMetric(float64(dPlug)/float64(dInline), "x-inline")
	}
}

const payloadSize = 64 << 20

// BenchmarkNoopCall is one tiny stage call through go-plugin (a real
// subprocess, mutual TLS) against a plain gRPC call.
func BenchmarkNoopCall(b *testing.B) {
	req := &sealv1.C2Request{Sector: sector(1), Phase1Output: []byte("x")}
	compare(b, 0, func(c stageCaller) error {
		r, err := c.C2(context.Background(), req)
		if err == nil && string(r.GetProof()) != "x" {
			err = fmt.Errorf("proof %q, want %q", r.GetProof(), "x")
		}
		return err
	})
}

// BenchmarkPayload64MiB moves 64 MiB host to plugin (a C2 request) and
// plugin to host (a C1 response). Through the plugin the bytes travel as a
// file (sealv1.Blob); the plain baseline is a host that predates blobs, so
// the same sdk server sends them inline through gRPC. "inline-MB/s" is the
// same plugin with the fast path off (Config.InlinePayloads) and
// "x-inline" the fast path's time over that.
func BenchmarkPayload64MiB(b *testing.B) {
	b.Run("host-to-plugin", func(b *testing.B) {
		b.SetBytes(payloadSize)
		req := &sealv1.C2Request{Sector: sector(2000), Phase1Output: pattern(payloadSize)}
		compare(b, payloadSize, func(c stageCaller) error {
			r, err := c.C2(context.Background(), req)
			if err == nil && len(r.GetProof()) != 0 {
				err = fmt.Errorf("proof of %d bytes, want none", len(r.GetProof()))
			}
			return err
		})
	})
	b.Run("plugin-to-host", func(b *testing.B) {
		b.SetBytes(payloadSize)
		req := &sealv1.C1Request{Sector: sector(2001), Seed: binary.BigEndian.AppendUint64(nil, payloadSize)}
		compare(b, payloadSize, func(c stageCaller) error {
			r, err := c.C1(context.Background(), req)
			if err == nil && len(r.GetPhase1Output()) != payloadSize {
				err = fmt.Errorf("phase1_output of %d bytes, want %d", len(r.GetPhase1Output()), payloadSize)
			}
			return err
		})
	})
}
