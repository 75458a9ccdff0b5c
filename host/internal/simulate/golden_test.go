package simulate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins the text and JSON of short runs of the seed's Plan B, so
// any change in results or layout shows up as a diff. Regenerate with
// `go test ./host/internal/simulate -run Golden -update` and review.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		policy       config.Policy
	}{
		{"plan-b-fair", "testdata/plan-b.hcl", config.PolicyFair},
		{"plan-b-sealcalc-greedy", "testdata/plan-b-sealcalc.hcl", config.PolicyGreedy},
		{"post-fair", "", config.PolicyFair}, // loadPoSt's
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *config.Config
			if tc.config == "" {
				cfg = loadPoSt(t)
			} else {
				cfg = load(t, tc.config)
			}
			r := run(t, Request{Config: cfg, Policy: tc.policy,
				For: 2 * 24 * time.Hour, Step: 4 * time.Hour, Turnaround: time.Minute})
			var text bytes.Buffer
			if err := WriteText(&text, r, true); err != nil {
				t.Fatal(err)
			}
			js, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".txt", text.Bytes())
			golden(t, tc.name+".json", append(js, '\n'))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run with -update and review the diff.\ngot:\n%s", path, got)
	}
}
