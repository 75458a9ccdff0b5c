package damoclesconf

import (
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
)

// A damocles window_post processor moves to sealhost as `host processor
// window_post` does serve it: a window_post processor with its locks and
// limit. So does a built-in snap_encode (to plugins/ffi); one running its
// own bin stays with the worker, since the bridge does not serve snap.
func TestWindowPoStImported(t *testing.T) {
	src := "[processors.limitation.concurrent]\nwindow_post = 1\n\n[processors.ext_locks]\ngpu = 1\n\n" +
		"[[processors.window_post]]\nlocks = [\"gpu\"]\n\n[[processors.c2]]\nlocks = [\"gpu\"]\n\n[[processors.snap_encode]]\n\n[[processors.snap_prove]]\nbin = \"/opt/sp\"\n"
	cfg, diags := translateOK(t, src)
	var post *config.Processor
	for i := range cfg.Processors {
		if cfg.Processors[i].Stage == config.StageWindowPoSt {
			post = &cfg.Processors[i]
		}
	}
	if post == nil || strings.Join(post.Locks, ",") != "gpu" || cfg.Limits[config.StageWindowPoSt] != 1 {
		t.Fatalf("window_post processor %+v, limits %v", post, cfg.Limits)
	}
	stages := map[config.Stage]string{}
	for _, p := range cfg.Processors {
		stages[p.Stage] = p.Plugin
	}
	if stages[config.StageSnapEncode] != "ffi" {
		t.Errorf("built-in snap_encode imported to %q, want plugins/ffi", stages[config.StageSnapEncode])
	}
	if _, ok := stages[config.StageSnapProve]; ok {
		t.Error("a snap_prove processor with its own bin was imported; the bridge does not serve it")
	}
	if !hasDiag(diags, want{CodeUnsupportedStage, Warning, 16}) {
		t.Errorf("no unsupported-stage warning for snap_prove's bin at line 16: %v", diags)
	}
}
