package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// echoPlugin is an in-process plugin for one stage that answers every call
// at once with an empty response and keeps what it was sent. It never
// touches a file, so fuzzed paths cannot reach the machine.
type echoPlugin struct {
	stage  sealv1.Stage
	exited chan struct{}
	once   sync.Once
	mu     sync.Mutex
	got    []proto.Message
}

func newEchoPlugin(stage sealv1.Stage) *echoPlugin {
	return &echoPlugin{stage: stage, exited: make(chan struct{})}
}

func (p *echoPlugin) Info(context.Context) (*sealv1.InfoResponse, error) {
	return &sealv1.InfoResponse{Name: "echo", Stages: []sealv1.Stage{p.stage}, TracksCalls: true}, nil
}
func (p *echoPlugin) Ping(context.Context) error { return nil }
func (p *echoPlugin) Exited() <-chan struct{}    { return p.exited }
func (p *echoPlugin) ExitError() error           { return errors.New("echo plugin stopped") }
func (p *echoPlugin) Pid() int                   { return 1 }
func (p *echoPlugin) Kill(context.Context) error {
	p.once.Do(func() { close(p.exited) })
	return nil
}

func (p *echoPlugin) keep(m proto.Message) {
	p.mu.Lock()
	p.got = append(p.got, proto.Clone(m))
	p.mu.Unlock()
}

// last returns the requests received since n were.
func (p *echoPlugin) since(n int) []proto.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proto.Message(nil), p.got[n:]...)
}

func (p *echoPlugin) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

func (p *echoPlugin) TreeD(_ context.Context, r *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	p.keep(r)
	return &sealv1.TreeDResponse{}, nil
}
func (p *echoPlugin) PC1(_ context.Context, r *sealv1.PC1Request) (*sealv1.PC1Response, error) {
	p.keep(r)
	return &sealv1.PC1Response{}, nil
}
func (p *echoPlugin) PC2(_ context.Context, r *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	p.keep(r)
	return &sealv1.PC2Response{}, nil
}
func (p *echoPlugin) C1(_ context.Context, r *sealv1.C1Request) (*sealv1.C1Response, error) {
	p.keep(r)
	return &sealv1.C1Response{}, nil
}
func (p *echoPlugin) C2(_ context.Context, r *sealv1.C2Request) (*sealv1.C2Response, error) {
	p.keep(r)
	return &sealv1.C2Response{}, nil
}

// requestKinds are the task API's request types in the order the fuzz
// target's kind byte picks them, with the service method that takes each.
var requestKinds = []struct {
	stage config.Stage
	new   func() proto.Message
	call  func(*service, context.Context, proto.Message) error
}{
	{config.StageTreeD, func() proto.Message { return &sealv1.TreeDRequest{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.TreeD(ctx, m.(*sealv1.TreeDRequest))
		return err
	}},
	{config.StagePC1, func() proto.Message { return &sealv1.PC1Request{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.PC1(ctx, m.(*sealv1.PC1Request))
		return err
	}},
	{config.StagePC2, func() proto.Message { return &sealv1.PC2Request{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.PC2(ctx, m.(*sealv1.PC2Request))
		return err
	}},
	{config.StageC1, func() proto.Message { return &sealv1.C1Request{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.C1(ctx, m.(*sealv1.C1Request))
		return err
	}},
	{config.StageC2, func() proto.Message { return &sealv1.C2Request{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.C2(ctx, m.(*sealv1.C2Request))
		return err
	}},
	{config.StageSnapEncode, func() proto.Message { return &sealv1.SnapEncodeRequest{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.SnapEncode(ctx, m.(*sealv1.SnapEncodeRequest))
		return err
	}},
	{config.StageSnapProve, func() proto.Message { return &sealv1.SnapProveRequest{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.SnapProve(ctx, m.(*sealv1.SnapProveRequest))
		return err
	}},
	{config.StageWindowPoSt, func() proto.Message { return &sealv1.WindowPoStRequest{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.WindowPoSt(ctx, m.(*sealv1.WindowPoStRequest))
		return err
	}},
	{config.StageWinningPoSt, func() proto.Message { return &sealv1.WinningPoStRequest{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.WinningPoSt(ctx, m.(*sealv1.WinningPoStRequest))
		return err
	}},
	{config.StageUnseal, func() proto.Message { return &sealv1.UnsealRequest{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.Unseal(ctx, m.(*sealv1.UnsealRequest))
		return err
	}},
	{config.StageAddPieces, func() proto.Message { return &sealv1.AddPiecesRequest{} }, func(s *service, ctx context.Context, m proto.Message) error {
		_, err := s.AddPieces(ctx, m.(*sealv1.AddPiecesRequest))
		return err
	}},
}

// startEchoHost starts a real host (Start: dispatcher, arbiter, supervise,
// the task service) with one processor per stage, each served by an
// echoPlugin, all sharing a capacity-1 lock.
func startEchoHost(tb testing.TB) (*Host, map[config.Stage]*echoPlugin) {
	tb.Helper()
	dir, err := os.MkdirTemp("", "fz")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	var src strings.Builder
	fmt.Fprintf(&src, "sector_size = \"2KiB\"\nconfine = false\nplugin \"echo\" {\n  path = %q\n}\nlock \"gpu0\" {\n  capacity = 1\n}\n", mockBin)
	for _, k := range requestKinds {
		fmt.Fprintf(&src, "processor %q {\n  plugin = \"echo\"\n  locks = [\"gpu0\"]\n}\n", k.stage)
	}
	file := filepath.Join(dir, "c.hcl")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg, diags := config.Load(file)
	if diags.HasErrors() {
		tb.Fatalf("%v", diags)
	}
	plugins := map[config.Stage]*echoPlugin{}
	var mu sync.Mutex
	h, err := Start(Options{
		Config:     cfg,
		Instance:   fmt.Sprintf("%s-fz%d-%d", testInstance, os.Getpid(), instanceSeq.Add(1)),
		Socket:     filepath.Join(dir, "s"),
		Unconfined: true,
		Logger:     hclog.NewNullLogger(),
		Backoff:    fastBackoff,
		launch: func(proc string) func(context.Context, string) (supervise.Conn, error) {
			stage := config.Stage(strings.Split(proc, ".")[0])
			return func(context.Context, string) (supervise.Conn, error) {
				p := newEchoPlugin(StageProto(stage))
				mu.Lock()
				plugins[stage] = p
				mu.Unlock()
				return p, nil
			}
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Shutdown(ctx, 0)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.WaitRunning(ctx); err != nil {
		tb.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return h, plugins
}

// FuzzTaskService: bytes decoded as each task request type go through the
// real task service (the request checks, admission, the dispatcher and
// lock, supervision) to an in-process plugin. Every call answers within
// its deadline with a status carrying the protocol's Error detail, or
// succeeds; a request the checks refuse is InvalidArgument and never
// reaches the plugin; one they pass reaches it exactly as sent, without a
// host-only field. The seed corpus (testdata/fuzz/FuzzTaskService) holds
// valid requests of each type and the hostile ones the issue reproduced:
// blob fields naming a victim, response_blob_dir, oversized strings, too
// many pieces.
func FuzzTaskService(f *testing.F) {
	h, plugins := startEchoHost(f)
	svc := &service{h: h}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		k := requestKinds[int(kind)%len(requestKinds)]
		m := k.new()
		if proto.Unmarshal(b, m) != nil {
			return // gRPC refuses what does not decode before the service sees it
		}
		checks := refuseHostFields(m)
		p := plugins[k.stage]
		before := p.count()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := k.call(svc, ctx, m)
		got := p.since(before)
		if err != nil {
			st, ok := status.FromError(err)
			if !ok || len(st.Details()) == 0 {
				t.Fatalf("%s: error without a status and Error detail: %v", k.stage, err)
			}
			if _, ok := st.Details()[0].(*sealv1.Error); !ok {
				t.Fatalf("%s: detail %T, want *sealv1.Error", k.stage, st.Details()[0])
			}
		}
		switch {
		case checks != nil:
			if status.Code(err) != codes.InvalidArgument || len(got) != 0 {
				t.Fatalf("%s refused by the checks (%v): the service said %v and the plugin got %d requests", k.stage, checks, err, len(got))
			}
		case err != nil:
			t.Fatalf("%s passed the checks but failed: %v", k.stage, err)
		case len(got) != 1 || !proto.Equal(got[0], m):
			t.Fatalf("%s: the plugin got %v, want the request as sent", k.stage, got)
		case hostField(got[0].ProtoReflect(), nil) != "":
			t.Fatalf("%s reached the plugin with host-only field %s set", k.stage, hostField(got[0].ProtoReflect(), nil))
		}
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzTaskService from the requests in TestTaskServiceCorpus")

// TestTaskServiceCorpus keeps the seed corpus of FuzzTaskService in step
// with the protocol: each seed must decode as its request type (and with
// -update-corpus, the files are written from the requests below).
func TestTaskServiceCorpus(t *testing.T) {
	in, err := plugintest.DefaultInputs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	victim := &sealv1.Blob{Path: "/etc/passwd", Size: 8}
	big := "/" + strings.Repeat("a", 5000)
	manyPieces := &sealv1.PC1Request{}
	for range maxList + 1 {
		manyPieces.Pieces = append(manyPieces.Pieces, &sealv1.PieceInfo{Size: 2048, PieceCid: "baga"})
	}
	manySectors := &sealv1.WindowPoStRequest{}
	for i := range maxPoStSectors + 1 {
		manySectors.Sectors = append(manySectors.Sectors, &sealv1.PoStSector{SectorNumber: uint64(i)})
	}
	partition := &sealv1.WindowPoStRequest{RegisteredPostProof: 13, Randomness: make([]byte, 32)}
	for i := range 2349 {
		partition.Sectors = append(partition.Sectors, &sealv1.PoStSector{RegisteredSealProof: 8, SectorNumber: uint64(i), SealedCid: "bagboea", CachePath: "/c", SealedPath: "/s"})
	}
	seeds := map[string]struct {
		kind uint8
		m    proto.Message
	}{
		"tree_d-valid":                {0, in.TreeD},
		"pc1-valid":                   {1, in.PC1},
		"pc2-valid":                   {2, in.PC2},
		"c1-valid":                    {3, in.C1},
		"c2-valid":                    {4, in.C2},
		"pc2-blob-victim":             {2, &sealv1.PC2Request{Phase1OutputBlob: victim}},
		"c2-blob-victim":              {4, &sealv1.C2Request{Phase1OutputBlob: victim}},
		"pc1-response-blob-dir":       {1, &sealv1.PC1Request{ResponseBlobDir: "/"}},
		"c1-response-blob-dir":        {3, &sealv1.C1Request{ResponseBlobDir: "/etc"}},
		"tree_d-oversized-path":       {0, &sealv1.TreeDRequest{StagedPath: big}},
		"pc1-too-many-pieces":         {1, manyPieces},
		"c2-inline-phase1-output":     {4, &sealv1.C2Request{Sector: &sealv1.Sector{MinerId: 1000}, Phase1Output: []byte(big)}},
		"pc2-oversized-cache-path":    {2, &sealv1.PC2Request{CachePath: big}},
		"c1-oversized-piece-cid-list": {3, &sealv1.C1Request{Pieces: []*sealv1.PieceInfo{{PieceCid: big}}}},
		"snap_encode-valid":           {5, in.SnapEncode},
		"snap_prove-valid":            {6, in.SnapProve},
		"window_post-valid":           {7, in.WindowPoSt},
		"winning_post-valid":          {8, in.WinningPoSt},
		"unseal-valid":                {9, in.Unseal},
		"add_pieces-valid":            {10, in.AddPieces},
		"window_post-full-partition":  {7, partition},
		"window_post-too-many":        {7, manySectors},
		"snap_prove-oversized-path":   {6, &sealv1.SnapProveRequest{SectorKeyPath: big}},
		"add_pieces-oversized-piece":  {10, &sealv1.AddPiecesRequest{Pieces: []*sealv1.PieceFile{{Path: big}}}},
		"unseal-oversized-output":     {9, &sealv1.UnsealRequest{UnsealedPath: big}},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzTaskService")
	if *updateCorpus {
		os.MkdirAll(dir, 0o755)
		for name, s := range seeds {
			b, err := proto.Marshal(s.m)
			if err != nil {
				t.Fatal(err)
			}
			text := fmt.Sprintf("go test fuzz v1\nbyte('\\x%02x')\n[]byte(%q)\n", s.kind, b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range seeds {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Fatalf("seed %s missing (run with -update-corpus): %v", name, err)
			}
		})
	}
}
