package pluginclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The test binary doubles as every plugin the tests need: re-executed with
// helperEnv set, it becomes the plugin named by the variable's value
// instead of running tests. Real processes, real handshakes, no fakes of
// go-plugin.
const helperEnv = "PLUGINCLIENT_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		runHelper(mode)
		os.Exit(0)
	}
	code := m.Run()
	if builtIn != "" {
		_ = os.RemoveAll(builtIn)
	}
	os.Exit(code)
}

// helperCmd returns a command that runs the test binary as plugin mode.
func helperCmd(t testing.TB, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append([]string{helperEnv + "=" + mode, "PATH=" + os.Getenv("PATH")}, env...)
	return cmd
}

// cancelSeen counts stage calls that saw their ctx end; C2 reports it so
// a test can check the host's deadline reached the plugin.
var cancelSeen atomic.Int64

// payload is the reusable response buffer of the large-output
// behaviours, filled with pattern; payloadMu guards it.
var (
	payloadMu sync.Mutex
	payload   []byte
)

// largeOutput returns n bytes of pattern from a buffer kept between calls,
// so that what a benchmark measures is the transport, not the allocator.
func largeOutput(n int) []byte {
	payloadMu.Lock()
	defer payloadMu.Unlock()
	if len(payload) < n {
		payload = pattern(n)
	}
	return payload[:n]
}

// pattern is n bytes in which no 256-byte block repeats its neighbour, so
// a reordered or shifted chunk shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i ^ i>>8 ^ i>>16 ^ i>>24)
	}
	return b
}

func runHelper(mode string) {
	switch mode {
	case "all":
		sdk.Serve(allStages("all"))
	case "c2only":
		sdk.Serve(sdk.Plugin{Name: "c2only", Version: "1.2.3", C2: sdk.C2Func(echoC2)})
	case "noisy":
		// Everything a careless plugin or its native code might do to
		// stdout before and after the handshake.
		fmt.Println("noise from fmt.Println before Serve")
		_, _ = syscall.Write(1, []byte("noise from a raw write to fd 1 before Serve\n"))
		child := exec.Command("sh", "-c", "echo noise from a child process")
		child.Stdout = os.Stdout // inherits fd 1, as a spawned prover would
		_ = child.Run()
		p := allStages("noisy")
		p.C2 = sdk.C2Func(func(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
			_, _ = syscall.Write(1, []byte("noise from a raw write to fd 1 during a call\n"))
			fmt.Println("noise from fmt.Println during a call")
			return echoC2(ctx, req)
		})
		sdk.Serve(p)
	case "exit":
		fmt.Fprintln(os.Stderr, "helper: cannot open /etc/example.conf: no such file")
		os.Exit(3)
	case "hang":
		fmt.Fprintln(os.Stderr, "helper: hanging before the handshake")
		time.Sleep(time.Hour)
	case "cookie":
		// A go-plugin plugin built for some other host.
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "OTHER_HOST_PLUGIN", MagicCookieValue: "x"},
			Plugins:         plugin.PluginSet{"x": &v2Plugin{}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	case "orphan":
		// A child that outlives the plugin holding its stdout and stderr,
		// as a prover's helper process might.
		child := exec.Command("sleep", "30")
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		_ = child.Start()
		fmt.Fprintf(os.Stderr, "orphan child pid %d\n", child.Process.Pid)
		sdk.Serve(allStages("orphan"))
	case "linger":
		// Keeps running after the host's shutdown request, as a plugin
		// with a stuck cleanup would: only a hard kill ends it.
		sdk.Serve(allStages("linger"))
		time.Sleep(time.Hour)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%s\n", helperEnv, mode)
		os.Exit(2)
	}
}

// allStages serves all five stages with outputs derived from the inputs,
// plus behaviours selected by the sector number:
//
//	1000: block until ctx ends, then count it in cancelSeen
//	1001: sdk.RetryableErrorf     1002: sdk.Errorf
//	1003: a plain error           1004: panic
//	1005: exit the process (7)    1006: block ignoring ctx
//	1007: log at every level      1008: nil response, nil error
//	2001: c1 answers a phase1_output of pattern, as long as the 8-byte
//	      big-endian number in the seed
//	2003: c1 sleeps 500ms ignoring ctx, then answers 8 MiB
//	2002: pc2 answers the hex SHA-256 of phase1_output as sealed_cid and
//	      its length as unsealed_cid
func allStages(name string) sdk.Plugin {
	return sdk.Plugin{
		Name:    name,
		Version: "1.0.0",
		TreeD: sdk.TreeDFunc(func(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
			if err := behave(ctx, req.GetSector()); err != nil || req.GetSector().GetSectorNumber() == 1008 {
				return nil, err
			}
			return &sealv1.TreeDResponse{UnsealedCid: "d:" + req.GetStagedPath()}, nil
		}),
		PC1: sdk.PC1Func(func(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error) {
			if err := behave(ctx, req.GetSector()); err != nil {
				return nil, err
			}
			sum := sha256.Sum256(append(req.GetTicket(), req.GetSealedPath()...))
			return &sealv1.PC1Response{Phase1Output: sum[:]}, nil
		}),
		PC2: sdk.PC2Func(func(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
			if err := behave(ctx, req.GetSector()); err != nil {
				return nil, err
			}
			if req.GetSector().GetSectorNumber() == 2002 {
				sum := sha256.Sum256(req.GetPhase1Output())
				return &sealv1.PC2Response{SealedCid: fmt.Sprintf("%x", sum), UnsealedCid: fmt.Sprint(len(req.GetPhase1Output()))}, nil
			}
			return &sealv1.PC2Response{SealedCid: fmt.Sprintf("r:%x", req.GetPhase1Output()), UnsealedCid: "d:" + req.GetCachePath()}, nil
		}),
		C1: sdk.C1Func(func(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
			if err := behave(ctx, req.GetSector()); err != nil {
				return nil, err
			}
			if req.GetSector().GetSectorNumber() == 2003 {
				// Finishes its work (a large output) after the host gave up.
				time.Sleep(500 * time.Millisecond)
				return &sealv1.C1Response{Phase1Output: largeOutput(8 << 20)}, nil
			}
			if req.GetSector().GetSectorNumber() == 2001 {
				return &sealv1.C1Response{Phase1Output: largeOutput(int(binary.BigEndian.Uint64(req.GetSeed())))}, nil
			}
			out := bytes.Repeat(req.GetSeed(), 2)
			return &sealv1.C1Response{Phase1Output: out}, nil
		}),
		C2: sdk.C2Func(echoC2),
	}
}

// echoC2 returns its input as the proof, or with an empty input the number
// of calls that saw their ctx end.
//
// For the payload benchmarks, sector 2000 answers an empty proof whatever
// the input, and sector 2001 answers a proof as long as the 8-byte
// big-endian number in phase1_output, from a buffer kept between calls so
// that what is measured is the transport, not the allocator.
func echoC2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	if err := behave(ctx, req.GetSector()); err != nil {
		return nil, err
	}
	switch req.GetSector().GetSectorNumber() {
	case 2000:
		return &sealv1.C2Response{}, nil
	case 2001:
		return &sealv1.C2Response{Proof: largeOutput(int(binary.BigEndian.Uint64(req.GetPhase1Output())))}, nil
	}
	if len(req.GetPhase1Output()) == 0 {
		return &sealv1.C2Response{Proof: binary.BigEndian.AppendUint64(nil, uint64(cancelSeen.Load()))}, nil
	}
	return &sealv1.C2Response{Proof: req.GetPhase1Output()}, nil
}

func behave(ctx context.Context, s *sealv1.Sector) error {
	switch s.GetSectorNumber() {
	case 1000:
		<-ctx.Done()
		cancelSeen.Add(1)
		return ctx.Err()
	case 1001:
		return sdk.RetryableErrorf("prover %s unreachable", "10.0.0.1")
	case 1002:
		return sdk.Errorf("sector %d: cache dir is not empty", s.GetSectorNumber())
	case 1003:
		return fmt.Errorf("plain failure")
	case 1004:
		panic("helper panics on purpose")
	case 1005:
		sdk.Logger(ctx).Error("helper: dying mid-call")
		os.Exit(7)
	case 1006:
		time.Sleep(time.Hour)
	case 1007:
		l := sdk.Logger(ctx)
		l.Trace("helper trace line")
		l.Debug("helper debug line")
		l.Info("helper info line", "sector", s.GetSectorNumber())
		l.Warn("helper warn line")
		l.Error("helper error line")
	}
	return nil
}

// v2Plugin is the host side of a future protocol version 2 (see
// testdata/fakev2); it hands back a marker instead of a stages client.
type v2Plugin struct {
	plugin.NetRPCUnsupportedPlugin
}

type v2Marker struct{ conn *grpc.ClientConn }

func (p *v2Plugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("host side only")
}

func (p *v2Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &v2Marker{conn: c}, nil
}

var (
	builtMu sync.Mutex
	built   = map[string]string{} // testdata command -> binary
	builtIn string                // directory of the binaries
)

// buildTestdata builds ./testdata/<name> once per test run and returns
// the binary's path.
func buildTestdata(t testing.TB, name string) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	if builtIn == "" {
		dir, err := os.MkdirTemp("", "testdata")
		if err != nil {
			t.Fatal(err)
		}
		builtIn = dir
	}
	p := filepath.Join(builtIn, name)
	out, err := exec.Command("go", "build", "-o", p, "./testdata/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./testdata/%s: %v\n%s", name, err, out)
	}
	built[name] = p
	return p
}

// fakeV2Cmd returns a command running testdata/fakev2.
func fakeV2Cmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	args = append([]string{"-cookie-key", sdk.MagicCookieKey, "-cookie-value", sdk.MagicCookieValue}, args...)
	cmd := exec.Command(buildTestdata(t, "fakev2"), args...)
	cmd.Env = []string{"FAKEV2_VERSION=9.9.9"}
	return cmd
}

// rawBlobCmd returns a command running testdata/rawblob.
func rawBlobCmd(t testing.TB, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(buildTestdata(t, "rawblob"))
	cmd.Env = append([]string{"RAWBLOB_COOKIE_KEY=" + sdk.MagicCookieKey, "RAWBLOB_COOKIE_VALUE=" + sdk.MagicCookieValue}, env...)
	return cmd
}

func containsAll(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
