package sdk

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk/internal/blob"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// blobServer serves a c1 answering n bytes (n from the seed's length
// times 1 MiB) and a c2 reporting what its handler saw.
func blobServer(t *testing.T) (sealv1.StagesServer, *[]byte) {
	t.Helper()
	var seen []byte
	srv, err := NewServer(Plugin{
		Name: "blobs",
		C1: C1Func(func(_ context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
			if req.GetResponseBlobDir() != "" {
				t.Error("the handler sees response_blob_dir; the sdk should hide it")
			}
			return &sealv1.C1Response{Phase1Output: bytes.Repeat([]byte{7}, len(req.GetSeed())<<20)}, nil
		}),
		C2: C2Func(func(_ context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
			if req.GetPhase1OutputBlob() != nil {
				t.Error("the handler sees phase1_output_blob; the sdk should have inflated it")
			}
			seen = req.GetPhase1Output()
			return &sealv1.C2Response{Proof: []byte("ok")}, nil
		}),
		Logger: hclog.NewNullLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, &seen
}

func TestInfoAcceptsBlobs(t *testing.T) {
	srv, _ := blobServer(t)
	info, err := srv.Info(context.Background(), &sealv1.InfoRequest{})
	if err != nil || !info.GetAcceptsBlobs() {
		t.Fatalf("Info = %v, %v; want accepts_blobs", info, err)
	}
}

func TestResponseBlob(t *testing.T) {
	tests := []struct {
		name     string
		mib      int  // output size
		offerDir bool // the host sets response_blob_dir
		wantBlob bool
	}{
		{"large, host offers a directory", 2, true, true},
		{"large, host predates blobs", 2, false, false},
		{"small stays inline", 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := blobServer(t)
			dir := t.TempDir()
			req := &sealv1.C1Request{Seed: make([]byte, tt.mib)}
			if tt.offerDir {
				req.ResponseBlobDir = dir
			}
			resp, err := srv.C1(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetPhase1OutputBlob() != nil; got != tt.wantBlob {
				t.Fatalf("response blob = %v, want one: %v", resp.GetPhase1OutputBlob(), tt.wantBlob)
			}
			want := tt.mib << 20
			if tt.wantBlob {
				if len(resp.GetPhase1Output()) != 0 {
					t.Errorf("phase1_output inline too (%d bytes)", len(resp.GetPhase1Output()))
				}
				out, err := blob.Read(resp.GetPhase1OutputBlob(), dir)
				if err != nil || len(out) != want {
					t.Fatalf("reading the blob: %d bytes, %v; want %d", len(out), err, want)
				}
			} else if len(resp.GetPhase1Output()) != want {
				t.Errorf("inline phase1_output of %d bytes, want %d", len(resp.GetPhase1Output()), want)
			}
		})
	}
}

func TestResponseBlobUnwritable(t *testing.T) {
	// A directory the plugin cannot reach: the bytes go inline instead.
	srv, _ := blobServer(t)
	resp, err := srv.C1(context.Background(), &sealv1.C1Request{Seed: make([]byte, 2), ResponseBlobDir: "/nonexistent/sealhost"})
	if err != nil || resp.GetPhase1OutputBlob() != nil || len(resp.GetPhase1Output()) != 2<<20 {
		t.Fatalf("C1 = blob %v, %d inline bytes, %v; want 2 MiB inline", resp.GetPhase1OutputBlob(), len(resp.GetPhase1Output()), err)
	}
}

func TestRequestBlob(t *testing.T) {
	srv, seen := blobServer(t)
	dir := t.TempDir()
	in := bytes.Repeat([]byte("sealhost"), 1<<18)
	ref, err := blob.Write(context.Background(), dir, "c2", in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.C2(context.Background(), &sealv1.C2Request{Phase1OutputBlob: ref}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(*seen, in) {
		t.Errorf("the handler saw %d bytes, want the blob's %d", len(*seen), len(in))
	}
	if _, err := os.Stat(ref.GetPath()); !os.IsNotExist(err) {
		t.Errorf("the blob file is still there after the call (%v); the receiver removes it", err)
	}
}

func TestRequestBlobErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		req  func(t *testing.T) *sealv1.C2Request
		want string
	}{
		{"missing file", func(t *testing.T) *sealv1.C2Request {
			return &sealv1.C2Request{Phase1OutputBlob: &sealv1.Blob{Path: dir + "/gone.blob", Size: 5}}
		}, `plugin "blobs" could not read the request's phase1_output: blob: open ` + dir + `/gone.blob: no such file or directory`},
		{"truncated file", func(t *testing.T) *sealv1.C2Request {
			ref, err := blob.Write(context.Background(), dir, "c2", make([]byte, 100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(ref.GetPath(), 60); err != nil {
				t.Fatal(err)
			}
			return &sealv1.C2Request{Phase1OutputBlob: ref}
		}, "holds 60 bytes, the message says 100 (truncated or overwritten)"},
		{"both inline and blob", func(t *testing.T) *sealv1.C2Request {
			return &sealv1.C2Request{Phase1Output: []byte("x"), Phase1OutputBlob: &sealv1.Blob{Path: dir + "/x"}}
		}, "sets both phase1_output (1 bytes) and phase1_output_blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := blobServer(t)
			_, err := srv.C2(context.Background(), tt.req(t))
			if err == nil || !strings.Contains(status.Convert(err).Message(), tt.want) {
				t.Fatalf("C2 error = %v, want it to contain %q", err, tt.want)
			}
			if *seen != nil {
				t.Error("the handler ran on a request whose payload could not be read")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

// TestRequestBlobOnlyFromTheBlobDir: a request blob naming a file outside
// the directory the host gave the plugin (blob.DirEnv) is refused and the
// file is left alone, even when it looks like a blob.
func TestRequestBlobOnlyFromTheBlobDir(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	t.Setenv(blob.DirEnv, root)
	ref, err := blob.Write(context.Background(), outside, "c2", make([]byte, 100))
	if err != nil {
		t.Fatal(err)
	}
	srv, seen := blobServer(t)
	_, err = srv.C2(context.Background(), &sealv1.C2Request{Phase1OutputBlob: ref})
	if err == nil || !strings.Contains(status.Convert(err).Message(), "is not inside "+root+", this processor's blob directory; refused") {
		t.Fatalf("C2 error = %v, want the blob refused as outside the blob directory", err)
	}
	if *seen != nil {
		t.Error("the handler ran on a refused blob")
	}
	if _, err := os.Stat(ref.GetPath()); err != nil {
		t.Fatalf("the refused file: %v; want it left in place", err)
	}
	inside, err := blob.Write(context.Background(), root, "c2", make([]byte, 100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.C2(context.Background(), &sealv1.C2Request{Phase1OutputBlob: inside}); err != nil {
		t.Fatalf("a blob inside the blob directory: %v", err)
	}
}

// TestBlobDirEnvAgrees: the host sets sdk.BlobDirEnv, the sdk's blob reader
// reads blob.DirEnv; they must be one name.
func TestBlobDirEnvAgrees(t *testing.T) {
	if BlobDirEnv != blob.DirEnv {
		t.Fatalf("sdk.BlobDirEnv %q, blob.DirEnv %q", BlobDirEnv, blob.DirEnv)
	}
}
