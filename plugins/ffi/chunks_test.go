package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestChunksRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks [][]byte
	}{
		{"none", [][]byte{}},
		{"one empty", [][]byte{{}}},
		{"several", [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{7}, 300)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeChunks(encodeChunks(tc.chunks))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.chunks) {
				t.Fatalf("%d chunks, want %d", len(got), len(tc.chunks))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.chunks[i]) {
					t.Fatalf("chunk %d = %x, want %x", i, got[i], tc.chunks[i])
				}
			}
		})
	}
}

func TestChunksRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "byte 0: no chunk count"},
		{"count past end", []byte{5, 0}, "5 chunks announced"},
		{"length past end", []byte{1, 9, 1, 2}, "chunk 0 is 9 bytes, only 2 left"},
		{"trailing", []byte{1, 1, 'x', 'y'}, "byte 3: 1 bytes after the last chunk"},
		{"truncated length", []byte{1, 0x80}, "chunk 0 has no length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeChunks(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzChunks(f *testing.F) {
	f.Add(encodeChunks([][]byte{[]byte("vanilla"), {}, []byte{1, 2, 3}}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		chunks, err := decodeChunks(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes (the encoding is
		// canonical for minimal uvarints; a non-minimal one differs).
		again, err := decodeChunks(encodeChunks(chunks))
		if err != nil || len(again) != len(chunks) {
			t.Fatalf("re-decoding: %v (%d chunks, want %d)", err, len(again), len(chunks))
		}
		for i := range again {
			if !bytes.Equal(again[i], chunks[i]) {
				t.Fatalf("chunk %d changed", i)
			}
		}
	})
}
