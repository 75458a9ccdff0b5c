package sdk

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Serve runs p as a plugin until the host tells it to stop, then returns.
// Call it from main. Started by hand rather than by the host, it prints an
// explanation and exits with status 1; so does a p that serves nothing.
//
// Before the handshake, Serve makes sure nothing but the handshake can
// reach the host through file descriptor 1: native code (rust-fil-proofs
// through cgo) writes there directly, below os.Stdout, and one stray byte
// would break the start-up. After Serve starts, fd 1 and os.Stdout lead to
// stderr, which the host logs.
func Serve(p Plugin) {
	if err := p.validate(); err != nil {
		fmt.Fprintf(stderr(), "sdk.Serve: %v\n", err)
		os.Exit(1)
	}
	srv, err := NewServer(p)
	if err != nil {
		fmt.Fprintf(stderr(), "sdk.Serve: %v\n", err)
		os.Exit(1)
	}
	if limit, ok := setMemoryLimit(); ok {
		pluginLogger().Debug("Go memory limit set from the cgroup's memory limit", "gomemlimit", limit)
	}

	// go-plugin prints the handshake line with fmt.Printf, i.e. to
	// whatever os.Stdout is at that moment, then swaps os.Stdout for a pipe
	// of its own. Pointing os.Stdout at the private copy of the real stdout
	// for that window is the only way in.
	os.Stdout = protectStdout()

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &grpcPlugin{server: srv}},
		},
		GRPCServer: newGRPCServer,
		Logger:     pluginLogger(),
	})
}

func handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

const (
	flowWindow = 64 << 20
	ioBuffer   = 1 << 20
)

// newGRPCServer raises the message limits go-plugin's default server
// leaves at gRPC's 4 MiB, which a C1 output alone exceeds.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts,
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		// Stage payloads are tens of MB over a local socket: a fixed large
		// window and buffers beat gRPC's 64 KiB start and its
		// bandwidth-delay probing (the host's client does the same).
		grpc.InitialWindowSize(flowWindow),
		grpc.InitialConnWindowSize(flowWindow),
		grpc.ReadBufferSize(ioBuffer),
		grpc.WriteBufferSize(ioBuffer),
		grpc.ChainUnaryInterceptor(deadlineInterceptor),
	)...)
}

// grpcPlugin registers the stages service with go-plugin's gRPC server.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server sealv1.StagesServer
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	sealv1.RegisterStagesServer(s, g.server)
	return nil
}

func (g *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return sealv1.NewStagesClient(c), nil
}

var (
	// origStderr is fd 2 as the process started: go-plugin later swaps
	// os.Stderr for a pipe, but log lines must go to the real stderr, which
	// the host parses as hclog JSON.
	origStderr = os.Stderr

	loggerOnce sync.Once
	logger     hclog.Logger
)

func stderr() *os.File { return origStderr }

// pluginLogger writes hclog JSON to the real stderr; the host re-logs each
// line at its own level under the plugin's name.
func pluginLogger() hclog.Logger {
	loggerOnce.Do(func() {
		level := hclog.LevelFromString(os.Getenv(LogLevelEnv))
		if level == hclog.NoLevel {
			level = hclog.Trace
		}
		logger = hclog.New(&hclog.LoggerOptions{
			Level:      level,
			Output:     origStderr,
			JSONFormat: true,
		})
	})
	return logger
}
