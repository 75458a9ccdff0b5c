package blob

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
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

// Read returns the bytes b refers to and removes its file, whatever the
// outcome, unless the path is refused outright. When within is not empty
// the file must be directly inside that directory: the host passes the
// call's directory so a plugin cannot make it read (and remove) any other
// file. The file must be a regular file (a symlink is refused) of exactly
// b.Size bytes whose CRC-32C is b.Crc32C.
func Read(b *sealv1.Blob, within string) ([]byte, error) {
	path := b.GetPath()
	if path == "" {
		return nil, errors.New("blob: empty path")
	}
	if within != "" && filepath.Dir(filepath.Clean(path)) != filepath.Clean(within) {
		return nil, fmt.Errorf("blob: %s is not in %s, the directory given for this call; refused", path, within)
	}
	defer func() { _ = os.Remove(path) }()
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("blob: %s is not a regular file (%s)", path, st.Mode().Type())
	}
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
