package damoclesconf

import (
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
)

// A damocles window_post processor moves to sealhost as `host processor
// window_post` does serve it: a window_post processor with its locks and
// limit; a snap_encode one still stays with the worker.
func TestWindowPoStImported(t *testing.T) {
	src := "[processors.limitation.concurrent]\nwindow_post = 1\n\n[processors.ext_locks]\ngpu = 1\n\n" +
		"[[processors.window_post]]\nlocks = [\"gpu\"]\n\n[[processors.c2]]\nlocks = [\"gpu\"]\n\n[[processors.snap_encode]]\n"
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
	for _, p := range cfg.Processors {
		if p.Stage == config.StageSnapEncode {
			t.Error("a snap_encode processor was imported; host processor does not serve it")
		}
	}
	if !hasDiag(diags, want{CodeUnsupportedStage, Warning, 13}) {
		t.Errorf("no unsupported-stage warning for snap_encode at line 13: %v", diags)
	}
}
