package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func TestCheckProof(t *testing.T) {
	sector := func(p int64) *sealv1.Sector {
		return &sealv1.Sector{RegisteredSealProof: p, MinerId: 1000, SectorNumber: 1}
	}
	for _, tc := range []struct {
		name string
		req  proto.Message
		want string // "" accepts
	}{
		{"tree_d", &sealv1.TreeDRequest{Sector: sector(8)}, ""},
		{"unknown proof", &sealv1.PC1Request{Sector: sector(9999)}, "registered seal proof 9999 has no filecoin-proofs-api name"},
		{"no sector", &sealv1.TreeDRequest{}, "request has no sector"},
		{"c2 agrees", &sealv1.C2Request{Sector: sector(5), Phase1Output: []byte(`{"registered_proof":"StackedDrg2KiBV1_1","vanilla_proofs":{}}`)}, ""},
		{"pc2 agrees, key later", &sealv1.PC2Request{Sector: sector(8), Phase1Output: []byte(`{"labels":{"a":[1,2]},"registered_proof":"StackedDrg32GiBV1_1"}`)}, ""},
		{"pc2 disagrees", &sealv1.PC2Request{Sector: sector(8), Phase1Output: []byte(`{"registered_proof":"StackedDrg2KiBV1_1"}`)},
			"sector's registered_seal_proof is 8 (StackedDrg32GiBV1_1) but phase1_output is for StackedDrg2KiBV1_1"},
		{"c2 without the key", &sealv1.C2Request{Sector: sector(5), Phase1Output: []byte(`{"_plugintest":"x"}`)}, "no registered_proof key"},
		{"c2 not JSON", &sealv1.C2Request{Sector: sector(5), Phase1Output: []byte(`garbage`)}, "not a JSON object"},
		{"c2 bad name", &sealv1.C2Request{Sector: sector(5), Phase1Output: []byte(`{"registered_proof":"StackedDrg3KiB"}`)}, "is not a seal proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkProof(tc.req)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *sdk.Error
			if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, tc.want) {
				t.Fatalf("got %v, want a non-retryable error saying %q", err, tc.want)
			}
		})
	}
}

// FuzzNamedProof: the early-stopping reader of registered_proof never
// panics and, where the key appears once, agrees with encoding/json.
func FuzzNamedProof(f *testing.F) {
	for _, s := range []string{
		`{"registered_proof":"StackedDrg32GiBV1_1","vanilla_proofs":[[1,2]]}`,
		`{"a":{"registered_proof":"StackedDrg2KiBV1"},"registered_proof":"StackedDrg2KiBV1_1"}`,
		`{"registered_proof":5}`,
		`{"registered_proof":"StackedDrg2KiBV1_1"`,
		`[]`, `{}`, `{"a":}`, `"registered_proof"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := namedProof(data)
		if err != nil || bytes.Count(bytes.ToLower(data), []byte(`"registered_proof"`)) != 1 || bytes.ContainsRune(data, '\\') || !json.Valid(data) {
			return
		}
		var whole struct {
			RegisteredProof *damocles.SealProof `json:"registered_proof"`
		}
		if json.Unmarshal(data, &whole) == nil && whole.RegisteredProof != nil && *whole.RegisteredProof != p {
			t.Fatalf("namedProof %v, encoding/json %v for %q", p, *whole.RegisteredProof, data)
		}
	})
}

// TestPC2Interrupted: a pc2 whose processor dies under it fails for good,
// saying the sealed file may be half-encoded and how to fix it; under a
// damocles-worker that keeps its .pc2_running marker (it restores the
// sealed file itself before a retry) it stays retryable. Other stages'
// interrupted calls stay retryable.
func TestPC2Interrupted(t *testing.T) {
	codec, err := damocles.Lookup("pc2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		env       string
		cancel    bool
		marker    bool
		retryable bool
		says      string
	}{
		{"crash", "FAKEPROC_CRASH_AT=1", false, false, false, "exit status 3"},
		{"crash under a damocles-worker with its marker", "FAKEPROC_CRASH_AT=1", false, true, true, "exit status 3"},
		{"cancelled", "FAKEPROC_DELAY=1h", true, false, false, "cancelled (context canceled), and the damocles processor killed to stop it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := startBridge(t, fakeSpec(t, "pc2", tc.env), time.Second)
			s := &stages{b: b, codec: codec, bin: b.spec.Bin}
			in, err := inputs(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if tc.marker {
				if err := os.WriteFile(filepath.Join(in.PC2.GetCachePath(), ".pc2_running"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tc.cancel {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
			_, err = s.PC2(ctx, in.PC2)
			var se *sdk.Error
			if !errors.As(err, &se) || se.Retryable != tc.retryable || !strings.Contains(se.Message, tc.says) {
				t.Fatalf("got %v, want retryable=%v saying %q", err, tc.retryable, tc.says)
			}
			if half := strings.Contains(se.Message, "may now be half-encoded (damocles#837): copy the sector's staged file over it"); half == tc.retryable {
				t.Errorf("%q: the half-encoded warning is there: %v, want %v", se.Message, half, !tc.retryable)
			}
		})
	}
}
