package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestConformance runs the sdk's conformance kit against the bridge
// configured for each stage a damocles processor serves, with fakeproc as
// the processor. Knobs: SlowEnv makes the processor slow (the kit sees
// the bridge kill it on cancel), FailEnv crashes it on its first request
// (the only retryable failure damocles' protocol has: err_msg carries no
// retry flag), StdoutNoiseEnv makes it write garbage lines to the
// bridge between its answers.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the plugin about 40 times")
	}
	proc := built(t, "fakeproc")
	for _, stage := range damocles.BridgeStages {
		t.Run(stage, func(t *testing.T) {
			codec, err := damocles.Lookup(stage)
			if err != nil {
				t.Fatal(err)
			}
			cfg := plugintest.Config{
				Binary:         built(t, "damocles"),
				Args:           []string{"-stage", stage, "--", proc, "processor", stage},
				Name:           "damocles",
				Version:        version,
				Stages:         []sealv1.Stage{codec.SealStage},
				Inputs:         inputs,
				SlowEnv:        []string{"FAKEPROC_DELAY=1h"},
				FailEnv:        []string{"FAKEPROC_CRASH_AT=1"},
				StdoutNoiseEnv: []string{"FAKEPROC_GARBAGE=1"},
			}
			switch stage {
			case "pc1":
				cfg.LargeOutputEnv = []string{"FAKEPROC_OUTPUT_SIZE=67108864"}
			case "pc2":
				// A pc2 cut short is not retryable (the sealed file may
				// be half-encoded): TestPC2Interrupted.
				cfg.FailEnv = nil
			}
			plugintest.Run(t, cfg)
		})
	}
}

// inputs are the kit's, with what damocles' tasks need and the kit's
// defaults leave out: a C2 input that names its proof type, as every C1
// output does (damocles' c2 task reads registered_proof from it); vanilla
// proofs for snap_prove (its damocles task carries only those: the worker
// makes them where the replica is); and the sector key's p_aux, whose
// comm_c snap_encode keeps (fakeproc reads it, as encode_into does).
func inputs(dir string) (*plugintest.Inputs, error) {
	in, err := plugintest.DefaultInputs(dir)
	if err != nil {
		return nil, err
	}
	in.C2.Phase1Output = []byte(`{"_plugintest":"placeholder C1 output","registered_proof":"StackedDrg2KiBV1_1"}`)
	in.SnapProve.VanillaProofs = [][]byte{[]byte("FAKE: placeholder vanilla proof from plugins/damocles' conformance test")}
	pAux := bytes.Repeat([]byte{7}, 64) // comm_c, comm_r_last: 7s, field elements
	if err := os.WriteFile(filepath.Join(in.SnapEncode.GetSectorKeyCachePath(), damocles.PAuxFile), pAux, 0o644); err != nil {
		return nil, err
	}
	return in, nil
}
