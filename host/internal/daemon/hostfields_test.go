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
