package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// MaxMessageSize is the largest request or response the task API carries:
// C1's output of a 64 GiB sector is ~100 MB, with room to spare.
const MaxMessageSize = 256 << 20

// Header keys the host sets on every stage call's response header.
const (
	HeaderTask      = "sealhost-task"
	HeaderProcessor = "sealhost-processor"
	HeaderWaited    = "sealhost-waited"
	// HeaderDeadline, sent by the caller, is the task's deadline in
	// RFC 3339 with nanoseconds (WithDeadline).
	HeaderDeadline = "sealhost-deadline"
)

// maxSocketPath is sun_path's size on Linux, less the terminating NUL.
const maxSocketPath = 107

// DefaultSocket is where `host run -name instance` listens unless told
// otherwise: /run/sealhost/<instance>.sock when /run/sealhost exists or can
// be made (root), else $XDG_RUNTIME_DIR/sealhost/<instance>.sock, else
// /tmp/sealhost-<uid>/<instance>.sock. A candidate longer than a unix
// socket path may be (107 bytes) is skipped.
func DefaultSocket(instance string) string {
	return pickSocket(instance, socketDirs())
}

// pickSocket returns the socket in the first of dirs that exists and is
// writable, or that could be created in a writable parent, skipping paths
// too long for a socket; the last candidate when none fits.
func pickSocket(instance string, dirs []string) string {
	for _, dir := range dirs {
		p := filepath.Join(dir, instance+".sock")
		if len(p) > maxSocketPath {
			continue
		}
		if st, err := os.Stat(dir); err == nil {
			if st.IsDir() && writable(dir) {
				return p
			}
			continue
		}
		if writable(filepath.Dir(dir)) {
			return p
		}
	}
	return filepath.Join(dirs[len(dirs)-1], instance+".sock")
}

// FindSocket is where a client should look for host instance's socket:
// the first of DefaultSocket's candidate folders that holds a socket of
// that name, whoever made it (a host run by root serves /run/sealhost even
// when the caller could not write there), else DefaultSocket(instance).
func FindSocket(instance string) string {
	for _, dir := range socketDirs() {
		p := filepath.Join(dir, instance+".sock")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return p
		}
	}
	return DefaultSocket(instance)
}

func socketDirs() []string {
	dirs := []string{"/run/sealhost"}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		dirs = append(dirs, filepath.Join(x, "sealhost"))
	}
	return append(dirs, fmt.Sprintf("/tmp/sealhost-%d", os.Getuid()))
}

// writable reports whether this process may create entries in dir.
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// Client is a connection to a host's task API.
type Client struct {
	conn  *grpc.ClientConn
	tasks taskv1.TasksClient
}

// Dial connects to the host listening on the unix socket at path. It does
// not wait for the host: the first call fails (retryable) if none is
// there. opts are appended to the defaults (insecure transport over the
// socket, MaxMessageSize both ways).
func Dial(path string, opts ...grpc.DialOption) (*Client, error) {
	if path == "" {
		return nil, errors.New("client: empty socket path")
	}
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
	}
	conn, err := grpc.NewClient("unix://"+path, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", path, err)
	}
	return &Client{conn: conn, tasks: taskv1.NewTasksClient(conn)}, nil
}

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error { return c.conn.Close() }

// Report describes how the host ran one task: which processor, how long
// the call waited for it and its locks, and how long it then ran.
type Report struct {
	Task      uint64
	Processor string
	Waited    time.Duration
	// Ran is from the end of the wait to the answer, as the client saw it.
	Ran time.Duration
}

// CallOption changes one stage call.
type CallOption func(*callOpts)

type callOpts struct {
	report   *Report
	deadline time.Time
}

// WithDeadline gives the task a deadline. The host orders the waiting
// tasks of an urgent stage (arbiter { urgent = [...] }: PoSt) by it,
// earliest first, and shows it in `host status`; the call is not
// cancelled when it passes (use ctx for that). Other stages ignore it.
func WithDeadline(t time.Time) CallOption { return func(o *callOpts) { o.deadline = t } }

// WithReport fills r when the call returns (also on failure, as far as the
// task got: a call that never got a processor leaves Processor empty).
func WithReport(r *Report) CallOption { return func(o *callOpts) { o.report = r } }

// call runs one unary stage RPC and turns its outcome into the report and
// an error whose chain holds an *sdk.Error.
func call[Req, Resp any](ctx context.Context, stage string, rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req, opts []CallOption) (Resp, error) {
	var o callOpts
	for _, f := range opts {
		f(&o)
	}
	var hdr metadata.MD
	if !o.deadline.IsZero() {
		ctx = metadata.AppendToOutgoingContext(ctx, HeaderDeadline, o.deadline.UTC().Format(time.RFC3339Nano))
	}
	start := time.Now()
	resp, err := rpc(ctx, req, grpc.Header(&hdr))
	if o.report != nil {
		*o.report = reportFrom(hdr, time.Since(start))
	}
	if err != nil {
		var zero Resp
		return zero, taskError(stage, err)
	}
	return resp, nil
}

func reportFrom(hdr metadata.MD, total time.Duration) Report {
	var r Report
	if v := hdr.Get(HeaderTask); len(v) > 0 {
		r.Task, _ = strconv.ParseUint(v[0], 10, 64)
	}
	if v := hdr.Get(HeaderProcessor); len(v) > 0 {
		r.Processor = v[0]
	}
	if v := hdr.Get(HeaderWaited); len(v) > 0 {
		r.Waited, _ = time.ParseDuration(v[0])
	}
	if r.Processor != "" {
		r.Ran = max(total-r.Waited, 0)
	}
	return r
}

// TaskError is a failed stage call.
type TaskError struct {
	Stage string
	// Code is the gRPC status code: Unavailable when the host is not
	// there or is shutting down, Canceled/DeadlineExceeded when the
	// caller gave up, Unimplemented when no processor serves the stage,
	// Aborted when the plugin died during the task, otherwise Unknown or
	// what the plugin chose.
	Code codes.Code
	Err  *sdk.Error
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("%s: %s", e.Stage, e.Err.Error())
}

func (e *TaskError) Unwrap() error { return e.Err }

func taskError(stage string, err error) error {
	st := status.Convert(err)
	te := &TaskError{Stage: stage, Code: st.Code()}
	for _, d := range st.Details() {
		if e, ok := d.(*sealv1.Error); ok {
			te.Err = &sdk.Error{Message: e.GetMessage(), Retryable: e.GetRetryable()}
		}
	}
	if te.Err == nil {
		// No detail: the transport failed, or the host never saw the call.
		retry := st.Code() == codes.Unavailable || st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded
		te.Err = &sdk.Error{Message: st.Message(), Retryable: retry}
	}
	return te
}

// TreeD runs a tree_d task.
func (c *Client) TreeD(ctx context.Context, req *sealv1.TreeDRequest, opts ...CallOption) (*sealv1.TreeDResponse, error) {
	return call(ctx, "tree_d", c.tasks.TreeD, req, opts)
}

// PC1 runs a pc1 task.
func (c *Client) PC1(ctx context.Context, req *sealv1.PC1Request, opts ...CallOption) (*sealv1.PC1Response, error) {
	return call(ctx, "pc1", c.tasks.PC1, req, opts)
}

// PC2 runs a pc2 task.
func (c *Client) PC2(ctx context.Context, req *sealv1.PC2Request, opts ...CallOption) (*sealv1.PC2Response, error) {
	return call(ctx, "pc2", c.tasks.PC2, req, opts)
}

// C1 runs a c1 task.
func (c *Client) C1(ctx context.Context, req *sealv1.C1Request, opts ...CallOption) (*sealv1.C1Response, error) {
	return call(ctx, "c1", c.tasks.C1, req, opts)
}

// C2 runs a c2 task.
func (c *Client) C2(ctx context.Context, req *sealv1.C2Request, opts ...CallOption) (*sealv1.C2Response, error) {
	return call(ctx, "c2", c.tasks.C2, req, opts)
}

// SnapEncode runs a snap_encode task.
func (c *Client) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest, opts ...CallOption) (*sealv1.SnapEncodeResponse, error) {
	return call(ctx, "snap_encode", c.tasks.SnapEncode, req, opts)
}

// SnapProve runs a snap_prove task.
func (c *Client) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest, opts ...CallOption) (*sealv1.SnapProveResponse, error) {
	return call(ctx, "snap_prove", c.tasks.SnapProve, req, opts)
}

// WindowPoSt runs a window_post task.
func (c *Client) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest, opts ...CallOption) (*sealv1.WindowPoStResponse, error) {
	return call(ctx, "window_post", c.tasks.WindowPoSt, req, opts)
}

// WinningPoSt runs a winning_post task.
func (c *Client) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest, opts ...CallOption) (*sealv1.WinningPoStResponse, error) {
	return call(ctx, "winning_post", c.tasks.WinningPoSt, req, opts)
}

// Unseal runs a unseal task.
func (c *Client) Unseal(ctx context.Context, req *sealv1.UnsealRequest, opts ...CallOption) (*sealv1.UnsealResponse, error) {
	return call(ctx, "unseal", c.tasks.Unseal, req, opts)
}

// AddPieces runs a add_pieces task.
func (c *Client) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest, opts ...CallOption) (*sealv1.AddPiecesResponse, error) {
	return call(ctx, "add_pieces", c.tasks.AddPieces, req, opts)
}

// Status returns what the host runs, waits for and holds now.
func (c *Client) Status(ctx context.Context) (*taskv1.StatusResponse, error) {
	resp, err := c.tasks.Status(ctx, &taskv1.StatusRequest{})
	if err != nil {
		return nil, taskError("status", err)
	}
	return resp, nil
}
