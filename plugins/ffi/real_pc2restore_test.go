//go:build cgo && ffi

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestRealPC2RetryAfterHalfEncodedSealedFile: the sealed file PC1 leaves is
// the staged data, and a PC2 retried after one that stopped half way (here:
// the marker of an unfinished PC2, and the sealed file scribbled over)
// seals the same replica as a clean run — the same comm_r — and C1, which
// checks its vanilla proofs (where damocles#837 showed "Invalid vanilla
// proof"), succeeds.
func TestRealPC2RetryAfterHalfEncodedSealedFile(t *testing.T) {
	st := realStages(t)
	ctx := context.Background()
	id := sector2K(51)
	tk, sd := randomBytes(t), randomBytes(t)
	data := randomBytes(t)
	data = bytes.Repeat(data, 2048/32)
	for i := 31; i < len(data); i += 32 {
		data[i] &= 0x3f // fr32-valid leaves
	}
	var out [2]string
	for i, interrupted := range []bool{false, true} {
		s := newSector(t)
		if err := os.WriteFile(s.staged, data, 0o644); err != nil {
			t.Fatal(err)
		}
		td, err := st.TreeD(ctx, &sealv1.TreeDRequest{Sector: id, CachePath: s.cache, StagedPath: s.staged})
		if err != nil {
			t.Fatal(err)
		}
		pieces := []*sealv1.PieceInfo{{Size: 2048, PieceCid: td.GetUnsealedCid()}}
		pc1, err := st.PC1(ctx, &sealv1.PC1Request{Sector: id, CachePath: s.cache, StagedPath: s.staged, SealedPath: s.sealed, Ticket: tk, Pieces: pieces})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(s.sealed); !bytes.Equal(got, data) {
			t.Fatal("after PC1 the sealed file is not the staged data: restoring it from the staged file would be wrong")
		}
		if interrupted {
			half := append(bytes.Repeat([]byte{0x11}, 1024), data[1024:]...)
			os.WriteFile(s.sealed, half, 0o644)
			os.WriteFile(filepath.Join(s.cache, pc2RunningFile), nil, 0o644)
			os.WriteFile(filepath.Join(s.cache, "p_aux"), make([]byte, 64), 0o644)
		}
		pc2, err := st.PC2(ctx, &sealv1.PC2Request{Sector: id, Phase1Output: pc1.GetPhase1Output(), CachePath: s.cache, SealedPath: s.sealed})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.C1(ctx, &sealv1.C1Request{Sector: id, SealedCid: pc2.GetSealedCid(), UnsealedCid: pc2.GetUnsealedCid(),
			CachePath: s.cache, SealedPath: s.sealed, Ticket: tk, Seed: sd, Pieces: pieces}); err != nil {
			t.Fatalf("c1 after pc2 (interrupted before: %v): %v", interrupted, err)
		}
		out[i] = pc2.GetSealedCid()
	}
	if out[0] != out[1] {
		t.Fatalf("comm_r clean %s, after the restored retry %s", out[0], out[1])
	}
}
