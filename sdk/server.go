package sdk

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc/metadata"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk/internal/blob"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Plugin describes what a plugin binary serves. Set any subset of the
// stages; a stage left nil answers the host with UNIMPLEMENTED.
type Plugin struct {
	// Name and Version identify the plugin in the host's logs and Info.
	// Name is required.
	Name    string
	Version string

	TreeD TreeDStage
	PC1   PC1Stage
	PC2   PC2Stage
	C1    C1Stage
	C2    C2Stage

	SnapEncode  SnapEncodeStage
	SnapProve   SnapProveStage
	WindowPoSt  WindowPoStStage
	WinningPoSt WinningPoStStage
	Unseal      UnsealStage
	AddPieces   AddPiecesStage

	// Unserved, when not empty, is added to the UNIMPLEMENTED answer of
	// every stage left nil: why this build does not serve it and what to do
	// (e.g. "built without filecoin-ffi: see plugins/ffi/README.md").
	Unserved string

	// Logger overrides the logger stages get from Logger(ctx). Leave it nil
	// in a real plugin: the default writes hclog JSON to the process's
	// stderr, which the host re-logs at each line's own level.
	Logger hclog.Logger
}

// Stages lists the stages p serves, in pipeline order (the sealing stages,
// then the others in enum order).
func (p Plugin) Stages() []sealv1.Stage {
	var s []sealv1.Stage
	if p.TreeD != nil {
		s = append(s, sealv1.Stage_STAGE_TREE_D)
	}
	if p.PC1 != nil {
		s = append(s, sealv1.Stage_STAGE_PC1)
	}
	if p.PC2 != nil {
		s = append(s, sealv1.Stage_STAGE_PC2)
	}
	if p.C1 != nil {
		s = append(s, sealv1.Stage_STAGE_C1)
	}
	if p.C2 != nil {
		s = append(s, sealv1.Stage_STAGE_C2)
	}
	if p.SnapEncode != nil {
		s = append(s, sealv1.Stage_STAGE_SNAP_ENCODE)
	}
	if p.SnapProve != nil {
		s = append(s, sealv1.Stage_STAGE_SNAP_PROVE)
	}
	if p.WindowPoSt != nil {
		s = append(s, sealv1.Stage_STAGE_WINDOW_POST)
	}
	if p.WinningPoSt != nil {
		s = append(s, sealv1.Stage_STAGE_WINNING_POST)
	}
	if p.Unseal != nil {
		s = append(s, sealv1.Stage_STAGE_UNSEAL)
	}
	if p.AddPieces != nil {
		s = append(s, sealv1.Stage_STAGE_ADD_PIECES)
	}
	return s
}

func (p Plugin) validate() error {
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("sdk.Plugin.Name is empty: set it to the plugin's name, e.g. sdk.Plugin{Name: \"my-pc2\", ...}")
	}
	if len(p.Stages()) == 0 {
		return fmt.Errorf("plugin %q serves no stage: set at least one of sdk.Plugin's TreeD, PC1, PC2, C1, C2, SnapEncode, SnapProve, WindowPoSt, WinningPoSt, Unseal, AddPieces", p.Name)
	}
	return nil
}

// NewServer returns p's implementation of the gRPC service, for serving
// in-process (tests, benchmarks) rather than through Serve.
func NewServer(p Plugin) (sealv1.StagesServer, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	l := p.Logger
	if l == nil {
		l = pluginLogger().Named(p.Name)
	}
	return &server{p: p, log: l}, nil
}

type server struct {
	sealv1.UnimplementedStagesServer
	p   Plugin
	log hclog.Logger

	// running holds the CallMetadata ids of stage calls whose handler has
	// not returned, for InfoResponse.running_calls.
	mu      sync.Mutex
	running map[string]int
}

// CallMetadata is the gRPC metadata key by which the host names each stage
// call, so that after cancelling one it can ask (Info) whether the
// plugin's handler has returned.
const CallMetadata = "sealhost-call"

type loggerKey struct{}

// Logger returns the logger for the stage call ctx belongs to, tagged with
// the stage's name. Outside a stage call it returns the plugin's logger.
func Logger(ctx context.Context) hclog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(hclog.Logger); ok {
		return l
	}
	return pluginLogger()
}

func (s *server) Info(context.Context, *sealv1.InfoRequest) (*sealv1.InfoResponse, error) {
	return &sealv1.InfoResponse{
		Name:            s.p.Name,
		Version:         s.p.Version,
		Stages:          s.p.Stages(),
		ProtocolVersion: ProtocolVersion,
		SdkVersion:      SDKVersion,
		AcceptsBlobs:    true,
		Unserved:        s.p.Unserved,
		TracksCalls:     true,
		RunningCalls:    s.runningCalls(),
	}, nil
}

func (s *server) runningCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.running))
	for id := range s.running {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// track records ctx's call id as running until the returned func runs.
func (s *server) track(ctx context.Context) func() {
	// Not FromIncomingContext: it copies every header, on every call.
	ids := metadata.ValueFromIncomingContext(ctx, CallMetadata)
	if len(ids) == 0 {
		return func() {}
	}
	id := ids[0]
	s.mu.Lock()
	if s.running == nil {
		s.running = map[string]int{}
	}
	s.running[id]++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.running[id]--; s.running[id] <= 0 {
			delete(s.running, id)
		}
		s.mu.Unlock()
	}
}

func (s *server) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (resp *sealv1.TreeDResponse, err error) {
	if s.p.TreeD == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_TREE_D)
	}
	ctx, done := s.begin(ctx, sealv1.Stage_STAGE_TREE_D, &err)
	defer done()
	if err := notStarted(ctx); err != nil {
		return nil, err
	}
	resp, err = s.p.TreeD.TreeD(ctx, req)
	return resp, s.finish(ctx, resp == nil, err)
}

func (s *server) PC1(ctx context.Context, req *sealv1.PC1Request) (resp *sealv1.PC1Response, err error) {
	if s.p.PC1 == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_PC1)
	}
	ctx, done := s.begin(ctx, sealv1.Stage_STAGE_PC1, &err)
	defer done()
	if err := notStarted(ctx); err != nil {
		return nil, err
	}
	dir := req.GetResponseBlobDir()
	req.ResponseBlobDir = ""
	resp, err = s.p.PC1.PC1(ctx, req)
	if err = s.finish(ctx, resp == nil, err); err != nil {
		return resp, err
	}
	b, err := s.deflate(ctx, dir, "pc1", resp.GetPhase1Output())
	if b == nil || err != nil {
		return resp, err
	}
	out := blob.Shallow(resp)
	out.Phase1Output, out.Phase1OutputBlob = nil, b
	return out, nil
}

func (s *server) PC2(ctx context.Context, req *sealv1.PC2Request) (resp *sealv1.PC2Response, err error) {
	if s.p.PC2 == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_PC2)
	}
	ctx, done := s.begin(ctx, sealv1.Stage_STAGE_PC2, &err)
	defer done()
	if err := notStarted(ctx); err != nil {
		return nil, err
	}
	if err := s.inflate(&req.Phase1Output, &req.Phase1OutputBlob); err != nil {
		return nil, toStatus(ctx, err)
	}
	resp, err = s.p.PC2.PC2(ctx, req)
	return resp, s.finish(ctx, resp == nil, err)
}

func (s *server) C1(ctx context.Context, req *sealv1.C1Request) (resp *sealv1.C1Response, err error) {
	if s.p.C1 == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_C1)
	}
	ctx, done := s.begin(ctx, sealv1.Stage_STAGE_C1, &err)
	defer done()
	if err := notStarted(ctx); err != nil {
		return nil, err
	}
	dir := req.GetResponseBlobDir()
	req.ResponseBlobDir = ""
	resp, err = s.p.C1.C1(ctx, req)
	if err = s.finish(ctx, resp == nil, err); err != nil {
		return resp, err
	}
	b, err := s.deflate(ctx, dir, "c1", resp.GetPhase1Output())
	if b == nil || err != nil {
		return resp, err
	}
	out := blob.Shallow(resp)
	out.Phase1Output, out.Phase1OutputBlob = nil, b
	return out, nil
}

func (s *server) C2(ctx context.Context, req *sealv1.C2Request) (resp *sealv1.C2Response, err error) {
	if s.p.C2 == nil {
		return nil, s.unimplemented(sealv1.Stage_STAGE_C2)
	}
	ctx, done := s.begin(ctx, sealv1.Stage_STAGE_C2, &err)
	defer done()
	if err := notStarted(ctx); err != nil {
		return nil, err
	}
	if err := s.inflate(&req.Phase1Output, &req.Phase1OutputBlob); err != nil {
		return nil, toStatus(ctx, err)
	}
	resp, err = s.p.C2.C2(ctx, req)
	return resp, s.finish(ctx, resp == nil, err)
}

// begin tags ctx with the stage's logger and returns a func, to be
// deferred, that turns a panic in the stage into an error for the host:
// one bad request should fail that request, not kill every call the
// plugin is serving.
func (s *server) begin(ctx context.Context, stage sealv1.Stage, errp *error) (context.Context, func()) {
	l := s.log.With("stage", StageName(stage))
	ctx = context.WithValue(ctx, loggerKey{}, l)
	untrack := s.track(ctx)
	return ctx, func() {
		defer untrack()
		if r := recover(); r != nil {
			l.Error("stage panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			*errp = toStatus(ctx, bug{&Error{Message: fmt.Sprintf("plugin %q panicked in %s: %v", s.p.Name, StageName(stage), r)}})
		}
	}
}

// notStarted refuses a call cancelled before its handler began: the host
// asks Info whether a cancelled call still runs, and a handler that had
// not yet started when Info answered must not start afterwards (work the
// host no longer holds a slot and locks for). The cancel reached this
// process before the Info request did (same connection, frames in order),
// so such a call's context is done by the time it gets here.
func notStarted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return toStatus(ctx, err)
	}
	return nil
}

func (s *server) finish(ctx context.Context, nilResp bool, err error) error {
	if err == nil && nilResp {
		err = bug{&Error{Message: fmt.Sprintf("plugin %q returned neither a response nor an error (a bug in the plugin)", s.p.Name)}}
	}
	return toStatus(ctx, err)
}

func (s *server) unimplemented(stage sealv1.Stage) error {
	var served []string
	for _, st := range s.p.Stages() {
		served = append(served, StageName(st))
	}
	why := ""
	if s.p.Unserved != "" {
		why = ": " + s.p.Unserved
	}
	return status.Errorf(codes.Unimplemented, "plugin %q does not serve stage %s (it serves %s)%s",
		s.p.Name, StageName(stage), strings.Join(served, ", "), why)
}

// inflate replaces a request's blob with the bytes it refers to, so stage
// code sees the field as if it had come inline.
func (s *server) inflate(data *[]byte, b **sealv1.Blob) error {
	if *b == nil {
		return nil
	}
	if len(*data) > 0 {
		return &Error{Message: fmt.Sprintf("plugin %q: the request sets both phase1_output (%d bytes) and phase1_output_blob; a host sets one or the other (a bug in the host)", s.p.Name, len(*data))}
	}
	start := time.Now()
	// Only from the directory the host named when it started this
	// plugin; without one (a kit or test harness), from TMPDIR.
	root := os.Getenv(blob.DirEnv)
	if root == "" {
		root = os.TempDir()
	}
	v, err := blob.ReadUnder(*b, root)
	if err != nil {
		// Retryable: the host writes a fresh file for each attempt.
		return &Error{Message: fmt.Sprintf("plugin %q could not read the request's phase1_output: %v", s.p.Name, err), Retryable: true}
	}
	s.log.Debug("request payload read from a file", "bytes", len(v), "took", time.Since(start))
	*data, *b = v, nil
	return nil
}

// deflate writes a large response field to a blob in dir, the directory
// the host made for this call, and returns its reference; nil when the
// field stays inline (the host did not offer a directory, the field is
// small, or the file could not be written: the bytes then go inline, as
// they always could).
func (s *server) deflate(ctx context.Context, dir, stage string, data []byte) (*sealv1.Blob, error) {
	if dir == "" || len(data) < blob.Threshold {
		return nil, nil
	}
	start := time.Now()
	b, err := blob.Write(ctx, dir, stage, data)
	if err == nil {
		s.log.Debug("response payload passed as a file", "stage", stage, "bytes", len(data), "took", time.Since(start))
		return b, nil
	}
	if ctx.Err() != nil {
		// The host has gone; Write removed the file.
		return nil, toStatus(ctx, ctx.Err())
	}
	s.log.Warn("could not pass a large output as a file; sending it inline (slower)", "stage", stage, "dir", dir, "error", err)
	return nil, nil
}

// StageName is the short lower-case name of a stage used in configuration
// and logs: tree_d, pc1, pc2, c1, c2, snap_encode, snap_prove,
// window_post, winning_post, unseal, add_pieces.
func StageName(s sealv1.Stage) string {
	switch s {
	case sealv1.Stage_STAGE_TREE_D:
		return "tree_d"
	case sealv1.Stage_STAGE_PC1:
		return "pc1"
	case sealv1.Stage_STAGE_PC2:
		return "pc2"
	case sealv1.Stage_STAGE_C1:
		return "c1"
	case sealv1.Stage_STAGE_C2:
		return "c2"
	case sealv1.Stage_STAGE_SNAP_ENCODE:
		return "snap_encode"
	case sealv1.Stage_STAGE_SNAP_PROVE:
		return "snap_prove"
	case sealv1.Stage_STAGE_WINDOW_POST:
		return "window_post"
	case sealv1.Stage_STAGE_WINNING_POST:
		return "winning_post"
	case sealv1.Stage_STAGE_UNSEAL:
		return "unseal"
	case sealv1.Stage_STAGE_ADD_PIECES:
		return "add_pieces"
	}
	return s.String()
}

// toStatus encodes a stage's error for the wire. The message and retry flag
// travel as an sealv1.Error status detail, which the host decodes back into
// an *Error; the status code is only a hint for generic gRPC tooling.
func toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		// Already a gRPC status (the plugin chose its own code): pass it on.
		return err
	}
	detail := &sealv1.Error{Message: err.Error()}
	code := codes.Unknown
	var se *Error
	var b bug
	switch {
	case errors.As(err, &b):
		// A bug in the plugin, not in the request: Unknown, as before.
		detail.Message = b.e.Message
	case errors.As(err, &se):
		detail.Message, detail.Retryable = se.Message, se.Retryable
		// Errorf says the request cannot work as it is: to generic gRPC
		// tooling that is InvalidArgument, not Unknown.
		code = codes.InvalidArgument
		if se.Retryable {
			code = codes.Unavailable
		}
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		code, detail.Retryable = codes.Canceled, true
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		code, detail.Retryable = codes.DeadlineExceeded, true
	}
	st, serr := status.New(code, detail.Message).WithDetails(detail)
	if serr != nil {
		return status.Error(code, detail.Message)
	}
	return st.Err()
}

// bug is an error the sdk makes for a plugin that broke the contract
// (panicked, answered nothing): not the request's fault, so not
// InvalidArgument.
type bug struct{ e *Error }

func (b bug) Error() string { return b.e.Error() }
