package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestCallerHostFieldsRefused: a task request naming a file in any Blob
// field, or a response_blob_dir, is refused with InvalidArgument before it
// reaches a plugin, and the named file, device or folder is untouched. On
// the code before the fix the plugin read and removed the victim.
func TestCallerHostFieldsRefused(t *testing.T) {
	h := startHost(t, "", `
processor "pc1" {
  plugin = "mock"
}
processor "pc2" {
  plugin = "mock"
}
processor "c1" {
  plugin = "mock"
}
processor "c2" {
  plugin = "mock"
}
`, hostOptions{})
	victimDir := t.TempDir()
	victim := filepath.Join(victimDir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A special file of the test's own, never a real device: before the fix
	// the plugin removed whatever the blob named (it took /dev/null once).
	fifo := filepath.Join(victimDir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	blobAt := func(path string) *sealv1.Blob { return &sealv1.Blob{Path: path, Size: 8} }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in := inputs(t, 1)
	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"pc2 blob file", "phase1_output_blob", func() error {
			r := in.PC2
			r.Phase1Output, r.Phase1OutputBlob = nil, blobAt(victim)
			_, err := h.c.PC2(ctx, r)
			return err
		}},
		{"c2 blob file", "phase1_output_blob", func() error {
			r := in.C2
			r.Phase1Output, r.Phase1OutputBlob = nil, blobAt(victim)
			_, err := h.c.C2(ctx, r)
			return err
		}},
		{"c2 blob folder", "phase1_output_blob", func() error {
			r := in.C2
			r.Phase1Output, r.Phase1OutputBlob = nil, blobAt(victimDir)
			_, err := h.c.C2(ctx, r)
			return err
		}},
		{"c2 blob special file", "phase1_output_blob", func() error {
			r := in.C2
			r.Phase1Output, r.Phase1OutputBlob = nil, blobAt(fifo)
			_, err := h.c.C2(ctx, r)
			return err
		}},
		{"pc1 response dir", "response_blob_dir", func() error {
			r := in.PC1
			r.ResponseBlobDir = victimDir
			_, err := h.c.PC1(ctx, r)
			return err
		}},
		{"c1 response dir", "response_blob_dir", func() error {
			r := in.C1
			r.ResponseBlobDir = victimDir
			_, err := h.c.C1(ctx, r)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || taskErr(t, err).Code != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field+" is set: it is host-internal") {
				t.Fatalf("err = %v, want InvalidArgument naming %s as host-internal", err, tc.field)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Fatalf("victim after the call: %q, %v", b, err)
			}
			if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
				t.Fatalf("fifo after the call: %v, %v", st, err)
			}
		})
	}
}

// TestOversizedRequestRefused: paths and lists beyond the bounds are
// refused with InvalidArgument before they reach a plugin; at the bound
// they pass the check.
func TestOversizedRequestRefused(t *testing.T) {
	h := startHost(t, "", `
processor "pc1" {
  plugin = "mock"
}
`, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name   string
		mangle func(r *sealv1.PC1Request)
		want   string
	}{
		{"16 MiB staged path", func(r *sealv1.PC1Request) { r.StagedPath = "/" + strings.Repeat("a", 16<<20) },
			"staged_path is 16777217 bytes long, at most 4096"},
		{"long piece cid", func(r *sealv1.PC1Request) { r.Pieces[0].PieceCid = strings.Repeat("b", 5000) },
			"pieces[0].piece_cid is 5000 bytes long"},
		{"too many pieces", func(r *sealv1.PC1Request) {
			for len(r.Pieces) <= maxList {
				r.Pieces = append(r.Pieces, r.Pieces[0])
			}
		}, "pieces has 513 entries, at most 512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inputs(t, 1).PC1
			tc.mangle(r)
			_, err := h.c.PC1(ctx, r)
			if err == nil || taskErr(t, err).Code != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want InvalidArgument containing %q", err, tc.want)
			}
		})
	}
	t.Run("at the bound the check passes", func(t *testing.T) {
		r := inputs(t, 1).PC1
		r.StagedPath = "/" + strings.Repeat("a", maxString-1)
		if err := refuseHostFields(r); err != nil {
			t.Fatalf("a %d-byte path: %v", maxString, err)
		}
	})
}

// FuzzRequestChecks: any bytes decoded as any task request type go through
// the checks the task API runs first without a panic, and a request the
// checks pass sets no host-only field.
func FuzzRequestChecks(f *testing.F) {
	for _, m := range []proto.Message{
		&sealv1.C2Request{Phase1OutputBlob: &sealv1.Blob{Path: "/victim", Size: 1}},
		&sealv1.PC1Request{ResponseBlobDir: "/", Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: "baga"}}},
		&sealv1.PC2Request{Phase1Output: []byte("x"), CachePath: "/c"},
		&sealv1.C1Request{SealedCid: "bagboea", Ticket: make([]byte, 32)},
		&sealv1.TreeDRequest{StagedPath: "/s"},
		&sealv1.SnapEncodeRequest{NewReplicaPath: "/r", Pieces: []*sealv1.PieceInfo{{Size: 2048}}},
		&sealv1.SnapProveRequest{VanillaProofs: [][]byte{{1}}, OldSealedCid: "bagboea"},
		&sealv1.WindowPoStRequest{Randomness: make([]byte, 32), Sectors: []*sealv1.PoStSector{{CachePath: "/c", SealedCid: "bagboea"}}},
		&sealv1.WinningPoStRequest{Sectors: []*sealv1.PoStSector{{SealedPath: "/s"}}},
		&sealv1.UnsealRequest{UnsealedPath: "/u", NumBytes: 2032},
		&sealv1.AddPiecesRequest{Pieces: []*sealv1.PieceFile{{Path: "/p", Size: 1024}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	news := []func() proto.Message{
		func() proto.Message { return &sealv1.TreeDRequest{} },
		func() proto.Message { return &sealv1.PC1Request{} },
		func() proto.Message { return &sealv1.PC2Request{} },
		func() proto.Message { return &sealv1.C1Request{} },
		func() proto.Message { return &sealv1.C2Request{} },
		func() proto.Message { return &sealv1.SnapEncodeRequest{} },
		func() proto.Message { return &sealv1.SnapProveRequest{} },
		func() proto.Message { return &sealv1.WindowPoStRequest{} },
		func() proto.Message { return &sealv1.WinningPoStRequest{} },
		func() proto.Message { return &sealv1.UnsealRequest{} },
		func() proto.Message { return &sealv1.AddPiecesRequest{} },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mk := range news {
			m := mk()
			if proto.Unmarshal(b, m) != nil {
				continue
			}
			if refuseHostFields(m) == nil && hostField(m.ProtoReflect(), nil) != "" {
				t.Fatalf("%T passed the checks with a host-only field set", m)
			}
		}
	})
}

// A PoSt request may list a whole message's partitions of sectors, far
// more than the 512 entries other lists get; beyond that it is refused.
func TestPoStSectorBound(t *testing.T) {
	post := func(n int) *sealv1.WindowPoStRequest {
		r := &sealv1.WindowPoStRequest{}
		for i := range n {
			r.Sectors = append(r.Sectors, &sealv1.PoStSector{SectorNumber: uint64(i)})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		req  proto.Message
		want string
	}{
		{"a 32GiB partition", post(2349), ""},
		{"at the bound", post(maxPoStSectors), ""},
		{"over the bound", post(maxPoStSectors + 1), "sectors has 23491 entries, at most 23490 are taken (ten partitions of 2349 sectors)"},
		{"winning over the bound", &sealv1.WinningPoStRequest{Sectors: post(maxPoStSectors + 1).Sectors}, "sectors has 23491 entries"},
		{"add_pieces pieces keep the deal bound", &sealv1.AddPiecesRequest{Pieces: make([]*sealv1.PieceFile, maxList+1)}, "pieces has 513 entries, at most 512"},
		{"snap vanilla proofs keep the deal bound", &sealv1.SnapProveRequest{VanillaProofs: make([][]byte, maxList+1)}, "vanilla_proofs has 513 entries"},
		{"a long PoSt cache path", &sealv1.WindowPoStRequest{Sectors: []*sealv1.PoStSector{{CachePath: strings.Repeat("c", 5000)}}}, "sectors[0].cache_path is 5000 bytes long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refuseHostFields(tc.req)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("refuseHostFields = %v, want %q", err, tc.want)
			}
		})
	}
}
