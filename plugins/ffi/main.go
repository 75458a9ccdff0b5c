// Command ffi is sealhost's stage plugin for real sealing with filecoin-ffi
// (rust-fil-proofs). tree_d is built in pure Go and always works; the other
// stages need the binary built with `make ffi FFI_DIR=…` (see README.md) and
// otherwise answer a clear error, never a fake result.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/sdk"
)

// version is set with -ldflags "-X main.version=…" by release builds.
var version = "dev"

func main() {
	if len(os.Args) == 3 && os.Args[1] == childArg {
		// One filecoin-ffi call, in a child of the serving plugin.
		os.Exit(runChild(os.Args[2], newSealer()))
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "ffi", Output: os.Stderr, JSONFormat: true, Level: hclog.LevelFromString(os.Getenv("SEALHOST_FFI_LOG"))})
	var sealer Sealer = newSealer()
	if builtWithFFI {
		cs, err := newChildSealer(log)
		if err != nil {
			log.Error("cannot run filecoin-ffi calls in child processes", "error", err)
			os.Exit(1)
		}
		sealer = cs
	}
	s := &stages{sealer: sealer}
	p := sdk.Plugin{Name: "ffi", Version: version, TreeD: s}
	if builtWithFFI {
		p.PC1, p.PC2, p.C1, p.C2 = s, s, s, s
		p.SnapEncode, p.SnapProve, p.WindowPoSt, p.WinningPoSt, p.Unseal, p.AddPieces = s, s, s, s, s, s
	} else {
		// Declare only what works, so the host and plugintest see the
		// truth in Info; the other stages say why they are missing.
		p.Unserved = ErrNoFFI.Error()
	}
	logStartup(log, s.sealer)
	sdk.Serve(p)
}

// logStartup records what decides this process's GPU use, so an operator
// can tell from the host's log which device a stage ran on.
func logStartup(log hclog.Logger, sealer Sealer) {
	var env []any
	for _, k := range []string{"CUDA_VISIBLE_DEVICES", "FIL_PROOFS_USE_GPU_TREE_BUILDER", "FIL_PROOFS_USE_GPU_COLUMN_BUILDER",
		"FIL_PROOFS_USE_MULTICORE_SDR", "FIL_PROOFS_MULTICORE_SDR_PRODUCERS", "FIL_PROOFS_PARAMETER_CACHE",
		"FIL_PROOFS_PARENT_CACHE", "BELLMAN_NO_GPU", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, strings.ToLower(k), v)
		}
	}
	if !builtWithFFI {
		log.Warn("built without filecoin-ffi: only tree_d works; see plugins/ffi/README.md", env...)
		return
	}
	gpus, err := sealer.GPUDevices(context.Background())
	if err != nil {
		log.Warn("filecoin-ffi could not list GPUs", append(env, "error", err)...)
		return
	}
	log.Info("filecoin-ffi GPUs", append(env, "gpus", strings.Join(gpus, "; "))...)
}
