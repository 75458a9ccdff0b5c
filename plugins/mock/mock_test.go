package main

import (
	"strings"
	"testing"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

var allStages = []sealv1.Stage{sealv1.Stage_STAGE_TREE_D, sealv1.Stage_STAGE_PC1, sealv1.Stage_STAGE_PC2,
	sealv1.Stage_STAGE_C1, sealv1.Stage_STAGE_C2,
	sealv1.Stage_STAGE_SNAP_ENCODE, sealv1.Stage_STAGE_SNAP_PROVE, sealv1.Stage_STAGE_WINDOW_POST,
	sealv1.Stage_STAGE_WINNING_POST, sealv1.Stage_STAGE_UNSEAL, sealv1.Stage_STAGE_ADD_PIECES}

// TestConformance runs the sdk's conformance kit against the built mock:
// serving every stage, and serving each stage besides sealing alone, so
// the kit's generic checks (cancel, errors, concurrency, stdout) probe
// that stage.
func TestConformance(t *testing.T) {
	bin := plugintest.Build(t, ".")
	build := func(testing.TB) string { return bin }
	cfg := func(stages []sealv1.Stage, env ...string) plugintest.Config {
		return plugintest.Config{
			Build:          build,
			Name:           "mock",
			Version:        version,
			Stages:         stages,
			Env:            env,
			SlowEnv:        []string{"MOCK_DURATION=1h", "MOCK_BUSY_THREADS=1"},
			FailEnv:        []string{"MOCK_FAIL_RATE=1"},
			LargeOutputEnv: []string{"MOCK_OUTPUT_SIZE=64MiB"},
			StdoutNoiseEnv: []string{"MOCK_STDOUT_NOISE=1"},
		}
	}
	t.Run("all", func(t *testing.T) { plugintest.Run(t, cfg(allStages)) })
	for _, st := range allStages[5:] {
		t.Run(sdk.StageName(st), func(t *testing.T) {
			plugintest.Run(t, cfg([]sealv1.Stage{st}, "MOCK_STAGES="+sdk.StageName(st)))
		})
	}
}

func TestServeSubset(t *testing.T) {
	for _, tt := range []struct {
		serve map[string]bool
		want  string
	}{
		{nil, "[STAGE_TREE_D STAGE_PC1 STAGE_PC2 STAGE_C1 STAGE_C2 STAGE_SNAP_ENCODE STAGE_SNAP_PROVE STAGE_WINDOW_POST STAGE_WINNING_POST STAGE_UNSEAL STAGE_ADD_PIECES]"},
		{map[string]bool{"window_post": true, "pc1": true}, "[STAGE_PC1 STAGE_WINDOW_POST]"},
	} {
		p := plugin(&mock{}, tt.serve)
		if got := fmtStages(p.Stages()); got != tt.want {
			t.Errorf("serve %v: stages %s, want %s", tt.serve, got, tt.want)
		}
	}
}

func fmtStages(s []sealv1.Stage) string {
	var n []string
	for _, st := range s {
		n = append(n, st.String())
	}
	return "[" + strings.Join(n, " ") + "]"
}
