package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// realConfigs are the configs operators read and the seed's verbatim
// translations; each must decode with no diagnostics at all.
var realConfigs = []string{
	"../../../config.hcl",
	"../../../examples/plan-a.hcl",
	"../../../testdata/configs/seed-plan-a-verbatim.hcl",
	"../../../testdata/configs/seed-plan-b-verbatim.hcl",
}

func TestRealConfigsHaveNoDiagnostics(t *testing.T) {
	for _, path := range realConfigs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, diags := Parse(src, path)
			if len(diags) > 0 {
				var buf bytes.Buffer
				_ = WriteDiagnostics(&buf, path, src, diags, false)
				t.Fatalf("want no diagnostics, got:\n%s", buf.String())
			}
			if cfg == nil {
				t.Fatal("nil config without diagnostics")
			}
		})
	}
}
