package client

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

func TestPickSocket(t *testing.T) {
	tmp := t.TempDir()
	writableDir := filepath.Join(tmp, "ok")
	os.Mkdir(writableDir, 0o755)
	file := filepath.Join(tmp, "file")
	os.WriteFile(file, nil, 0o644)
	creatable := filepath.Join(tmp, "new")
	long := filepath.Join(tmp, strings.Repeat("x", 120))
	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"first writable", []string{writableDir, creatable}, filepath.Join(writableDir, "i.sock")},
		{"not a directory is skipped", []string{file, writableDir}, filepath.Join(writableDir, "i.sock")},
		{"missing but creatable", []string{creatable, writableDir}, filepath.Join(creatable, "i.sock")},
		{"missing in a missing parent is skipped", []string{filepath.Join(tmp, "no", "such"), writableDir}, filepath.Join(writableDir, "i.sock")},
		{"too long for a socket is skipped", []string{long, writableDir}, filepath.Join(writableDir, "i.sock")},
		{"nothing fits: the last", []string{file, filepath.Join(file, "x")}, filepath.Join(file, "x", "i.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickSocket("i", tc.dirs); got != tc.want {
				t.Errorf("pickSocket = %s, want %s", got, tc.want)
			}
		})
	}
	if p := DefaultSocket("sealhost"); len(p) > maxSocketPath || !strings.HasSuffix(p, "/sealhost.sock") {
		t.Errorf("DefaultSocket = %s", p)
	}
}

// fakeHost answers C2 as the host would: the header first, then a result
// or an error status.
type fakeHost struct {
	taskv1.UnimplementedTasksServer
	err error
}

func (f *fakeHost) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	grpc.SetHeader(ctx, metadata.Pairs(HeaderTask, "7", HeaderProcessor, "c2.1", HeaderWaited, "5ms"))
	time.Sleep(20 * time.Millisecond)
	if f.err != nil {
		return nil, f.err
	}
	return &sealv1.C2Response{Proof: req.GetPhase1Output()}, nil
}

func serve(t *testing.T, f *fakeHost) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "ct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	taskv1.RegisterTasksServer(srv, f)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	c, err := Dial(filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func withDetail(code codes.Code, msg string, retry bool) error {
	st, _ := status.New(code, msg).WithDetails(&sealv1.Error{Message: msg, Retryable: retry})
	return st.Err()
}

func TestCalls(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCode  codes.Code
		wantMsg   string
		wantRetry bool
	}{
		{"success", nil, codes.OK, "", false},
		{"plugin error passes through", withDetail(codes.Unknown, "processor c2.1: bad phase1_output", false), codes.Unknown, "bad phase1_output", false},
		{"plugin died is retryable", withDetail(codes.Aborted, "plugin died", true), codes.Aborted, "plugin died", true},
		{"no detail, unavailable", status.Error(codes.Unavailable, "going away"), codes.Unavailable, "going away", true},
		{"no detail, internal", status.Error(codes.Internal, "boom"), codes.Internal, "boom", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, &fakeHost{err: tc.err})
			var rep Report
			resp, err := c.C2(context.Background(), &sealv1.C2Request{Phase1Output: []byte("x")}, WithReport(&rep))
			if rep.Task != 7 || rep.Processor != "c2.1" || rep.Waited != 5*time.Millisecond {
				t.Errorf("report %+v: want task 7 on c2.1 after 5ms", rep)
			}
			if tc.err == nil {
				if err != nil || string(resp.GetProof()) != "x" {
					t.Fatalf("C2 = %v, %v", resp, err)
				}
				if rep.Ran <= 0 {
					t.Errorf("report without run time: %+v", rep)
				}
				return
			}
			var te *TaskError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *TaskError", err, err)
			}
			if te.Code != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) || sdk.IsRetryable(err) != tc.wantRetry || te.Stage != "c2" {
				t.Errorf("error %v: code %v retryable %v; want %v, %q, %v", err, te.Code, sdk.IsRetryable(err), tc.wantCode, tc.wantMsg, tc.wantRetry)
			}
			var se *sdk.Error
			if !errors.As(err, &se) {
				t.Errorf("errors.As(*sdk.Error) fails on %v", err)
			}
		})
	}
}

func TestNoHost(t *testing.T) {
	c, err := Dial(filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Status(ctx)
	var te *TaskError
	if !errors.As(err, &te) || te.Code != codes.Unavailable || !sdk.IsRetryable(err) {
		t.Fatalf("Status with no host: %v, want Unavailable and retryable", err)
	}
	if _, err := Dial(""); err == nil {
		t.Error("Dial(\"\") succeeded")
	}
}

func TestFindSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "fs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	t.Setenv("XDG_RUNTIME_DIR", dir)
	name := "findsockettest"
	want := filepath.Join(dir, "sealhost", name+".sock")
	// Only when /run/sealhost does not hold one: a real host's socket
	// would rightly win.
	if _, err := os.Stat(filepath.Join("/run/sealhost", name+".sock")); err == nil {
		t.Skip("a socket of this name exists in /run/sealhost")
	}
	if got := FindSocket(name); got != DefaultSocket(name) {
		t.Errorf("no socket anywhere: FindSocket = %s, want DefaultSocket's %s", got, DefaultSocket(name))
	}
	os.MkdirAll(filepath.Dir(want), 0o700)
	l, err := net.Listen("unix", want)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := FindSocket(name); got != want {
		t.Errorf("FindSocket = %s, want the existing %s", got, want)
	}
}
