package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestConformance runs the SDK's conformance kit on the binary as this
// machine builds it: without filecoin-ffi, serving tree_d for real.
func TestConformance(t *testing.T) {
	if builtWithFFI {
		t.Skip("built with filecoin-ffi: TestRealConformance runs the kit on every stage")
	}
	plugintest.Run(t, plugintest.Config{
		Build:   func(t testing.TB) string { return plugintest.Build(t, ".") },
		Name:    "ffi",
		Version: version,
		Stages:  []sealv1.Stage{sealv1.Stage_STAGE_TREE_D},
	})
}

// TestUntaggedStagesSayWhy checks, through the real host path, that the
// stages a build without filecoin-ffi cannot serve answer with the way out.
func TestUntaggedStagesSayWhy(t *testing.T) {
	if builtWithFFI {
		t.Skip("built with filecoin-ffi")
	}
	bin := plugintest.Build(t, ".")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pluginclient.Start(ctx, pluginclient.Config{Name: "ffi", Cmd: exec.Command(bin), Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill(context.Background())
	calls := map[string]func() error{
		"pc1":          func() error { _, e := c.PC1(ctx, &sealv1.PC1Request{}); return e },
		"pc2":          func() error { _, e := c.PC2(ctx, &sealv1.PC2Request{}); return e },
		"c1":           func() error { _, e := c.C1(ctx, &sealv1.C1Request{}); return e },
		"c2":           func() error { _, e := c.C2(ctx, &sealv1.C2Request{}); return e },
		"snap_encode":  func() error { _, e := c.SnapEncode(ctx, &sealv1.SnapEncodeRequest{}); return e },
		"snap_prove":   func() error { _, e := c.SnapProve(ctx, &sealv1.SnapProveRequest{}); return e },
		"window_post":  func() error { _, e := c.WindowPoSt(ctx, &sealv1.WindowPoStRequest{}); return e },
		"winning_post": func() error { _, e := c.WinningPoSt(ctx, &sealv1.WinningPoStRequest{}); return e },
		"unseal":       func() error { _, e := c.Unseal(ctx, &sealv1.UnsealRequest{}); return e },
		"add_pieces":   func() error { _, e := c.AddPieces(ctx, &sealv1.AddPiecesRequest{}); return e },
	}
	for stage, call := range calls {
		t.Run(stage, func(t *testing.T) {
			err := call()
			if err == nil || !strings.Contains(err.Error(), "built without filecoin-ffi: see plugins/ffi/README.md") {
				t.Fatalf("err = %v, want the built-without-filecoin-ffi explanation", err)
			}
		})
	}
}
