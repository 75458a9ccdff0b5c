package pluginclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/internal/pluginclient"
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
