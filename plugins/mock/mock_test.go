package main

import (
	"testing"

	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestConformance runs the sdk's conformance kit against the built mock.
func TestConformance(t *testing.T) {
	plugintest.Run(t, plugintest.Config{
		Build:   func(t testing.TB) string { return plugintest.Build(t, ".") },
		Name:    "mock",
		Version: version,
		Stages: []sealv1.Stage{sealv1.Stage_STAGE_TREE_D, sealv1.Stage_STAGE_PC1, sealv1.Stage_STAGE_PC2,
			sealv1.Stage_STAGE_C1, sealv1.Stage_STAGE_C2},
		SlowEnv:        []string{"MOCK_DURATION=1h", "MOCK_BUSY_THREADS=1"},
		FailEnv:        []string{"MOCK_FAIL_RATE=1"},
		LargeOutputEnv: []string{"MOCK_OUTPUT_SIZE=64MiB"},
		StdoutNoiseEnv: []string{"MOCK_STDOUT_NOISE=1"},
	})
}
