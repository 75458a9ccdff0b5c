package damoclesconf

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
)

// TestBridgeAcceptsWrittenArgs: the arguments written for a processor with
// its own bin are ones plugins/damocles parses. Started without the host's
// handshake, the bridge exits 1 after parsing them (the sdk explains it is
// a plugin); a refused argument is exit 2, a usage mistake.
func TestBridgeAcceptsWrittenArgs(t *testing.T) {
	bridge := filepath.Join(t.TempDir(), "damocles")
	if out, err := exec.Command("go", "build", "-o", bridge, root+"plugins/damocles").CombinedOutput(); err != nil {
		t.Fatalf("go build plugins/damocles: %v\n%s", err, out)
	}
	src := "[[processors.pc2]]\nbin = \"/opt/pc2\"\nstable_wait = \"45s\"\nconcurrent = 1\n\n" +
		"[[processors.c2]]\nbin = \"/opt/c2\"\nargs = [\"--gpu\", \"--\", \"-x\"]\nconcurrent = 1\n\n" +
		"[[processors.tree_d]]\nbin = \"/opt/treed\"\nstable_wait = \"1500ms\"\nconcurrent = 1\n\n" +
		"[[processors.add_pieces]]\nbin = \"/opt/ap\"\nconcurrent = 1\n\n" +
		"[[processors.snap_encode]]\nbin = \"/opt/snap\"\nconcurrent = 1\n\n" +
		"[[processors.snap_prove]]\nbin = \"/opt/snap\"\nargs = [\"processor\", \"snap_prove\"]\nconcurrent = 1\n"
	res := Translate([]byte(src), Options{SectorSize: "32GiB"})
	if res.Diagnostics.HasErrors() {
		t.Fatal(diagText(res.Diagnostics, "w.toml", []byte(src)))
	}
	cfg, diags := config.Parse(res.HCL, "imported.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(cfg.Plugins) != 6 {
		t.Fatalf("plugins %+v, want 6 bridges", cfg.Plugins)
	}
	for _, p := range cfg.Plugins {
		t.Run(p.Name, func(t *testing.T) {
			cmd := exec.Command(bridge, p.Args...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("damocles %s: %v, want exit 1 (arguments parsed, no host handshake)\n%s", strings.Join(p.Args, " "), err, out)
			}
		})
	}
}
