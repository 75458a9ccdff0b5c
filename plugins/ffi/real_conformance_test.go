//go:build cgo && ffi

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// buildReal builds this plugin as `make ffi` does (the same module file
// and tag), so the kit checks the binary an operator runs, from the
// sources under test rather than whatever bin/plugins/ffi last held.
func buildReal(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ffi")
	cmd := exec.Command("go", "build", "-modfile=ffi.local.mod", "-tags", "ffi", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags ffi: %v\n%s", err, b)
	}
	return out
}

// TestRealConformance runs the SDK's conformance kit on the plugin built
// with filecoin-ffi, for every stage it serves, on real 2KiB sectors: the
// kit's pipeline seals one sector (tree_d → pc1 → pc2 → c1 → c2, proofs
// verified by the plugin) and the later stages work on that sector.
func TestRealConformance(t *testing.T) {
	plugintest.Run(t, plugintest.Config{
		Build:   buildReal,
		Name:    "ffi",
		Version: version,
		Env:     []string{"FIL_PROOFS_PARAMETER_CACHE=" + os.Getenv("FIL_PROOFS_PARAMETER_CACHE")},
		// c2 and snap_prove take about a minute each here, more when the
		// two cores are shared.
		CallTimeout: 10 * time.Minute,
		Stages: []sealv1.Stage{sealv1.Stage_STAGE_TREE_D, sealv1.Stage_STAGE_PC1, sealv1.Stage_STAGE_PC2,
			sealv1.Stage_STAGE_C1, sealv1.Stage_STAGE_C2,
			sealv1.Stage_STAGE_SNAP_ENCODE, sealv1.Stage_STAGE_SNAP_PROVE, sealv1.Stage_STAGE_WINDOW_POST,
			sealv1.Stage_STAGE_WINNING_POST, sealv1.Stage_STAGE_UNSEAL, sealv1.Stage_STAGE_ADD_PIECES},
	})
}
