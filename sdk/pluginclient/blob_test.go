package pluginclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestBlobRoundTrip moves large outputs plugin to host (c1) and back host
// to plugin (pc2) through a real plugin. 300 MiB is over
// sdk.MaxMessageSize, so only the file path can carry it: it proves the
// fast path is taken, not just that the bytes arrive.
func TestBlobRoundTrip(t *testing.T) {
	dir := t.TempDir()
	log, logs := testLogger(t, hclog.Debug)
	c := start(t, "all", pluginclient.Config{BlobDir: dir, Logger: log})
	if c.BlobDir() != dir {
		t.Fatalf("BlobDir() = %q, want %q: the sdk plugin should accept blobs", c.BlobDir(), dir)
	}
	for _, size := range []int{64 << 20, 200 << 20, 300 << 20} {
		t.Run(fmt.Sprintf("%dMiB", size>>20), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			r1, err := c.C1(ctx, &sealv1.C1Request{Sector: sector(2001), Seed: binary.BigEndian.AppendUint64(nil, uint64(size))})
			if err != nil {
				t.Fatalf("c1: %v", err)
			}
			d1 := time.Since(start)
			want := pattern(size)
			if !bytes.Equal(r1.GetPhase1Output(), want) {
				t.Fatalf("c1: phase1_output of %d bytes differs from the plugin's pattern of %d", len(r1.GetPhase1Output()), size)
			}
			if r1.GetPhase1OutputBlob() != nil {
				t.Errorf("c1: the response still carries its blob reference %v; callers must see plain bytes", r1.GetPhase1OutputBlob())
			}
			assertEmpty(t, dir)
			req := &sealv1.PC2Request{Sector: sector(2002), Phase1Output: r1.GetPhase1Output()}
			start = time.Now()
			r2, err := c.PC2(ctx, req)
			if err != nil {
				t.Fatalf("pc2: %v", err)
			}
			d2 := time.Since(start)
			if sum := fmt.Sprintf("%x", sha256.Sum256(want)); r2.GetSealedCid() != sum || r2.GetUnsealedCid() != fmt.Sprint(size) {
				t.Errorf("pc2 saw %s bytes with SHA-256 %s, want %d bytes with %s", r2.GetUnsealedCid(), r2.GetSealedCid(), size, sum)
			}
			if req.GetPhase1OutputBlob() != nil || len(req.GetPhase1Output()) != size {
				t.Errorf("pc2 changed the caller's request")
			}
			assertEmpty(t, dir)
			t.Logf("plugin to host %.0f MB/s, host to plugin %.0f MB/s (checks and pattern included)", float64(size)/d1.Seconds()/1e6, float64(size)/d2.Seconds()/1e6)
		})
	}
	t.Log(logs.String())
}

// assertEmpty fails when dir holds anything: every blob and every call's
// directory must be gone once the call has returned.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}

// TestBlobOldPlugin: a plugin that predates blobs (testdata/fakev2, built
// without the sdk, fails any call carrying a blob field) gets and sends
// plain bytes, large ones included.
func TestBlobOldPlugin(t *testing.T) {
	c := start(t, "", pluginclient.Config{Name: "old", Cmd: fakeV2Cmd(t, "-v1"), BlobDir: t.TempDir()})
	if c.BlobDir() != "" {
		t.Fatalf("BlobDir() = %q for a plugin that does not accept blobs, want empty", c.BlobDir())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := pattern(64 << 20)
	r2, err := c.C2(ctx, &sealv1.C2Request{Sector: sector(1), Phase1Output: in})
	if err != nil {
		t.Fatalf("c2 with 64 MiB: %v", err)
	}
	if sum := sha256.Sum256(in); !bytes.Equal(r2.GetProof(), sum[:]) {
		t.Errorf("c2: the old plugin saw different bytes")
	}
	r1, err := c.C1(ctx, &sealv1.C1Request{Sector: sector(1), Seed: binary.BigEndian.AppendUint64(nil, 64<<20)})
	if err != nil {
		t.Fatalf("c1 answering 64 MiB: %v", err)
	}
	if len(r1.GetPhase1Output()) != 64<<20 {
		t.Errorf("c1: %d bytes, want 64 MiB", len(r1.GetPhase1Output()))
	}
}

// TestBlobBroken: a plugin answering with a blob that is missing,
// truncated, outside the call's directory or doubled by inline bytes gets
// a clear DataLoss error, not short data; nothing is left in BlobDir, and
// the file outside it is untouched.
func TestBlobBroken(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("not the plugin's to hand over"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := start(t, "", pluginclient.Config{Name: "rawblob", Cmd: rawBlobCmd(t, "RAWBLOB_OUTSIDE="+outside), BlobDir: dir})
	tests := []struct {
		sector uint64
		want   string
	}{
		{3001, "reading the response's phase1_output: blob: open " + dir + "/c1-"},
		{3002, "holds 2097152 bytes, the message says 3145728 (truncated or overwritten)"},
		{3003, "blob: " + outside + " is not in " + dir + "/c1-"},
		{3004, "the response sets both phase1_output (6 bytes) and phase1_output_blob (a bug in the plugin)"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.sector), func(t *testing.T) {
			resp, err := c.C1(context.Background(), &sealv1.C1Request{Sector: sector(tt.sector)})
			var ce *pluginclient.CallError
			if !errors.As(err, &ce) || ce.Code != codes.DataLoss || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("c1 = %v, %v\nwant a DataLoss *CallError containing %q", resp, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), `plugin "rawblob" c1: `) {
				t.Errorf("error %q does not name the plugin and stage first", err)
			}
			assertEmpty(t, dir)
			if b, err := os.ReadFile(outside); err != nil || len(b) == 0 {
				t.Errorf("the file outside BlobDir was touched: %q, %v", b, err)
			}
		})
	}
}

// TestBlobCleanup: no file outlives a call that failed or was given up on,
// whichever side had written one, and a private BlobDir goes with the
// plugin.
func TestBlobCleanup(t *testing.T) {
	dir := t.TempDir()
	c := start(t, "all", pluginclient.Config{BlobDir: dir})
	large := pattern(8 << 20)
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"request blob, plugin fails", func(ctx context.Context) error {
			_, err := c.PC2(ctx, &sealv1.PC2Request{Sector: sector(1002), Phase1Output: large})
			return err
		}},
		{"request blob, plugin panics", func(ctx context.Context) error {
			_, err := c.C2(ctx, &sealv1.C2Request{Sector: sector(1004), Phase1Output: large})
			return err
		}},
		{"request blob, host cancels", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			_, err := c.PC2(ctx, &sealv1.PC2Request{Sector: sector(1000), Phase1Output: large})
			return err
		}},
		{"response blob written after the host gave up", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := c.C1(ctx, &sealv1.C1Request{Sector: sector(2003)})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(context.Background()); err == nil {
				t.Fatal("the call succeeded; the test wants it to fail")
			}
			assertEmpty(t, dir)
			// Give a plugin still at work time to finish and write.
			time.Sleep(time.Second)
			assertEmpty(t, dir)
		})
	}

	t.Run("private directory removed at Kill", func(t *testing.T) {
		c := start(t, "all", pluginclient.Config{})
		own := c.BlobDir()
		if own == "" {
			t.Fatal("no private BlobDir")
		}
		if st, err := os.Stat(own); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("private BlobDir %s: %v, %v; want a 0700 directory", own, st, err)
		}
		if _, err := c.C1(context.Background(), &sealv1.C1Request{Sector: sector(2001), Seed: binary.BigEndian.AppendUint64(nil, 4<<20)}); err != nil {
			t.Fatal(err)
		}
		if err := c.Kill(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(own); !os.IsNotExist(err) {
			t.Errorf("private BlobDir %s still there after Kill (%v)", own, err)
		}
	})
	t.Run("BlobDir must exist", func(t *testing.T) {
		_, err := pluginclient.Start(context.Background(), pluginclient.Config{Cmd: helperCmd(t, "all"), BlobDir: filepath.Join(dir, "nope"), StartTimeout: 20 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "Config.BlobDir") {
			t.Fatalf("Start = %v, want an error about Config.BlobDir", err)
		}
	})
}

// TestInlinePayloads: with the fast path turned off, a plugin that accepts
// files still gets and sends plain bytes.
func TestInlinePayloads(t *testing.T) {
	c := start(t, "all", pluginclient.Config{InlinePayloads: true})
	if c.BlobDir() != "" {
		t.Fatalf("BlobDir() = %q with InlinePayloads, want empty", c.BlobDir())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r1, err := c.C1(ctx, &sealv1.C1Request{Sector: sector(2001), Seed: binary.BigEndian.AppendUint64(nil, 16<<20)})
	if err != nil || !bytes.Equal(r1.GetPhase1Output(), pattern(16<<20)) {
		t.Fatalf("c1: %d bytes, %v; want 16 MiB of pattern", len(r1.GetPhase1Output()), err)
	}
	r2, err := c.PC2(ctx, &sealv1.PC2Request{Sector: sector(2002), Phase1Output: r1.GetPhase1Output()})
	if sum := fmt.Sprintf("%x", sha256.Sum256(r1.GetPhase1Output())); err != nil || r2.GetSealedCid() != sum {
		t.Fatalf("pc2 = %v, %v; want sealed_cid %s", r2, err, sum)
	}
}
