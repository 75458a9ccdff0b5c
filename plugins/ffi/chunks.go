package main

import (
	"encoding/binary"
	"fmt"
)

// Vanilla proofs are a list of byte strings (one per partition, each up to
// megabytes for large sectors). Between the plugin and a call's child they
// cross as one file: a uvarint count, then each string as a uvarint length
// and its bytes. JSON would base64 them, a third more to write and read.

func encodeChunks(chunks [][]byte) []byte {
	n := binary.MaxVarintLen64
	for _, c := range chunks {
		n += binary.MaxVarintLen64 + len(c)
	}
	out := make([]byte, 0, n)
	out = binary.AppendUvarint(out, uint64(len(chunks)))
	for _, c := range chunks {
		out = binary.AppendUvarint(out, uint64(len(c)))
		out = append(out, c...)
	}
	return out
}

// decodeChunks reads what encodeChunks wrote; a count or length that runs
// past the end, or bytes left over, are errors naming the offset.
func decodeChunks(b []byte) ([][]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("byte 0: no chunk count")
	}
	off := n
	// Each chunk takes at least one byte (its length), which bounds the
	// allocation by the input instead of by a forged count.
	if count > uint64(len(b)-off) {
		return nil, fmt.Errorf("byte 0: %d chunks announced, at most %d bytes follow", count, len(b)-off)
	}
	out := make([][]byte, 0, count)
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return nil, fmt.Errorf("byte %d: chunk %d has no length", off, i)
		}
		off += n
		if l > uint64(len(b)-off) {
			return nil, fmt.Errorf("byte %d: chunk %d is %d bytes, only %d left", off, i, l, len(b)-off)
		}
		out = append(out, b[off:off+int(l)])
		off += int(l)
	}
	if off != len(b) {
		return nil, fmt.Errorf("byte %d: %d bytes after the last chunk", off, len(b)-off)
	}
	return out, nil
}
