package main

import (
	"testing"

	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func TestConformance(t *testing.T) {
	plugintest.Run(t, plugintest.Config{
		Build:   func(t testing.TB) string { return plugintest.Build(t, ".") },
		Name:    "minimal",
		Stages:  []sealv1.Stage{sealv1.Stage_STAGE_C2},
		SlowEnv: []string{"MINIMAL_WORK=1h"}, // so the kit can see cancellation work
	})
}
