package pluginclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/internal/blob"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// errAbandoned marks a start given up because the caller's ctx ended.
var errAbandoned = errors.New("start abandoned by the caller")

// DefaultStartTimeout bounds the handshake when Config.StartTimeout is 0.
const DefaultStartTimeout = time.Minute

// flowWindow and ioBuffer tune gRPC for large local messages; the SDK's
// server uses the same values.
const (
	flowWindow = 64 << 20
	ioBuffer   = 1 << 20
)

// stderrTailLines is how many of the plugin's last stderr lines an error
// quotes.
const stderrTailLines = 20

// Config says which plugin to start and how.
type Config struct {
	// Name identifies the plugin in errors and logs. Defaults to the base
	// name of Cmd.Path.
	Name string

	// Cmd is the prepared, not yet started command. The caller owns its
	// Path, Args, Dir, SysProcAttr and Env: a confinement wrapper may make
	// Path a shim. Cmd.Env is the plugin's whole environment (nothing is
	// inherited from the host); Start only appends the go-plugin handshake
	// variables and sdk.LogLevelEnv to it. Stdout and Stderr must be nil:
	// Start takes them for the handshake and the log.
	Cmd *exec.Cmd

	// Binary is the plugin program Cmd finally runs, named in logs and
	// start errors instead of Cmd.Path when Cmd goes through a wrapper (the
	// host's confinement shim is /proc/self/exe). Defaults to Cmd.Path.
	Binary string

	// Logger receives the plugin's log lines at their own levels, and
	// Start's own messages. Defaults to hclog.Default().
	Logger hclog.Logger

	// StartTimeout bounds the whole start: process start, handshake,
	// connection and a health check. Defaults to DefaultStartTimeout.
	StartTimeout time.Duration

	// Versions replaces the protocol versions the host offers, for tests
	// (a fake v2 beside v1). Nil offers protocol 1: {1: {sdk.PluginName:
	// StagesPlugin()}}.
	Versions map[int]plugin.PluginSet

	// SocketDir is where go-plugin makes the directory for the plugin's
	// unix socket. Defaults to os.TempDir(), or /tmp when that is too long
	// for a socket path (about 108 bytes on Linux).
	SocketDir string

	// BlobDir is where large payloads travel as files when the plugin
	// accepts them (see "Large payloads" in sdk/proto/sealv1/seal.proto):
	// each call that may carry one gets its own 0700 directory inside,
	// removed when the call returns. The plugin must be able to reach it
	// (the processor's TMPDIR suits). It must exist. Empty makes a private
	// directory under os.TempDir(), removed when the plugin is killed or
	// exits.
	BlobDir string

	// InlinePayloads sends every payload through gRPC even to a plugin
	// that accepts files: for a plugin that cannot reach BlobDir (another
	// user, another mount namespace), and for benchmarks comparing the two.
	InlinePayloads bool
}

// Client is a started plugin. Its methods are safe for concurrent use.
type Client struct {
	name    string
	path    string
	log     hclog.Logger
	pc      *plugin.Client
	conn    *grpc.ClientConn
	stages  sealv1.StagesClient // nil when the negotiated version is not 1
	version int
	run     *procRunner
	tail    *tailBuffer

	// blobDir is where calls make their directories for blobs; empty when
	// the plugin does not accept blobs (every payload then goes inline).
	blobDir    string
	ownBlobDir bool

	killOnce sync.Once
	killDone chan struct{}
	killed   atomic.Bool
}

// StagesPlugin is the host side of protocol version 1, for building
// Config.Versions in tests.
func StagesPlugin() plugin.Plugin { return &stagesPlugin{} }

type stagesPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (*stagesPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("pluginclient: the host does not serve stages")
}

func (*stagesPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return sealv1.NewStagesClient(c), nil
}

// Start starts the plugin, completes the go-plugin handshake (gRPC only,
// automatic mutual TLS), and checks its health service. It returns a
// *StartError naming the plugin when any of that fails or takes longer
// than StartTimeout, and never leaves the process running on failure.
// Cancelling ctx aborts the start; it has no effect once Start returns.
func Start(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Cmd == nil {
		return nil, errors.New("pluginclient.Start: Config.Cmd is nil")
	}
	if cfg.Cmd.Process != nil {
		return nil, fmt.Errorf("pluginclient.Start: plugin command %s was already started; pass a fresh exec.Cmd", cfg.Cmd.Path)
	}
	if cfg.Cmd.Stdout != nil || cfg.Cmd.Stderr != nil {
		return nil, fmt.Errorf("pluginclient.Start: plugin command %s has Stdout or Stderr set; leave them nil (the handshake and the log use them)", cfg.Cmd.Path)
	}
	name := cfg.Name
	if name == "" {
		name = filepath.Base(cfg.Cmd.Path)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.Default()
	}
	// "name", not "plugin": go-plugin adds plugin=<binary> to its own
	// lines, and one key twice reads as a mistake.
	logger = logger.With("name", name)
	binary := cfg.Binary
	if binary == "" {
		binary = cfg.Cmd.Path
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	versions := cfg.Versions
	if versions == nil {
		versions = map[int]plugin.PluginSet{sdk.ProtocolVersion: {sdk.PluginName: StagesPlugin()}}
	}
	socketDir := cfg.SocketDir
	if socketDir == "" {
		socketDir = os.TempDir()
		// go-plugin adds "/plugin-dirNNNNNNNNN/pluginNNNNNNNNN" (~40 bytes).
		if len(socketDir) > 60 {
			socketDir = "/tmp"
		}
	}

	c := &Client{
		name:     name,
		path:     binary,
		log:      logger,
		tail:     newTailBuffer(stderrTailLines),
		killDone: make(chan struct{}),
	}
	var (
		runMu sync.Mutex
		run   *procRunner
	)
	level := logger.GetLevel()
	if level == hclog.NoLevel {
		level = hclog.Trace
	}
	c.pc = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  sdk.ProtocolVersion,
			MagicCookieKey:   sdk.MagicCookieKey,
			MagicCookieValue: sdk.MagicCookieValue,
		},
		VersionedPlugins: versions,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     timeout,
		Logger:           logger,
		// What the plugin's Go code writes to os.Stdout/os.Stderr after the
		// handshake arrives through go-plugin's stdio stream.
		SyncStdout: &lineLogger{log: logger, stream: "stdout", tail: c.tail},
		SyncStderr: &lineLogger{log: logger, stream: "stderr", tail: c.tail},
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(sdk.MaxMessageSize),
				grpc.MaxCallSendMsgSize(sdk.MaxMessageSize),
			),
			// Stage payloads are tens of MB over a local socket: a fixed
			// large window and buffers beat gRPC's 64 KiB start and its
			// bandwidth-delay probing, roughly doubling throughput.
			grpc.WithInitialWindowSize(flowWindow),
			grpc.WithInitialConnWindowSize(flowWindow),
			grpc.WithReadBufferSize(ioBuffer),
			grpc.WithWriteBufferSize(ioBuffer),
		},
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: socketDir},
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			// spec is go-plugin's placeholder command: with SkipHostEnv its
			// Env holds exactly the handshake variables (magic cookie,
			// protocol versions, client certificate, socket dir).
			cmd := cfg.Cmd
			cmd.Env = append(cmd.Env, spec.Env...)
			cmd.Env = append(cmd.Env, sdk.LogLevelEnv+"="+level.String())
			r, err := newProcRunner(cmd, binary, c.tail)
			if err != nil {
				return nil, err
			}
			runMu.Lock()
			run = r
			runMu.Unlock()
			return r, nil
		},
	})

	type started struct {
		proto plugin.ClientProtocol
		err   error
	}
	ch := make(chan started, 1)
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	go func() {
		proto, err := c.pc.Client()
		if err == nil {
			err = ping(startCtx, proto)
		}
		ch <- started{proto, err}
	}()
	var res started
	select {
	case res = <-ch:
	case <-startCtx.Done():
		// go-plugin's own timeout only covers the handshake line; this one
		// also covers ctx and a plugin that handshakes but never serves.
		runMu.Lock()
		r := run
		runMu.Unlock()
		if r != nil {
			_ = r.Kill(context.Background())
		}
		res = started{err: fmt.Errorf("timeout while waiting for plugin to start (%s)", timeout)}
		if err := ctx.Err(); err != nil {
			res.err = fmt.Errorf("%w: %w", errAbandoned, err)
		}
		go func() { <-ch; c.pc.Kill() }()
		return nil, c.startError(r, res.err, timeout)
	}
	if res.err != nil {
		runMu.Lock()
		r := run
		runMu.Unlock()
		// A plugin that failed to start gets no graceful shutdown: kill it
		// now. go-plugin's Kill then also waits for the plugin's children
		// to let go of stdout and stderr, which must not hold up the error.
		if r != nil {
			_ = r.Kill(context.Background())
		}
		go c.pc.Kill()
		return nil, c.startError(r, res.err, timeout)
	}
	runMu.Lock()
	c.run = run
	runMu.Unlock()
	c.version = c.pc.NegotiatedVersion()
	if g, ok := res.proto.(*plugin.GRPCClient); ok {
		c.conn = g.Conn
	}
	raw, err := res.proto.Dispense(sdk.PluginName)
	if err != nil {
		_ = c.run.Kill(context.Background())
		go c.pc.Kill()
		return nil, &StartError{Plugin: name, Path: c.path, Reason: "does not offer the " + sdk.PluginName + " service", Err: err, Stderr: c.tail.Lines()}
	}
	c.stages, _ = raw.(sealv1.StagesClient)
	if cfg.InlinePayloads {
		// No blob directory: every payload goes inline.
	} else if err := c.setupBlobs(startCtx, cfg.BlobDir); err != nil {
		_ = c.run.Kill(context.Background())
		go c.pc.Kill()
		return nil, &StartError{Plugin: name, Path: c.path, Reason: "cannot prepare the directory for large payloads", Err: err, Stderr: c.tail.Lines()}
	}
	logger.Debug("plugin started", "pid", c.run.pid, "protocol", c.version, "blob_dir", c.blobDir)
	return c, nil
}

// setupBlobs asks the plugin, once, whether it accepts large payloads as
// files, and if so settles the directory for them. A plugin whose Info
// fails or that predates blobs gets every payload inline, as before.
func (c *Client) setupBlobs(ctx context.Context, dir string) error {
	if c.stages == nil {
		return nil
	}
	info, err := c.stages.Info(ctx, &sealv1.InfoRequest{})
	if err != nil {
		c.log.Debug("info failed at start; large payloads go inline", "error", err)
		return nil
	}
	if !info.GetAcceptsBlobs() {
		return nil
	}
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("Config.BlobDir: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("Config.BlobDir %s is not a directory", dir)
		}
		c.blobDir = dir
		return nil
	}
	dir, err = os.MkdirTemp("", "sealhost-blobs-") // mode 0700
	if err != nil {
		return fmt.Errorf("making a private directory under %s: %w (set Config.BlobDir)", os.TempDir(), err)
	}
	c.blobDir, c.ownBlobDir = dir, true
	go func() {
		<-c.run.exited
		c.removeBlobDir()
	}()
	return nil
}

func (c *Client) removeBlobDir() {
	if c.ownBlobDir {
		if err := os.RemoveAll(c.blobDir); err != nil {
			c.log.Warn("could not remove the directory for large payloads", "dir", c.blobDir, "error", err)
		}
	}
}

// BlobDir is the directory in which calls make their directories for
// large payloads, or "" when the plugin does not accept them (it predates
// them, or serves another protocol version) and payloads go inline.
func (c *Client) BlobDir() string { return c.blobDir }

func ping(ctx context.Context, proto plugin.ClientProtocol) error {
	g, ok := proto.(*plugin.GRPCClient)
	if !ok {
		return proto.Ping()
	}
	_, err := grpc_health_v1.NewHealthClient(g.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	return nil
}

// Name is the plugin's name from Config.
func (c *Client) Name() string { return c.name }

// Pid is the plugin process's id (the shim's, if Cmd is a shim).
func (c *Client) Pid() int { return c.run.pid }

// ProtocolVersion is the protocol version negotiated at the handshake.
func (c *Client) ProtocolVersion() int { return c.version }

// Exited is closed once the plugin process has exited and been reaped.
func (c *Client) Exited() <-chan struct{} { return c.run.exited }

// ExitError describes how the plugin ended: nil while it runs and after a
// clean exit (status 0) that Kill asked for, otherwise an *ExitError. A
// plugin is not supposed to leave on its own, so even status 0 unasked is
// an error.
func (c *Client) ExitError() error {
	select {
	case <-c.run.exited:
	default:
		return nil
	}
	if c.run.state != nil && c.run.state.Success() && c.killed.Load() {
		return nil
	}
	return c.exitError()
}

func (c *Client) exitError() *ExitError {
	// The last words on stderr, which usually say why, may still be in the
	// pipe when the exit is seen; only a child of the plugin holding stderr
	// open would delay EOF, so wait little.
	select {
	case <-c.run.stderrDone:
	case <-time.After(500 * time.Millisecond):
	}
	e := &ExitError{Plugin: c.name, Pid: c.run.pid, Status: c.run.exitStatus(), Killed: c.killed.Load(), Stderr: c.tail.Lines(), Code: -1}
	if c.run.state != nil {
		e.Code = c.run.state.ExitCode()
	}
	return e
}

// Wait waits for the plugin to exit and returns ExitError, or ctx's error.
func (c *Client) Wait(ctx context.Context) error {
	select {
	case <-c.run.exited:
		return c.ExitError()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill stops the plugin: go-plugin asks it to shut down, waits up to two
// seconds, then kills the process. If ctx ends first, the process is
// killed at once. Kill returns once the process has been reaped. It does
// not kill the plugin's own children (confinement's cgroup does that).
// Calling Kill again waits for the first call's work.
func (c *Client) Kill(ctx context.Context) error {
	select {
	case <-c.run.exited:
		// Already gone on its own: not ours to claim in ExitError.
	default:
		c.killed.Store(true)
	}
	c.killOnce.Do(func() {
		go func() {
			c.pc.Kill()
			close(c.killDone)
		}()
	})
	select {
	case <-c.killDone:
		c.removeBlobDir()
		return nil
	case <-c.run.exited:
		// go-plugin's Kill may still be waiting for the plugin's children
		// to close its stdout and stderr; the plugin itself is gone.
		c.removeBlobDir()
		return nil
	case <-ctx.Done():
	}
	_ = c.run.Kill(context.Background())
	select {
	case <-c.run.exited:
		c.removeBlobDir()
		return nil
	case <-time.After(time.Second):
		return fmt.Errorf("plugin %q (pid %d) was sent SIGKILL but has not been reaped: %w", c.name, c.run.pid, ctx.Err())
	}
}

// Ping checks the plugin's gRPC health service.
func (c *Client) Ping(ctx context.Context) error {
	if c.conn == nil {
		return fmt.Errorf("plugin %q: no gRPC connection", c.name)
	}
	_, err := grpc_health_v1.NewHealthClient(c.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return c.callError(ctx, "health", err)
	}
	return nil
}

// StderrTail returns the plugin's last stderr lines (its log included).
func (c *Client) StderrTail() []string { return c.tail.Lines() }

func (c *Client) client() (sealv1.StagesClient, error) {
	if c.stages == nil {
		return nil, fmt.Errorf("plugin %q: negotiated protocol version %d, which this host client cannot call", c.name, c.version)
	}
	return c.stages, nil
}

// Info asks the plugin who it is and which stages it serves.
func (c *Client) Info(ctx context.Context) (*sealv1.InfoResponse, error) {
	s, err := c.client()
	if err != nil {
		return nil, err
	}
	resp, err := s.Info(ctx, &sealv1.InfoRequest{})
	return resp, c.callError(ctx, "info", err)
}

// TreeD calls the plugin's tree_d stage.
func (c *Client) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	s, err := c.client()
	if err != nil {
		return nil, err
	}
	resp, err := s.TreeD(ctx, req)
	return resp, c.callError(ctx, "tree_d", err)
}

// PC1 calls the plugin's pc1 stage.
func (c *Client) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error) {
	s, err := c.client()
	if err != nil {
		return nil, err
	}
	call := c.newCall("pc1", true)
	defer call.done()
	if call.dir != "" {
		req = blob.Shallow(req)
		req.ResponseBlobDir = call.dir
	}
	resp, err := s.PC1(ctx, req)
	if err != nil {
		return nil, c.callError(ctx, "pc1", err)
	}
	if err := call.receive(&resp.Phase1Output, &resp.Phase1OutputBlob); err != nil {
		return nil, err
	}
	return resp, nil
}

// PC2 calls the plugin's pc2 stage.
func (c *Client) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	s, err := c.client()
	if err != nil {
		return nil, err
	}
	call := c.newCall("pc2", false)
	defer call.done()
	if b := call.send(ctx, req.GetPhase1Output()); b != nil {
		req = blob.Shallow(req)
		req.Phase1Output, req.Phase1OutputBlob = nil, b
	}
	resp, err := s.PC2(ctx, req)
	return resp, c.callError(ctx, "pc2", err)
}

// C1 calls the plugin's c1 stage.
func (c *Client) C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
	s, err := c.client()
	if err != nil {
		return nil, err
	}
	call := c.newCall("c1", true)
	defer call.done()
	if call.dir != "" {
		req = blob.Shallow(req)
		req.ResponseBlobDir = call.dir
	}
	resp, err := s.C1(ctx, req)
	if err != nil {
		return nil, c.callError(ctx, "c1", err)
	}
	if err := call.receive(&resp.Phase1Output, &resp.Phase1OutputBlob); err != nil {
		return nil, err
	}
	return resp, nil
}

// C2 calls the plugin's c2 stage.
func (c *Client) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	s, err := c.client()
	if err != nil {
		return nil, err
	}
	call := c.newCall("c2", false)
	defer call.done()
	if b := call.send(ctx, req.GetPhase1Output()); b != nil {
		req = blob.Shallow(req)
		req.Phase1Output, req.Phase1OutputBlob = nil, b
	}
	resp, err := s.C2(ctx, req)
	return resp, c.callError(ctx, "c2", err)
}

// lineLogger logs each line written to it; it receives what the plugin's
// Go code writes to os.Stdout/os.Stderr after the handshake.
type lineLogger struct {
	log    hclog.Logger
	stream string
	tail   *tailBuffer
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	_, _ = l.tail.Write(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(l.buf[:i]), "\r"); line != "" {
			l.log.Info(line, "stream", l.stream)
		}
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 {
		l.log.Info(string(l.buf), "stream", l.stream)
		l.buf = l.buf[:0]
	}
	return len(p), nil
}
