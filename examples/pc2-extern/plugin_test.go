package main

import (
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestConformance runs the sdk's conformance kit against the built
// plugin driving testdata/fake-pc2.sh.
func TestConformance(t *testing.T) {
	plugintest.Run(t, plugintest.Config{
		Build:   func(t testing.TB) string { return plugintest.Build(t, ".") },
		Args:    []string{fakeCommand(t)},
		Name:    "pc2-extern",
		Version: "0.1.0",
		Stages:  []sealv1.Stage{sealv1.Stage_STAGE_PC2},
		// The fake sleeps in a child process: cancellation must kill it.
		SlowEnv:     []string{"FAKE_PC2_SLEEP=3600"},
		FailEnv:     []string{"FAKE_PC2_EXIT=75"},
		CancelBound: 5 * time.Second,
	})
}
