package blob_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sealhost/sealhost/sdk/internal/blob"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, blob.Threshold, 9<<20 + 3} { // 9 MiB + 3 spans chunks and a partial one
		dir := t.TempDir()
		in := data(n)
		ref, err := blob.Write(context.Background(), dir, "c1", in)
		if err != nil {
			t.Fatalf("Write(%d bytes): %v", n, err)
		}
		if filepath.Dir(ref.GetPath()) != dir || ref.GetSize() != uint64(n) {
			t.Fatalf("Write(%d bytes) = %v, want a file in %s of that size", n, ref, dir)
		}
		st, err := os.Stat(ref.GetPath())
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("blob file mode %v, want 0600", st.Mode().Perm())
		}
		out, err := blob.Read(ref, dir)
		if err != nil {
			t.Fatalf("Read(%d bytes): %v", n, err)
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("Read(%d bytes) returned different bytes", n)
		}
		if left := entries(t, dir); len(left) != 0 {
			t.Errorf("Read left %v behind", left)
		}
	}
}

// TestReadRefuses covers every way a file can differ from its reference:
// each is an error naming the problem, and the file is gone afterwards
// (except one outside the call's directory, which is not the reader's to
// remove).
func TestReadRefuses(t *testing.T) {
	tests := []struct {
		name    string
		mangle  func(t *testing.T, ref *sealv1.Blob, dir, outside string)
		want    string
		removed bool
	}{
		{"missing", func(t *testing.T, ref *sealv1.Blob, _, _ string) { must(t, os.Remove(ref.Path)) }, "no such file", true},
		{"truncated", func(t *testing.T, ref *sealv1.Blob, _, _ string) { must(t, os.Truncate(ref.Path, int64(ref.Size)-1)) },
			"holds 2097151 bytes, the message says 2097152 (truncated", true},
		{"longer", func(t *testing.T, ref *sealv1.Blob, _, _ string) { must(t, os.Truncate(ref.Path, int64(ref.Size)+1)) },
			"holds 2097153 bytes", true},
		{"corrupted", func(t *testing.T, ref *sealv1.Blob, _, _ string) {
			f, err := os.OpenFile(ref.Path, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte{0xff, 0xff}, 1<<20)
			must(t, err)
			must(t, f.Close())
		}, "(corrupted)", true},
		{"wrong size announced", func(t *testing.T, ref *sealv1.Blob, _, _ string) { ref.Size = 5 }, "the message says 5", true},
		{"outside the directory", func(t *testing.T, ref *sealv1.Blob, _, outside string) {
			p := filepath.Join(outside, "precious")
			must(t, os.Rename(ref.Path, p))
			ref.Path = p
		}, "is not in", false},
		{"dot-dot escape", func(t *testing.T, ref *sealv1.Blob, dir, outside string) {
			p := filepath.Join(outside, "precious")
			must(t, os.Rename(ref.Path, p))
			ref.Path = dir + "/../" + filepath.Base(outside) + "/precious"
		}, "is not a clean absolute path", false},
		// A refused file is left as it is: a blob reference must not make
		// the receiver remove anything it did not check (the call's
		// directory goes with the call anyway).
		{"symlink", func(t *testing.T, ref *sealv1.Blob, dir, outside string) {
			p := filepath.Join(outside, "precious")
			must(t, os.Rename(ref.Path, p))
			must(t, os.Symlink(p, ref.Path))
		}, "too many levels of symbolic links", false},
		{"hard link to a file elsewhere", func(t *testing.T, ref *sealv1.Blob, dir, outside string) {
			must(t, os.Link(ref.Path, filepath.Join(outside, "precious")))
		}, "has 2 links, a blob has one", false},
		{"fifo (would block a plain open)", func(t *testing.T, ref *sealv1.Blob, dir, outside string) {
			must(t, os.Rename(ref.Path, filepath.Join(outside, "precious")))
			must(t, syscall.Mkfifo(ref.Path, 0o600))
		}, "not a regular file", false},
		{"directory", func(t *testing.T, ref *sealv1.Blob, _, outside string) {
			must(t, os.Rename(ref.Path, filepath.Join(outside, "precious")))
			must(t, os.Mkdir(ref.Path, 0o700))
		}, "not a regular file", false},
		{"empty path", func(t *testing.T, ref *sealv1.Blob, _, _ string) {
			must(t, os.Remove(ref.Path))
			ref.Path = ""
		}, "empty path", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir, outside := filepath.Join(parent, "call"), filepath.Join(parent, "other")
			must(t, os.Mkdir(dir, 0o700))
			must(t, os.Mkdir(outside, 0o700))
			ref, err := blob.Write(context.Background(), dir, "c1", data(2<<20))
			must(t, err)
			tt.mangle(t, ref, dir, outside)
			out, err := blob.Read(ref, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read = %d bytes, %v; want an error containing %q", len(out), err, tt.want)
			}
			if left := entries(t, dir); tt.removed && len(left) != 0 {
				t.Errorf("Read failed but left %v in the call's directory", left)
			}
			if left := entries(t, dir); !tt.removed && tt.name != "outside the directory" && tt.name != "dot-dot escape" && len(left) != 1 {
				t.Errorf("Read removed what it refused: %v left in the call's directory", left)
			}
			if left := entries(t, outside); !tt.removed && len(left) != 1 {
				t.Errorf("Read removed a file outside the call's directory: %v left", left)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteFailures(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		_, err := blob.Write(context.Background(), filepath.Join(t.TempDir(), "gone"), "c1", data(10))
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("Write = %v, want no such file or directory", err)
		}
	})
	t.Run("receiver gone", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := blob.Write(ctx, dir, "c1", data(10))
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("Write = %v, want context canceled", err)
		}
		if left := entries(t, dir); len(left) != 0 {
			t.Errorf("Write failed but left %v", left)
		}
	})
}

func TestShallow(t *testing.T) {
	payload := data(1 << 20)
	in := &sealv1.C2Request{Sector: &sealv1.Sector{SectorNumber: 7}, Phase1Output: payload}
	out := blob.Shallow(in)
	if &out.Phase1Output[0] != &payload[0] || out.Sector != in.Sector {
		t.Error("Shallow copied a field's value; it must share it")
	}
	out.Phase1Output, out.Phase1OutputBlob = nil, &sealv1.Blob{Path: "/x"}
	if len(in.Phase1Output) != len(payload) || in.Phase1OutputBlob != nil {
		t.Error("changing the copy's fields changed the original's")
	}
	pc1 := &sealv1.PC1Request{Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: "baga"}}, Ticket: []byte{1}}
	if got := blob.Shallow(pc1); len(got.GetPieces()) != 1 || got.GetPieces()[0].GetPieceCid() != "baga" || string(got.GetTicket()) != "\x01" {
		t.Errorf("Shallow(%v) = %v, lost fields", pc1, got)
	}
}

// TestReadUnder is the plugin side: a blob is read, and removed, only from
// inside the processor's blob directory and only when it is this user's.
func TestReadUnder(t *testing.T) {
	for _, tc := range []struct {
		name string
		// place returns the blob to read, given the root and a folder
		// outside it holding the file to protect.
		place   func(t *testing.T, root, outside string) *sealv1.Blob
		want    string // "" for success
		removed bool
	}{
		{"in a call folder under the root", func(t *testing.T, root, _ string) *sealv1.Blob {
			dir := filepath.Join(root, "sealhost-blobs-1", "c2-1")
			must(t, os.MkdirAll(dir, 0o700))
			ref, err := blob.Write(context.Background(), dir, "c2", data(100))
			must(t, err)
			return ref
		}, "", true},
		{"outside the root", func(t *testing.T, _, outside string) *sealv1.Blob {
			ref, err := blob.Write(context.Background(), outside, "c2", data(100))
			must(t, err)
			return ref
		}, "is not inside", false},
		{"through a link in the root that leads out", func(t *testing.T, root, outside string) *sealv1.Blob {
			ref, err := blob.Write(context.Background(), outside, "c2", data(100))
			must(t, err)
			must(t, os.Symlink(outside, filepath.Join(root, "escape")))
			return &sealv1.Blob{Path: filepath.Join(root, "escape", filepath.Base(ref.Path)), Size: ref.Size, Crc32C: ref.Crc32C}
		}, "is not inside", false},
		{"another user's file", func(t *testing.T, root, _ string) *sealv1.Blob {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user (CI runs as root)")
			}
			ref, err := blob.Write(context.Background(), root, "c2", data(100))
			must(t, err)
			must(t, os.Chown(ref.Path, 65534, 65534))
			return ref
		}, "not owned by this process's user", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			root, outside := filepath.Join(parent, "root"), filepath.Join(parent, "outside")
			must(t, os.Mkdir(root, 0o700))
			must(t, os.Mkdir(outside, 0o700))
			ref := tc.place(t, root, outside)
			out, err := blob.ReadUnder(ref, root)
			if tc.want == "" {
				if err != nil || len(out) != 100 {
					t.Fatalf("ReadUnder = %d bytes, %v", len(out), err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadUnder = %d bytes, %v; want an error containing %q", len(out), err, tc.want)
			}
			real, _ := filepath.EvalSymlinks(filepath.Dir(ref.Path))
			_, statErr := os.Lstat(filepath.Join(real, filepath.Base(ref.Path)))
			if tc.removed != os.IsNotExist(statErr) {
				t.Errorf("file removed = %v, want %v", os.IsNotExist(statErr), tc.removed)
			}
		})
	}
}

// FuzzRead: any blob reference, against a directory holding one real blob,
// reads without a panic or a hang, and never removes the file it did not
// accept.
func FuzzRead(f *testing.F) {
	f.Add("c2-x.blob", uint64(100), uint32(0), false)
	f.Add("../outside", uint64(5), uint32(1), true)
	f.Add("", uint64(0), uint32(0), false)
	f.Fuzz(func(t *testing.T, name string, size uint64, crc uint32, under bool) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "call")
		must(t, os.Mkdir(dir, 0o700))
		keep := filepath.Join(parent, "keep")
		must(t, os.WriteFile(keep, []byte("precious"), 0o600))
		ref, err := blob.Write(context.Background(), dir, "c2", data(100))
		must(t, err)
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, "/") {
			path = name
		}
		b := &sealv1.Blob{Path: path, Size: size, Crc32C: crc}
		if under {
			blob.ReadUnder(b, dir)
		} else {
			blob.Read(b, dir)
		}
		if got, err := os.ReadFile(keep); err != nil || string(got) != "precious" {
			t.Fatalf("a file outside the call's directory was touched: %q, %v", got, err)
		}
		_ = ref
	})
}
