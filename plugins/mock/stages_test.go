package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

const zeroPiece2KiB = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"

type sectorFiles struct{ cache, staged, sealed string }

func layout(t *testing.T) sectorFiles {
	t.Helper()
	d := t.TempDir()
	f := sectorFiles{filepath.Join(d, "cache"), filepath.Join(d, "staged"), filepath.Join(d, "sealed")}
	if err := os.Mkdir(f.cache, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.staged, f.sealed} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func sector(pt int64) *sealv1.Sector {
	return &sealv1.Sector{RegisteredSealProof: pt, MinerId: 1000, SectorNumber: 42}
}

func pieces() []*sealv1.PieceInfo { return []*sealv1.PieceInfo{{Size: 2048, PieceCid: zeroPiece2KiB}} }

func rand32(b byte) []byte {
	r := make([]byte, 32)
	for i := range r {
		r[i] = b + byte(i)
	}
	return r
}

// pipeline runs the five stages in order, each fed by the last.
func pipeline(t *testing.T, m *mock, f sectorFiles, ticket []byte) (string, *sealv1.PC2Response, []byte) {
	t.Helper()
	ctx := context.Background()
	td, err := m.TreeD(ctx, &sealv1.TreeDRequest{Sector: sector(5), CachePath: f.cache, StagedPath: f.staged, Pieces: pieces()})
	if err != nil {
		t.Fatal(err)
	}
	pc1, err := m.PC1(ctx, &sealv1.PC1Request{Sector: sector(5), CachePath: f.cache, StagedPath: f.staged, SealedPath: f.sealed, Ticket: ticket, Pieces: pieces()})
	if err != nil {
		t.Fatal(err)
	}
	pc2, err := m.PC2(ctx, &sealv1.PC2Request{Sector: sector(5), Phase1Output: pc1.GetPhase1Output(), CachePath: f.cache, SealedPath: f.sealed})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := m.C1(ctx, &sealv1.C1Request{Sector: sector(5), SealedCid: pc2.GetSealedCid(), UnsealedCid: pc2.GetUnsealedCid(),
		CachePath: f.cache, SealedPath: f.sealed, Ticket: ticket, Seed: rand32(9), Pieces: pieces()})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := m.C2(ctx, &sealv1.C2Request{Sector: sector(5), Phase1Output: c1.GetPhase1Output()})
	if err != nil {
		t.Fatal(err)
	}
	return td.GetUnsealedCid(), pc2, c2.GetProof()
}

func TestPipelineIsDeterministicAndConsistent(t *testing.T) {
	m := &mock{w: newWorker(Knobs{})}
	f := layout(t)
	commD, pc2, proof := pipeline(t, m, f, rand32(1))
	if commD != pc2.GetUnsealedCid() {
		t.Errorf("tree_d's comm_d %s differs from pc2's %s", commD, pc2.GetUnsealedCid())
	}
	if !strings.HasPrefix(commD, "baga6ea4seaq") || !strings.HasPrefix(pc2.GetSealedCid(), "bagboea4b5abc") {
		t.Errorf("CIDs %s, %s lack the prefixes of unsealed and sealed commitments", commD, pc2.GetSealedCid())
	}
	commD2, pc2b, proof2 := pipeline(t, m, layout(t), rand32(1))
	if commD2 != commD || pc2b.GetSealedCid() != pc2.GetSealedCid() || string(proof2) != string(proof) {
		t.Error("the same inputs gave different outputs")
	}
	_, pc2c, proof3 := pipeline(t, m, layout(t), rand32(2))
	if pc2c.GetSealedCid() == pc2.GetSealedCid() || string(proof3) == string(proof) {
		t.Error("another ticket gave the same comm_r or proof")
	}
}

func TestProofSizes(t *testing.T) {
	m := &mock{w: newWorker(Knobs{})}
	for pt, want := range map[int64]int{0: 192, 1: 192, 2: 192, 3: 1920, 4: 1920, 5: 192, 8: 1920, 9: 1920, 10: 192, 13: 1920} {
		resp, err := m.C2(context.Background(), &sealv1.C2Request{Sector: sector(pt), Phase1Output: []byte("c1")})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetProof()) != want {
			t.Errorf("proof type %d: %d bytes, want %d", pt, len(resp.GetProof()), want)
		}
		// A fake proof must never claim to be verified, and must say so.
		if resp.GetVerified() || !strings.Contains(resp.GetVerification(), "FAKE") {
			t.Errorf("proof type %d: verified %v, verification %q; want false and a FAKE note", pt, resp.GetVerified(), resp.GetVerification())
		}
	}
}

func TestRejectsBadInput(t *testing.T) {
	m := &mock{w: newWorker(Knobs{})}
	f := layout(t)
	ctx := context.Background()
	good := func() *sealv1.PC1Request {
		return &sealv1.PC1Request{Sector: sector(5), CachePath: f.cache, StagedPath: f.staged, SealedPath: f.sealed, Ticket: rand32(1), Pieces: pieces()}
	}
	for _, tc := range []struct {
		name   string
		change func(*sealv1.PC1Request)
		want   string
	}{
		{"no sector", func(r *sealv1.PC1Request) { r.Sector = nil }, "no sector"},
		{"NI-PoRep", func(r *sealv1.PC1Request) { r.Sector.RegisteredSealProof = 17 }, "not a seal proof this mock knows"},
		{"negative proof", func(r *sealv1.PC1Request) { r.Sector.RegisteredSealProof = -1 }, "not a seal proof"},
		{"short ticket", func(r *sealv1.PC1Request) { r.Ticket = r.Ticket[:31] }, "ticket is 31 bytes, want 32"},
		{"pieces too small", func(r *sealv1.PC1Request) { r.Pieces[0].Size = 1024 }, "add up to 1024 bytes, want exactly"},
		{"piece size not a power of two", func(r *sealv1.PC1Request) { r.Pieces[0].Size = 2000 }, "not a power of two"},
		{"no pieces", func(r *sealv1.PC1Request) { r.Pieces = nil }, "no pieces"},
		{"piece cid of the sealed kind", func(r *sealv1.PC1Request) { r.Pieces[0].PieceCid = sealedCID([32]byte{}) }, "piece 0 piece_cid"},
		{"sealed file missing", func(r *sealv1.PC1Request) { r.SealedPath += ".missing" }, "lotus creates it empty"},
		{"cache is a file", func(r *sealv1.PC1Request) { r.CachePath = f.staged }, "is not a directory"},
		{"staged is a folder", func(r *sealv1.PC1Request) { r.StagedPath = f.cache }, "is a directory, want a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := good()
			tc.change(req)
			_, err := m.PC1(ctx, req)
			var se *sdk.Error
			if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, tc.want) {
				t.Fatalf("PC1 error = %v, want a non-retryable sdk.Error containing %q", err, tc.want)
			}
		})
	}
	// C1 must not take comm_d for comm_r.
	_, err := m.C1(ctx, &sealv1.C1Request{Sector: sector(5), SealedCid: zeroPiece2KiB, UnsealedCid: zeroPiece2KiB,
		CachePath: f.cache, SealedPath: f.sealed, Ticket: rand32(1), Seed: rand32(2), Pieces: pieces()})
	if err == nil || !strings.Contains(err.Error(), "sealed_cid") {
		t.Errorf("C1 with an unsealed CID as sealed_cid: %v, want an error naming sealed_cid", err)
	}
	if _, err := m.PC2(ctx, &sealv1.PC2Request{Sector: sector(5), Phase1Output: []byte("{}"), CachePath: f.cache, SealedPath: f.sealed}); err == nil {
		t.Error("PC2 accepted a phase1_output without comm_d")
	}
}

func TestOutputSize(t *testing.T) {
	m := &mock{w: newWorker(Knobs{OutputSize: 1 << 20})}
	f := layout(t)
	resp, err := m.PC1(context.Background(), &sealv1.PC1Request{Sector: sector(5), CachePath: f.cache, StagedPath: f.staged,
		SealedPath: f.sealed, Ticket: rand32(1), Pieces: pieces()})
	if err != nil {
		t.Fatal(err)
	}
	var out pc1Output
	if n := len(resp.GetPhase1Output()); n < 1<<20 || n > 1<<20+64 {
		t.Errorf("PC1 output is %d bytes, want just over 1 MiB", n)
	}
	if err := json.Unmarshal(resp.GetPhase1Output(), &out); err != nil || len(out.CommD) != 32 || !strings.Contains(out.Mock, "FAKE") {
		t.Errorf("padded PC1 output is not the mock's JSON: %v", err)
	}
}

func TestWorker(t *testing.T) {
	t.Run("fail rate 1 fails retryably after the duration", func(t *testing.T) {
		w := newWorker(Knobs{FailRate: 1, Duration: map[string]time.Duration{"pc1": 50 * time.Millisecond}})
		start := time.Now()
		err := w.do(context.Background(), "pc1")
		if !sdk.IsRetryable(err) || time.Since(start) < 50*time.Millisecond {
			t.Fatalf("do = %v after %v, want a retryable error after 50ms", err, time.Since(start))
		}
	})
	t.Run("cancel returns at once", func(t *testing.T) {
		w := newWorker(Knobs{Duration: map[string]time.Duration{"c2": time.Hour}, BusyThreads: 1, Memory: 8 << 20})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := w.do(ctx, "c2"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("do = %v, want the context's error", err)
		}
	})
	t.Run("crash halfway", func(t *testing.T) {
		w := newWorker(Knobs{CrashRate: 1, CrashMode: "kill", Duration: map[string]time.Duration{"pc2": 100 * time.Millisecond}})
		var mode string
		var at time.Duration
		start := time.Now()
		w.exit = func(m string) { mode, at = m, time.Since(start) }
		err := w.do(context.Background(), "pc2")
		if mode != "kill" || at < 50*time.Millisecond || at > 90*time.Millisecond || err == nil {
			t.Fatalf("crash mode %q at %v (err %v), want kill at ~50ms", mode, at, err)
		}
	})
	t.Run("seeded draws repeat", func(t *testing.T) {
		a, b := newWorker(Knobs{FailRate: 0.5, Seed: 7}), newWorker(Knobs{FailRate: 0.5, Seed: 7})
		for range 100 {
			fa, _ := a.draw()
			fb, _ := b.draw()
			if fa != fb {
				t.Fatal("two workers with seed 7 drew differently")
			}
		}
	})
	t.Run("memory is resident", func(t *testing.T) {
		mem, err := hold(16 << 20)
		if err != nil {
			t.Fatal(err)
		}
		defer unmap(mem)
		for i := 0; i < len(mem); i += os.Getpagesize() {
			if mem[i] != 1 {
				t.Fatalf("page at %d not touched", i)
			}
		}
	})
}

// TestTreeDPiecesOptional: damocles' tree_d task names no pieces, so, as
// in plugins/ffi, tree_d checks pieces only when they are given.
func TestTreeDPiecesOptional(t *testing.T) {
	m := &mock{w: newWorker(Knobs{})}
	f := layout(t)
	if _, err := m.TreeD(context.Background(), &sealv1.TreeDRequest{Sector: sector(5), CachePath: f.cache, StagedPath: f.staged}); err != nil {
		t.Errorf("tree_d without pieces: %v", err)
	}
	bad := []*sealv1.PieceInfo{{Size: 1024, PieceCid: zeroPiece2KiB}}
	if _, err := m.TreeD(context.Background(), &sealv1.TreeDRequest{Sector: sector(5), CachePath: f.cache, StagedPath: f.staged, Pieces: bad}); err == nil {
		t.Error("tree_d took pieces that do not fill the sector")
	}
}
