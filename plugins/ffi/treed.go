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

	// Hash the chunks in parallel. GOMAXPROCS follows the process's cpu
	// affinity, so a confined plugin uses exactly the cpus it was given.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan uint64)
	)
	fail := func(e error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = e
		}
		mu.Unlock()
	}
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			scratch := make([]byte, chunk)
			for i := range next {
				if e := hashChunk(in, out, buf, scratch, i, chunk, leaves, roots[i*32:i*32+32]); e != nil {
					fail(e)
				}
			}
		}()
	}
feed:
	for i := uint64(0); i < nchunks; i++ {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		if e := ctx.Err(); e != nil {
			fail(e)
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			fail(ctx.Err())
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return commD, firstErr
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

// hashChunk reads chunk i of the leaves, copies it to level 0 of the tree,
// and writes every level of its subtree below the chunk root, which it
// stores in root.
func hashChunk(in io.ReaderAt, out io.WriterAt, buf, scratch []byte, i, chunk, leaves uint64, root []byte) error {
	off := int64(i * chunk)
	if _, err := in.ReadAt(buf, off); err != nil {
		return fmt.Errorf("tree_d: reading staged file at %d: %w", off, err)
	}
	for j := 0; j < len(buf); j += 32 {
		if buf[j+31]&0xc0 != 0 {
			return fmt.Errorf("tree_d: staged data is not fr32-padded: the 32 bytes at offset %d are not a valid field element (pad the data with fr32 before sealing)", off+int64(j))
		}
	}
	if _, err := out.WriteAt(buf, off); err != nil {
		return fmt.Errorf("tree_d: writing tree: %w", err)
	}
	startWriteback(out, off, int64(len(buf)))
	// Alternate between the two buffers: once a level is hashed, the one
	// below it is no longer needed.
	cur, other := buf, scratch
	level := uint(0)
	for len(cur) > 32 {
		parent := other[:len(cur)/2]
		hashLevel(parent, cur)
		level++
		// The chunk root itself is written with the other roots by the caller.
		if len(parent) > 32 {
			idx := i * (chunk >> level) / 32
			if err := writeLevel(out, leaves, level, idx, parent); err != nil {
				return err
			}
			startWriteback(out, levelOffset(leaves, level, idx), int64(len(parent)))
		}
		other, cur = cur, parent
	}
	nodes := cur
	copy(root, nodes)
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
