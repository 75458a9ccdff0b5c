package main

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/prysmaticlabs/gohashtree"
	"golang.org/x/sys/unix"
)

// TreeDFile is the name rust-fil-proofs gives the data tree in a sector's
// cache directory (storage-proofs-core CacheKey::CommDTree).
const TreeDFile = "sc-02-data-tree-d.dat"

// treeChunk is how many leaf bytes one worker hashes into a subtree at a time.
// 1 MiB keeps the per-worker buffers small while leaving only
// sectorSize/1MiB subtree roots (32768 for 32GiB) for the final levels.
const treeChunk = 1 << 20

// BuildTreeD builds the SHA-256 binary merkle tree over a sector's padded
// data and writes it where rust-fil-proofs' PC1/PC2 expect to find it.
//
// Layout (what rust-fil-proofs' merkletree DiskStore writes, and what Curio's
// pure-Go lib/proof/treed_build.go reproduces): every node is 32 bytes; the
// file holds level 0 (the leaves, i.e. the padded data itself) first, then
// each level above it in order, the root last — (2·leaves−1)·32 bytes in all.
// A node is SHA-256(left ‖ right) with the two most significant bits of its
// last byte cleared, so that it is a valid BLS12-381 scalar ("sha254").
//
// The staged file must be exactly sectorSize bytes of fr32-padded data (every
// 32-byte leaf a valid field element). The tree is written to a temporary file
// and renamed into place only when complete, so a failed or cancelled build
// leaves nothing behind.
func BuildTreeD(ctx context.Context, stagedPath, cacheDir string, sectorSize uint64) (commD [32]byte, err error) {
	if sectorSize < 64 || sectorSize&(sectorSize-1) != 0 {
		return commD, fmt.Errorf("tree_d: sector size %d is not a power of two of at least 64 bytes", sectorSize)
	}
	in, err := os.Open(stagedPath)
	if err != nil {
		return commD, fmt.Errorf("tree_d: staged file: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return commD, fmt.Errorf("tree_d: staged file: %w", err)
	}
	if uint64(st.Size()) != sectorSize {
		return commD, fmt.Errorf("tree_d: staged file %s has %d bytes, want exactly the sector size %d (padded data)", stagedPath, st.Size(), sectorSize)
	}

	final := filepath.Join(cacheDir, TreeDFile)
	out, err := os.CreateTemp(cacheDir, TreeDFile+".partial-*")
	if err != nil {
		return commD, fmt.Errorf("tree_d: cache dir: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()

	leaves := sectorSize / 32
	if err = out.Truncate(int64((2*leaves - 1) * 32)); err != nil {
		return commD, fmt.Errorf("tree_d: %w", err)
	}

	chunk := uint64(treeChunk)
	if sectorSize < chunk {
		chunk = sectorSize
	}
	nchunks := sectorSize / chunk
	roots := make([]byte, nchunks*32)
	if err = buildChunks(ctx, in, out, chunk, nchunks, leaves, roots); err != nil {
		return commD, err
	}

	// The levels above the chunk roots are small: finish them in memory.
	level := uint(bits.TrailingZeros64(chunk / 32))
	nodes := roots
	if err = writeLevel(out, leaves, level, 0, nodes); err != nil {
		return commD, err
	}
	for len(nodes) > 32 {
		parent := make([]byte, len(nodes)/2)
		hashLevel(parent, nodes)
		level++
		if err = writeLevel(out, leaves, level, 0, parent); err != nil {
			return commD, err
		}
		nodes = parent
	}
	copy(commD[:], nodes)

	if err = out.Sync(); err != nil {
		return commD, fmt.Errorf("tree_d: %w", err)
	}
	if err = out.Close(); err != nil {
		return commD, fmt.Errorf("tree_d: %w", err)
	}
	if err = os.Rename(out.Name(), final); err != nil {
		return commD, fmt.Errorf("tree_d: %w", err)
	}
	return commD, nil
}

// buildChunks builds the subtree of every chunk below its root, which it
// stores in roots, with one worker per cpu (GOMAXPROCS follows the
// process's cpu affinity, so a confined plugin uses exactly the cpus it was
// given). A worker reads a chunk and hashes all its levels into one buffer
// (hashChunk), or writes a hashed buffer out (writeChunk); writing comes
// first, and one worker writes at a time.
//
// Why: buffered writes to one file serialize on its inode lock, and they
// cost nearly as much cpu as the hashing (on tmpfs, 16 MiB of tree pages
// for an 8 MiB sector: 6.9 ms against 8.1 ms of hashing, measured). Workers
// each writing their own chunk spent their cores waiting for each other at
// that lock. This way the writes run back to back on one core while the
// other cores hash, and a worker with nothing to write hashes, so every core
// stays busy until the last chunk's write. Tried and measured no faster in
// runs paired with this one (8 MiB in memory): a dedicated writer goroutine
// beside a hasher per core (it gets only its share of the cores), chunks of
// 256 or 512 KiB, and writing a chunk's leaves while they are hashed, to
// shorten that last write (108 pairs).
func buildChunks(ctx context.Context, in io.ReaderAt, out io.WriterAt, chunk, nchunks, leaves uint64, roots []byte) error {
	type hashed struct {
		i   uint64
		buf []byte
	}
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		firstErr error
		next     uint64   // the next chunk to hash
		hashing  int      // chunks being hashed
		writing  bool     // a worker is writing
		queue    []hashed // hashed, waiting to be written
		free     [][]byte // buffers for chunks to hash
	)
	workers := int(min(uint64(runtime.GOMAXPROCS(0)), nchunks))
	// A buffer for each worker and two more, so that a hashed chunk is
	// always waiting for the writer; beyond that workers write rather than
	// hash, which bounds memory to (workers+2) × 2 chunks.
	for range workers + 2 {
		free = append(free, getBuffer(2*chunk))
	}
	defer func() {
		for _, b := range free {
			chunkBuffers.Put(&b)
		}
	}()
	worker := func() {
		mu.Lock()
		defer mu.Unlock()
		for {
			if firstErr == nil && ctx.Err() != nil {
				firstErr = ctx.Err()
				cond.Broadcast()
			}
			switch {
			case firstErr != nil:
				return
			case !writing && len(queue) > 0:
				h := queue[0]
				queue = queue[1:]
				writing = true
				mu.Unlock()
				err := writeChunk(out, h.buf, h.i, chunk, leaves)
				mu.Lock()
				writing = false
				free = append(free, h.buf)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				cond.Broadcast()
			case next < nchunks && len(free) > 0:
				i, buf := next, free[len(free)-1]
				next++
				free = free[:len(free)-1]
				hashing++
				mu.Unlock()
				err := hashChunk(in, buf, i, chunk, roots[i*32:i*32+32])
				mu.Lock()
				hashing--
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					queue = append(queue, hashed{i, buf})
				}
				cond.Broadcast()
			case next == nchunks && hashing == 0 && len(queue) == 0:
				// What is left is being written by another worker.
				return
			default:
				// Every way out of here ends in a Broadcast: a write or a
				// hash in progress, or an error.
				cond.Wait()
			}
		}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(worker)
	}
	wg.Wait()
	return firstErr
}

// chunkBuffers keeps buildChunks' buffers from one tree to the next: fresh
// ones cost a page fault per 4 KiB and their zeroing, about a tenth of an
// 8 MiB tree's cpu when every call allocated them.
var chunkBuffers sync.Pool

func getBuffer(n uint64) []byte {
	if b, ok := chunkBuffers.Get().(*[]byte); ok && uint64(cap(*b)) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

// hashChunk reads chunk i of the leaves into buf and hashes every level of
// its subtree after it in buf (level 0, then level 1 of half the size, …,
// the chunk root last), and copies the root into root.
func hashChunk(in io.ReaderAt, buf []byte, i, chunk uint64, root []byte) error {
	off := int64(i * chunk)
	cur := buf[:chunk]
	if _, err := in.ReadAt(cur, off); err != nil {
		return fmt.Errorf("tree_d: reading staged file at %d: %w", off, err)
	}
	for j := 0; j < len(cur); j += 32 {
		if cur[j+31]&0xc0 != 0 {
			return fmt.Errorf("tree_d: staged data is not fr32-padded: the 32 bytes at offset %d are not a valid field element (pad the data with fr32 before sealing)", off+int64(j))
		}
	}
	pos := chunk
	for len(cur) > 32 {
		parent := buf[pos : pos+uint64(len(cur))/2]
		hashLevel(parent, cur)
		pos += uint64(len(parent))
		cur = parent
	}
	copy(root, cur)
	return nil
}

// writeChunk writes what hashChunk left in buf: level 0 and every level of
// the chunk's subtree but its root (the caller writes the roots with the
// levels above them), each where it lies in the file, and starts their
// writeback.
func writeChunk(out io.WriterAt, buf []byte, i, chunk, leaves uint64) error {
	off := int64(i * chunk)
	if _, err := out.WriteAt(buf[:chunk], off); err != nil {
		return fmt.Errorf("tree_d: writing tree: %w", err)
	}
	startWriteback(out, off, int64(chunk))
	pos := chunk
	for level, n := uint(1), chunk/2; n > 32; level, n = level+1, n/2 {
		idx := i * (chunk >> level) / 32
		if err := writeLevel(out, leaves, level, idx, buf[pos:pos+n]); err != nil {
			return err
		}
		startWriteback(out, levelOffset(leaves, level, idx), int64(n))
		pos += n
	}
	return nil
}

// hashLevel fills parent with the sha254 of each pair of children.
//
// gohashtree (Prysm's merkle hasher) hashes 64-byte nodes with SHA-NI or
// AVX2/AVX-512 and a precomputed schedule for the constant padding block:
// about 5× crypto/sha256 called per node, whose Reset/Write/Sum and
// padding cost more than the compression itself at this size. Its output
// is plain SHA-256 (treed_test.go checks it against crypto/sha256).
func hashLevel(parent, children []byte) {
	if err := gohashtree.HashByteSlice(parent, children); err != nil {
		// Only for lengths that are not a whole number of 64-byte pairs,
		// which every caller here rules out.
		panic("tree_d: " + err.Error())
	}
	for k := 31; k < len(parent); k += 32 {
		parent[k] &= 0x3f
	}
}

// writeLevel writes nodes at position idx (in nodes) of the given level.
func writeLevel(out io.WriterAt, leaves uint64, level uint, idx uint64, nodes []byte) error {
	if _, err := out.WriteAt(nodes, levelOffset(leaves, level, idx)); err != nil {
		return fmt.Errorf("tree_d: writing tree level %d: %w", level, err)
	}
	return nil
}

// levelOffset is the file offset of node idx of a level: level k starts
// after the 2N - 2N/2^k nodes of the levels below it.
func levelOffset(leaves uint64, level uint, idx uint64) int64 {
	start := 2*leaves - 2*(leaves>>level)
	return int64((start + idx) * 32)
}

// startWriteback asks the kernel to begin writing a range of the tree to
// disk now, without waiting (sync_file_range SYNC_FILE_RANGE_WRITE): the
// tree is twice the sector size, and left to the final fsync its writeback
// would be a serial pass after all the hashing. Writeback then overlaps
// the hashing of the next chunks, and the fsync only waits for the tail.
// A filesystem that does not support it (tmpfs ignores it) loses nothing:
// the fsync still makes the tree durable.
func startWriteback(w io.WriterAt, off, n int64) {
	if f, ok := w.(*os.File); ok {
		_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
}
