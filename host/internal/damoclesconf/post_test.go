package damoclesconf

import (
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
)

// A damocles window_post processor moves to sealhost as `host processor
// window_post` does serve it: a window_post processor with its locks and
// limit. So does a built-in snap_encode (to plugins/ffi), and one running
// its own bin (to the bridge, which serves snap too).
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
	var bridge *config.Plugin
	for i, p := range cfg.Plugins {
		if p.Name == stages[config.StageSnapProve] {
			bridge = &cfg.Plugins[i]
		}
	}
	if bridge == nil || !strings.HasSuffix(bridge.Path, "/damocles") || strings.Join(bridge.Args, " ") != "-stage snap_prove -- /opt/sp processor snap_prove" {
		t.Errorf("snap_prove with its own bin imported to %+v, want the damocles bridge running it", bridge)
	}
	if !hasDiag(diags, want{CodeBridge, Info, 16}) || hasDiag(diags, want{CodeUnsupportedStage, Warning, 16}) {
		t.Errorf("want the bridge's note, not an unsupported-stage warning, for snap_prove's bin at line 16: %v", diags)
	}
}
