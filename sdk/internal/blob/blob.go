package blob

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Threshold is the smallest field sent as a blob. Below it the file's
// create, write, read and remove (tens of microseconds) cost more than
// gRPC's copies of the bytes.
const Threshold = 1 << 20

// chunk is the unit in which Read reads and checksums: small enough to
// stay in the cpu's cache between the two.
const chunk = 256 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Write writes data to a new file in dir and returns its reference. The
// file is mode 0600 and written with a single write. It checksums data on
// another goroutine while writing, so the checksum costs no time on a
// machine with a spare core. On any error, or when ctx has ended by the
// time the file is written (the receiver has gone), the file is removed.
func Write(ctx context.Context, dir, prefix string, data []byte) (*sealv1.Blob, error) {
	sum := make(chan uint32, 1)
	go func() { sum <- crc32.Checksum(data, castagnoli) }()
	f, err := os.CreateTemp(dir, prefix+"-*.blob") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	path := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	crc := <-sum
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("blob: writing %d bytes to %s: %w", len(data), path, err)
	}
	return &sealv1.Blob{Path: path, Size: uint64(len(data)), Crc32C: crc}, nil
}

// DirEnv is sdk.BlobDirEnv (this package cannot import the sdk, which
// imports it); sdk's tests check the two agree.
const DirEnv = "SEALHOST_BLOB_DIR"

// Read returns the bytes b refers to and removes its file, but only a file
// that passed every check: a blob is a file the receiver removes, so a
// reference it did not expect must not make it remove anything (a plugin
// often runs as root). When within is not empty the file must be directly
// inside that directory (the host passes the call's directory). The file
// must be a regular file (not a link, not a FIFO or device, checked
// without blocking), owned by this process's user, with one link (no hard
// link to a file elsewhere), of exactly b.Size bytes whose CRC-32C is
// b.Crc32C. A file refused on its name, kind, owner or links is left as it
// is, and the error tells nothing about it the caller could not know.
func Read(b *sealv1.Blob, within string) ([]byte, error) {
	path, err := cleanPath(b)
	if err != nil {
		return nil, err
	}
	if within != "" && filepath.Dir(path) != filepath.Clean(within) {
		return nil, fmt.Errorf("blob: %s is not in %s, the directory given for this call; refused", path, within)
	}
	return readChecked(b, path)
}

// ReadUnder is Read for a receiver that knows a root rather than the
// call's directory (a plugin: its DirEnv): the file's directory, with
// every link in it resolved, must lie inside root, also resolved.
func ReadUnder(b *sealv1.Blob, root string) ([]byte, error) {
	path, err := cleanPath(b)
	if err != nil {
		return nil, err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("blob: the blob directory %s: %w", root, err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	rel, rerr := filepath.Rel(realRoot, dir)
	if err != nil || rerr != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("blob: %s is not inside %s, this processor's blob directory; refused", path, root)
	}
	return readChecked(b, filepath.Join(dir, filepath.Base(path)))
}

// cleanPath returns b's path if it is absolute and clean ("..", "//" and
// relative paths are refused before anything looks at the file).
func cleanPath(b *sealv1.Blob) (string, error) {
	path := b.GetPath()
	if path == "" {
		return "", errors.New("blob: empty path")
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return "", fmt.Errorf("blob: %q is not a clean absolute path; refused", path)
	}
	return path, nil
}

func readChecked(b *sealv1.Blob, path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer forever. It has no effect on a regular file's reads.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("blob: %s is not a regular file; refused", path)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if int(sys.Uid) != os.Geteuid() {
			return nil, fmt.Errorf("blob: %s is not owned by this process's user; refused", path)
		}
		if sys.Nlink != 1 {
			return nil, fmt.Errorf("blob: %s has %d links, a blob has one; refused", path, sys.Nlink)
		}
	}
	// Checked: from here on the file is ours to remove, whatever happens.
	defer func() {
		// Only if the name still refers to the file that was checked.
		if cur, err := os.Lstat(path); err == nil && os.SameFile(cur, st) {
			_ = os.Remove(path)
		}
	}()
	if uint64(st.Size()) != b.GetSize() {
		return nil, fmt.Errorf("blob: %s holds %d bytes, the message says %d (truncated or overwritten)", path, st.Size(), b.GetSize())
	}
	if b.GetSize() > uint64(maxInt) {
		return nil, fmt.Errorf("blob: %s: %d bytes do not fit in memory", path, b.GetSize())
	}
	data := make([]byte, int(b.GetSize()))
	var crc uint32
	for off := 0; off < len(data); {
		n := min(chunk, len(data)-off)
		if _, err := io.ReadFull(f, data[off:off+n]); err != nil {
			return nil, fmt.Errorf("blob: reading %s (%d bytes announced): %w", path, b.GetSize(), err)
		}
		// Checksummed while still in the cpu's cache: nearly free, where a
		// second pass over 64 MiB from memory costs a third of the read.
		crc = crc32.Update(crc, castagnoli, data[off:off+n])
		off += n
	}
	if crc != b.GetCrc32C() {
		return nil, fmt.Errorf("blob: %s: CRC-32C %08x, the message says %08x (corrupted)", path, crc, b.GetCrc32C())
	}
	return data, nil
}

const maxInt = int(^uint(0) >> 1)

// Shallow returns a copy of m sharing every field's value with m: bytes,
// sub-messages and lists are not copied. It lets a caller replace one
// field of a message it does not own (a request its caller passed in, a
// response a stage handed back) without copying 64 MiB.
func Shallow[M proto.Message](m M) M {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	if u := src.GetUnknown(); len(u) > 0 {
		dst.SetUnknown(u)
	}
	return dst.Interface().(M)
}
