package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The real zero-piece commitment: 2 KiB of zeros is the known CC comm_d.
func TestZeroCommitment(t *testing.T) {
	if got := unsealedCID(zeroCommitment(2048)); got != zeroPiece2KiB {
		t.Fatalf("zero commitment of 2 KiB = %s, want %s", got, zeroPiece2KiB)
	}
	if zeroCommitment(128) == zeroCommitment(256) {
		t.Fatal("zero commitments of different sizes are equal")
	}
}

func TestLayPieces(t *testing.T) {
	p := func(sizes ...uint64) []*sealv1.PieceFile {
		var out []*sealv1.PieceFile
		for _, s := range sizes {
			out = append(out, &sealv1.PieceFile{Size: s})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		pieces []*sealv1.PieceFile
		want   string // offset:size, * for a request piece
		err    string
	}{
		{"none: one zero piece", nil, "0:2048", ""},
		{"one whole", p(2048), "0:2048*", ""},
		{"half", p(1024), "0:1024* 1024:1024", ""},
		{"aligned after a small one", p(256, 1024), "0:256* 256:256 512:512 1024:1024*", ""},
		{"two quarters then fill", p(512, 512), "0:512* 512:512* 1024:1024", ""},
		{"too big", p(4096), "", "does not fit"},
		{"does not fit after alignment", p(1024, 2048), "", "pieces[1] (2048 bytes) does not fit"},
		{"not a power of two", p(1000), "", "not a power of two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := layPieces(2048, tc.pieces)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, l := range got {
				mark := ""
				if l.piece != nil {
					mark = "*"
				}
				s = append(s, fmt.Sprintf("%d:%d%s", l.offset, l.size, mark))
			}
			if strings.Join(s, " ") != tc.want {
				t.Errorf("layout %s, want %s", strings.Join(s, " "), tc.want)
			}
		})
	}
}

// FuzzLayPieces: any piece list is laid out with each piece at a multiple
// of its size, in order, filling the sector exactly, or refused.
func FuzzLayPieces(f *testing.F) {
	f.Add([]byte{10, 8})
	f.Add([]byte{11})
	f.Add([]byte{7, 10, 7, 9})
	f.Add([]byte{0, 64})
	f.Fuzz(func(t *testing.T, exps []byte) {
		var ps []*sealv1.PieceFile
		for _, e := range exps {
			ps = append(ps, &sealv1.PieceFile{Size: 1 << (e % 64)})
		}
		got, err := layPieces(2048, ps)
		if err != nil {
			return
		}
		var off uint64
		next := 0
		for _, l := range got {
			if l.offset != off || l.size == 0 || l.offset%l.size != 0 {
				t.Fatalf("piece at %d of %d after %d", l.offset, l.size, off)
			}
			if l.piece != nil {
				if l.piece != ps[next] {
					t.Fatalf("request pieces out of order")
				}
				next++
			}
			off += l.size
		}
		if off != 2048 || next != len(ps) {
			t.Fatalf("laid out %d bytes and %d of %d pieces", off, next, len(ps))
		}
	})
}

type laterFiles struct{ dir, cache, key, snap, snapCache, staged, piece string }

func laterLayout(t *testing.T) laterFiles {
	d := t.TempDir()
	f := laterFiles{d, filepath.Join(d, "cache"), filepath.Join(d, "key"), filepath.Join(d, "snap"), filepath.Join(d, "snap-cache"),
		filepath.Join(d, "staged"), filepath.Join(d, "piece")}
	for _, dir := range []string{f.cache, f.snapCache} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	piece := bytes.Repeat([]byte{0xab}, 1016)
	for path, b := range map[string][]byte{f.key: make([]byte, 2048), f.snap: make([]byte, 2048), f.staged: make([]byte, 2032), f.piece: piece} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestLaterStages runs every stage besides sealing on the mock: outputs
// deterministic, FAKE where they are proofs, consistent where the kit
// checks them, and bad inputs refused.
func TestLaterStages(t *testing.T) {
	m := &mock{w: newWorker(Knobs{})}
	ctx := context.Background()
	f := laterLayout(t)
	oldR := sealedCID([32]byte{1})

	enc := &sealv1.SnapEncodeRequest{Sector: sector(5), RegisteredUpdateProof: 0, NewReplicaPath: f.snap, NewCachePath: f.snapCache,
		SectorKeyPath: f.key, SectorKeyCachePath: f.cache, StagedPath: f.staged, Pieces: pieces()}
	e1, err := m.SnapEncode(ctx, enc)
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := m.SnapEncode(ctx, enc)
	if e1.GetSealedCid() != e2.GetSealedCid() || e1.GetUnsealedCid() != zeroPiece2KiB {
		t.Errorf("snap_encode %v then %v; want the same, comm_d the zero piece's", e1, e2)
	}
	prove := &sealv1.SnapProveRequest{Sector: sector(5), OldSealedCid: oldR, NewSealedCid: e1.GetSealedCid(), NewUnsealedCid: e1.GetUnsealedCid(),
		NewReplicaPath: f.snap, NewCachePath: f.snapCache, SectorKeyPath: f.key, SectorKeyCachePath: f.cache}
	sp, err := m.SnapProve(ctx, prove)
	if err != nil || len(sp.GetProof()) != 192 || sp.GetVerified() || !strings.Contains(sp.GetVerification(), "FAKE") {
		t.Errorf("snap_prove = %v, %v; want a 192-byte FAKE proof, unverified", sp, err)
	}

	postSector := func() []*sealv1.PoStSector {
		return []*sealv1.PoStSector{{RegisteredSealProof: 5, SectorNumber: 42, SealedCid: oldR, CachePath: f.cache, SealedPath: f.key},
			{RegisteredSealProof: 5, SectorNumber: 43, SealedCid: oldR, CachePath: f.cache, SealedPath: f.key},
			{RegisteredSealProof: 5, SectorNumber: 44, SealedCid: oldR, CachePath: f.cache, SealedPath: f.key}}
	}
	rnd := make([]byte, 32)
	wp, err := m.WindowPoSt(ctx, &sealv1.WindowPoStRequest{MinerId: 1000, RegisteredPostProof: 10, Randomness: rnd, Sectors: postSector()})
	if err != nil || len(wp.GetProofs()) != 2 || len(wp.GetFaultySectors()) != 0 {
		// 3 sectors at 2 a partition for 2 KiB: two partitions.
		t.Errorf("window_post = %v, %v; want 2 proofs", wp, err)
	}
	faulty := postSector()
	faulty[1].CachePath = filepath.Join(f.dir, "gone")
	wp, err = m.WindowPoSt(ctx, &sealv1.WindowPoStRequest{MinerId: 1000, RegisteredPostProof: 10, Randomness: rnd, Sectors: faulty})
	if err != nil || len(wp.GetProofs()) != 0 || fmt.Sprint(wp.GetFaultySectors()) != "[43]" {
		t.Errorf("window_post with sector 43's cache gone = %v, %v; want faulty [43], no proofs", wp, err)
	}
	wn, err := m.WinningPoSt(ctx, &sealv1.WinningPoStRequest{MinerId: 1000, RegisteredPostProof: 0, Randomness: rnd, Sectors: postSector()[:1]})
	if err != nil || len(wn.GetProofs()) != 1 || len(wn.GetProofs()[0].GetProof()) != 192 {
		t.Errorf("winning_post = %v, %v", wn, err)
	}

	out := filepath.Join(f.dir, "unsealed")
	us, err := m.Unseal(ctx, &sealv1.UnsealRequest{Sector: sector(5), CachePath: f.cache, SealedPath: f.key, UnsealedPath: out,
		Ticket: make([]byte, 32), UnsealedCid: zeroPiece2KiB, Offset: 16, NumBytes: 1000})
	if st, serr := os.Stat(out); err != nil || us.GetNumBytes() != 1000 || serr != nil || st.Size() != 1000 {
		t.Errorf("unseal = %v, %v; file %v", us, err, serr)
	}

	staged := filepath.Join(f.dir, "add-staged")
	ap, err := m.AddPieces(ctx, &sealv1.AddPiecesRequest{Sector: sector(5), StagedPath: staged,
		Pieces: []*sealv1.PieceFile{{Path: f.piece, Size: 1024}}})
	if err != nil || len(ap.GetPieces()) != 2 || ap.GetPieces()[1].GetPieceCid() != unsealedCID(zeroCommitment(1024)) {
		t.Fatalf("add_pieces = %v, %v; want the piece and a 1 KiB zero piece", ap, err)
	}
	b, _ := os.ReadFile(staged)
	if len(b) != 2048 || !bytes.Equal(b[:1024], fr32Pad(bytes.Repeat([]byte{0xab}, 1016))) || !bytes.Equal(b[1024:], make([]byte, 1024)) {
		t.Errorf("staged file: %d bytes, not the piece fr32-padded then zeros (the sector size)", len(b))
	}

	for _, bad := range []struct {
		name string
		call func() error
		want string
	}{
		{"snap_encode update proof of another size", func() error {
			r := proto.Clone(enc).(*sealv1.SnapEncodeRequest)
			r.RegisteredUpdateProof = 3
			_, err := m.SnapEncode(ctx, r)
			return err
		}, "is for 34359738368-byte sectors"},
		{"snap_prove same comm_r", func() error {
			r := proto.Clone(prove).(*sealv1.SnapProveRequest)
			r.NewSealedCid = oldR
			_, err := m.SnapProve(ctx, r)
			return err
		}, "an update changes comm_r"},
		{"snap_prove vanilla proofs of another count", func() error {
			r := proto.Clone(prove).(*sealv1.SnapProveRequest)
			r.VanillaProofs = [][]byte{{1}, {2}}
			_, err := m.SnapProve(ctx, r)
			return err
		}, "2 vanilla_proofs, want one per partition: 1"},
		{"window_post winning type", func() error {
			_, err := m.WindowPoSt(ctx, &sealv1.WindowPoStRequest{RegisteredPostProof: 0, Randomness: rnd, Sectors: postSector()})
			return err
		}, "not a window PoSt proof"},
		{"window_post sector twice", func() error {
			s := postSector()
			s[1].SectorNumber = 42
			_, err := m.WindowPoSt(ctx, &sealv1.WindowPoStRequest{RegisteredPostProof: 10, Randomness: rnd, Sectors: s})
			return err
		}, "sector 42 is listed twice"},
		{"winning_post faulty", func() error {
			_, err := m.WinningPoSt(ctx, &sealv1.WinningPoStRequest{RegisteredPostProof: 0, Randomness: rnd, Sectors: faulty})
			return err
		}, "sectors [43] have no readable cache"},
		{"unseal past the end", func() error {
			_, err := m.Unseal(ctx, &sealv1.UnsealRequest{Sector: sector(5), CachePath: f.cache, SealedPath: f.key, UnsealedPath: out,
				Ticket: make([]byte, 32), UnsealedCid: zeroPiece2KiB, Offset: 1000, NumBytes: 1100})
			return err
		}, "inside the sector's 2032 unpadded bytes"},
		{"add_pieces short file", func() error {
			_, err := m.AddPieces(ctx, &sealv1.AddPiecesRequest{Sector: sector(5), StagedPath: staged,
				Pieces: []*sealv1.PieceFile{{Path: f.piece, Size: 2048}}})
			return err
		}, "holds 1016 bytes, want a file of the piece's 2032"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if err := bad.call(); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("err = %v, want %q", err, bad.want)
			}
		})
	}
}

// TestFr32Pad checks the mock's fr32 padding bit by bit against the rule
// (bit i of each 127 bytes goes to bit i + 2*(i/254) of its 128), and on
// all ones, which pads to field elements of 31 0xff bytes and 0x3f.
func TestFr32Pad(t *testing.T) {
	raw := make([]byte, 127*3)
	for i := range raw {
		raw[i] = byte(i*131 + 7)
	}
	got := fr32Pad(raw)
	if len(got) != 128*3 {
		t.Fatalf("%d bytes from %d, want %d", len(got), len(raw), 128*3)
	}
	for c := range 3 {
		for i := range 1016 {
			in := raw[c*127+i/8] >> (i % 8) & 1
			j := i + 2*(i/254)
			if out := got[c*128+j/8] >> (j % 8) & 1; out != in {
				t.Fatalf("chunk %d: input bit %d is %d, output bit %d is %d", c, i, in, j, out)
			}
		}
		for q := range 4 {
			if top := got[c*128+32*q+31] & 0xc0; top != 0 {
				t.Fatalf("chunk %d element %d: top bits %#x, want 0", c, q, top)
			}
		}
	}
	ones := fr32Pad(bytes.Repeat([]byte{0xff}, 127))
	want := append(bytes.Repeat([]byte{0xff}, 31), 0x3f)
	if !bytes.Equal(ones, bytes.Repeat(want, 4)) {
		t.Errorf("all ones padded to %x", ones)
	}
}
