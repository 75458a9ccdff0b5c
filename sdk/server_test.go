package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func c2Returning(resp *sealv1.C2Response, err error) C2Func {
	return func(context.Context, *sealv1.C2Request) (*sealv1.C2Response, error) { return resp, err }
}

func TestPluginValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Plugin
		want string // substring of the error; "" for valid
	}{
		{"valid", Plugin{Name: "x", C2: c2Returning(nil, nil)}, ""},
		{"no name", Plugin{C2: c2Returning(nil, nil)}, "Name is empty"},
		{"blank name", Plugin{Name: "  ", C2: c2Returning(nil, nil)}, "Name is empty"},
		{"no stage", Plugin{Name: "idle"}, `plugin "idle" serves no stage`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.p)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("NewServer: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("NewServer error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestStagesInPipelineOrder(t *testing.T) {
	p := Plugin{
		C2:    c2Returning(nil, nil),
		PC1:   PC1Func(func(context.Context, *sealv1.PC1Request) (*sealv1.PC1Response, error) { return nil, nil }),
		TreeD: TreeDFunc(func(context.Context, *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) { return nil, nil }),
	}
	got := fmt.Sprint(p.Stages())
	if want := "[STAGE_TREE_D STAGE_PC1 STAGE_C2]"; got != want {
		t.Errorf("Stages() = %s, want %s", got, want)
	}
	for stage, name := range map[sealv1.Stage]string{
		sealv1.Stage_STAGE_TREE_D: "tree_d", sealv1.Stage_STAGE_PC1: "pc1", sealv1.Stage_STAGE_PC2: "pc2",
		sealv1.Stage_STAGE_C1: "c1", sealv1.Stage_STAGE_C2: "c2", sealv1.Stage_STAGE_UNSPECIFIED: "STAGE_UNSPECIFIED",
	} {
		if got := StageName(stage); got != name {
			t.Errorf("StageName(%v) = %q, want %q", stage, got, name)
		}
	}
}

func TestInfo(t *testing.T) {
	srv, err := NewServer(Plugin{Name: "n", Version: "v", C1: C1Func(func(context.Context, *sealv1.C1Request) (*sealv1.C1Response, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	info, err := srv.Info(context.Background(), &sealv1.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "n" || info.GetVersion() != "v" || info.GetProtocolVersion() != ProtocolVersion ||
		info.GetSdkVersion() != SDKVersion || fmt.Sprint(info.GetStages()) != "[STAGE_C1]" {
		t.Errorf("Info = %v", info)
	}
}

// TestStageErrors checks what reaches the wire for each way a stage can
// fail: the status code and the sealv1.Error detail the host decodes.
func TestStageErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	expiring, cancel3 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel3()
	tests := []struct {
		name      string
		ctx       context.Context
		stage     C2Func
		code      codes.Code
		message   string
		retryable bool
		noDetail  bool
	}{
		{"permanent", nil, c2Returning(nil, Errorf("bad %s", "input")), codes.InvalidArgument, "bad input", false, false},
		{"retryable", nil, c2Returning(nil, RetryableErrorf("busy")), codes.Unavailable, "busy", true, false},
		{"wrapped sdk error", nil, c2Returning(nil, fmt.Errorf("ctx: %w", RetryableErrorf("busy"))), codes.Unavailable, "busy", true, false},
		{"plain error", nil, c2Returning(nil, errors.New("disk full")), codes.Unknown, "disk full", false, false},
		{"plain error on a live ctx mentioning cancel", nil, c2Returning(nil, context.Canceled), codes.Unknown, "context canceled", false, false},
		{"cancelled", cancelled, c2Returning(nil, context.Canceled), codes.Canceled, "context canceled", true, false},
		{"deadline before the call began", expired, c2Returning(nil, fmt.Errorf("proving: %w", context.DeadlineExceeded)), codes.DeadlineExceeded, "context deadline exceeded", true, false},
		{"deadline during the call", expiring, func(ctx context.Context, _ *sealv1.C2Request) (*sealv1.C2Response, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("proving: %w", ctx.Err())
		}, codes.DeadlineExceeded, "proving: context deadline exceeded", true, false},
		{"own status", nil, c2Returning(nil, status.Error(codes.ResourceExhausted, "no gpu")), codes.ResourceExhausted, "no gpu", false, true},
		{"nil response", nil, c2Returning(nil, nil), codes.Unknown, `plugin "p" returned neither a response nor an error (a bug in the plugin)`, false, false},
		{"panic", nil, func(context.Context, *sealv1.C2Request) (*sealv1.C2Response, error) { panic("boom") }, codes.Unknown, `plugin "p" panicked in c2: boom`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(Plugin{Name: "p", C2: tt.stage, Logger: hclog.NewNullLogger()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			resp, err := srv.C2(ctx, &sealv1.C2Request{})
			if err == nil {
				t.Fatalf("C2 = %v, nil error", resp)
			}
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.message {
				t.Errorf("status = %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.message)
			}
			var detail *sealv1.Error
			for _, d := range st.Details() {
				detail, _ = d.(*sealv1.Error)
			}
			switch {
			case tt.noDetail && detail != nil:
				t.Errorf("unexpected detail %v", detail)
			case !tt.noDetail && detail == nil:
				t.Errorf("no sealv1.Error detail in %v", st)
			case detail != nil && (detail.GetMessage() != tt.message || detail.GetRetryable() != tt.retryable):
				t.Errorf("detail = %v, want message %q retryable %v", detail, tt.message, tt.retryable)
			}
		})
	}
}

func TestUnservedStage(t *testing.T) {
	srv, err := NewServer(Plugin{Name: "only-c2", C2: c2Returning(&sealv1.C2Response{}, nil), C1: C1Func(func(context.Context, *sealv1.C1Request) (*sealv1.C1Response, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"tree_d": func() error { _, err := srv.TreeD(context.Background(), &sealv1.TreeDRequest{}); return err },
		"pc1":    func() error { _, err := srv.PC1(context.Background(), &sealv1.PC1Request{}); return err },
		"pc2":    func() error { _, err := srv.PC2(context.Background(), &sealv1.PC2Request{}); return err },
	}
	for stage, call := range calls {
		t.Run(stage, func(t *testing.T) {
			st := status.Convert(call())
			want := `plugin "only-c2" does not serve stage ` + stage + ` (it serves c1, c2)`
			if st.Code() != codes.Unimplemented || st.Message() != want {
				t.Errorf("got %v %q, want Unimplemented %q", st.Code(), st.Message(), want)
			}
		})
	}
}

func TestUnservedReason(t *testing.T) {
	srv, err := NewServer(Plugin{Name: "ffi", TreeD: TreeDFunc(func(context.Context, *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) { return nil, nil }),
		Unserved: "built without filecoin-ffi: see plugins/ffi/README.md"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.PC1(context.Background(), &sealv1.PC1Request{})
	st := status.Convert(err)
	want := `plugin "ffi" does not serve stage pc1 (it serves tree_d): built without filecoin-ffi: see plugins/ffi/README.md`
	if st.Code() != codes.Unimplemented || st.Message() != want {
		t.Fatalf("got %v %q, want Unimplemented %q", st.Code(), st.Message(), want)
	}
	info, err := srv.Info(context.Background(), &sealv1.InfoRequest{})
	if err != nil || info.GetUnserved() != "built without filecoin-ffi: see plugins/ffi/README.md" {
		t.Fatalf("Info = %v, %v; want the unserved reason", info, err)
	}
}

func TestErrorHelpers(t *testing.T) {
	tests := []struct {
		err       error
		text      string
		retryable bool
	}{
		{Errorf("sector %d: bad ticket", 7), "sector 7: bad ticket", false},
		{RetryableErrorf("prover down"), "prover down (retryable)", true},
		{fmt.Errorf("wrapped: %w", RetryableErrorf("x")), "wrapped: x (retryable)", true},
		{errors.New("plain"), "plain", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		if tt.err != nil && tt.err.Error() != tt.text {
			t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.text)
		}
		if got := IsRetryable(tt.err); got != tt.retryable {
			t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.retryable)
		}
	}
}

func TestStageLogger(t *testing.T) {
	var buf bytes.Buffer
	l := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Info})
	srv, err := NewServer(Plugin{Name: "p", Logger: l, C2: C2Func(func(ctx context.Context, _ *sealv1.C2Request) (*sealv1.C2Response, error) {
		Logger(ctx).Info("proving")
		return &sealv1.C2Response{}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.C2(context.Background(), &sealv1.C2Request{}); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, `"@message":"proving"`) || !strings.Contains(got, `"stage":"c2"`) {
		t.Errorf("log = %s", got)
	}
	if Logger(context.Background()) == nil {
		t.Error("Logger outside a stage call is nil")
	}
}

func TestErrorSaysRetryableOnce(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Message: "busy", Retryable: true}, "busy (retryable)"},
		{&Error{Message: "busy (retryable)", Retryable: true}, "busy (retryable)"},
		{&Error{Message: "bad input"}, "bad input"},
		{&Error{Message: "c2: " + (&Error{Message: "busy", Retryable: true}).Error(), Retryable: true}, "c2: busy (retryable)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCallCancelledBeforeItBegan: a stage call whose context is already
// done when it arrives never reaches the plugin's handler: the host asks
// Info whether a cancelled call still runs, and a handler that started
// after Info said "not running" would work beside the call the freed slot
// went to. Before, the handler ran.
func TestCallCancelledBeforeItBegan(t *testing.T) {
	ran := 0
	srv, err := NewServer(Plugin{Name: "p", Logger: hclog.NewNullLogger(),
		PC1: PC1Func(func(context.Context, *sealv1.PC1Request) (*sealv1.PC1Response, error) {
			ran++
			return &sealv1.PC1Response{}, nil
		}),
		C2: C2Func(func(context.Context, *sealv1.C2Request) (*sealv1.C2Response, error) {
			ran++
			return &sealv1.C2Response{}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range map[string]func() error{
		"pc1": func() error { _, err := srv.PC1(ctx, &sealv1.PC1Request{}); return err },
		"c2":  func() error { _, err := srv.C2(ctx, &sealv1.C2Request{}); return err },
	} {
		t.Run(name, func(t *testing.T) {
			if err := call(); status.Code(err) != codes.Canceled {
				t.Errorf("%s on a cancelled context: %v, want Canceled", name, err)
			}
		})
	}
	if ran != 0 {
		t.Errorf("the handler ran %d times for calls cancelled before they began", ran)
	}
	info, err := srv.Info(context.Background(), &sealv1.InfoRequest{})
	if err != nil || len(info.GetRunningCalls()) != 0 {
		t.Errorf("Info after them: %v, %v; want no running calls", info.GetRunningCalls(), err)
	}
}
