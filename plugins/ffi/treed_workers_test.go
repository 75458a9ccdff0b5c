package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// failingWriter fails its n-th write and every later one, and counts
// writes in flight at once: buildChunks promises one writer at a time.
type failingWriter struct {
	mu            sync.Mutex
	writes, n     int
	inFlight, max int
}

func (w *failingWriter) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	w.writes++
	w.inFlight++
	w.max = max(w.max, w.inFlight)
	fail := w.n > 0 && w.writes >= w.n
	w.mu.Unlock()
	defer func() { w.mu.Lock(); w.inFlight--; w.mu.Unlock() }()
	// Slower than hashing a chunk's small levels, as a disk is: hashed
	// chunks queue up, and two workers could both be writing.
	time.Sleep(100 * time.Microsecond)
	if fail {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestBuildChunksWorkers drives the workers of a multi-chunk tree through
// their ways out: all chunks written by one writer at a time; a write that
// fails, and a chunk that is not fr32, stop the build with that error
// instead of hanging; so does a cancel midway.
func TestBuildChunksWorkers(t *testing.T) {
	const chunks = 16
	data := make([]byte, chunks*treeChunk)
	leaves := uint64(len(data) / 32)
	bad := bytes.Clone(data)
	bad[len(bad)-1] = 0xff // the last leaf of the last chunk
	for _, tc := range []struct {
		name   string
		data   []byte
		failAt int
		cancel bool
		want   string
	}{
		{"ok", data, 0, false, ""},
		{"write fails", data, 3, false, "disk full"},
		{"last chunk not fr32", bad, 0, false, "not fr32-padded"},
		{"cancelled", data, 0, true, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &failingWriter{n: tc.failAt}
			in := bytes.NewReader(tc.data)
			var r io.ReaderAt = in
			if tc.cancel {
				r = cancelAfter{in, 4 * treeChunk, cancel}
			}
			roots := make([]byte, chunks*32)
			err := buildChunks(ctx, r, w, treeChunk, chunks, leaves, roots)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				// 1 MiB chunks: level 0 and 14 levels of each subtree (512 KiB … 64 B).
				if w.writes != chunks*15 {
					t.Errorf("%d writes, want %d", w.writes, chunks*15)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if w.max > 1 {
				t.Errorf("%d writes at once, want one writer at a time", w.max)
			}
		})
	}
}

// cancelAfter cancels the build when a chunk at or past off is read.
type cancelAfter struct {
	r      io.ReaderAt
	off    int64
	cancel func()
}

func (c cancelAfter) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.off {
		c.cancel()
	}
	return c.r.ReadAt(p, off)
}
