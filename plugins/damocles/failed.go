package main

import (
	"strings"

	"github.com/sealhost/sealhost/sdk"
)

// failed is the error of a request the processor answered with err_msg:
// its message, naming the stage and the binary, and, where the message
// is one this plugin knows the cause of, what to do. Not retryable:
// damocles' protocol has no retry flag, and damocles-worker too makes
// every processor error permanent for the sector.
func failed(spec childSpec, msg string) error {
	if h := hint(spec.Stage, msg); h != "" {
		return sdk.Errorf("%s failed the request: %s\nfix: %s", spec.describe(), msg, h)
	}
	return sdk.Errorf("%s failed the request: %s", spec.describe(), msg)
}

// hints are the causes a processor's err_msg names, as Rust's io errors
// and vc-processors' builtin processors word them, for one stage or
// every stage (""). First match wins.
var hints = []struct {
	stage string
	any   []string // any of these, case-insensitive
	fix   string
}{
	{"add_pieces", []string{"open piece file"}, "the processor reads each local piece file itself: it must exist on this box, with the piece's unpadded size, readable by the plugin's user"},
	{"add_pieces", []string{"open staged file"}, "the processor creates the staged file itself: its folder must exist on this box and be writable by the plugin's user"},
	{"snap_prove", []string{"vanilla"}, "the vanilla proofs must be GenerateUpdateVanillaProofs' output for this update (the same comm_r_old, comm_r_new and comm_d_new, the new replica snap_encode wrote), one per partition, unchanged"},
	{"", []string{"os error 2)", "no such file or directory"}, "a path of the request is not there where the processor runs: it reads the request's paths as they are, so they must name this box's files (the same mounts as the host's)"},
	{"", []string{"os error 13)", "permission denied"}, "the processor runs as the plugin's user, inside the processor's cgroup: that user needs access to every path of the request"},
	{"", []string{"os error 28)", "no space left on device"}, "the file system under the request's output paths is full"},
	{"", []string{"cuda", "no gpu", "gpu not found"}, "the processor sees the GPUs the processor block's env gives it (CUDA_VISIBLE_DEVICES) and its cgroup allows: check both, and the GPU's lock in the config"},
}

func hint(stage, msg string) string {
	m := strings.ToLower(msg)
	for _, h := range hints {
		if h.stage != "" && h.stage != stage {
			continue
		}
		for _, a := range h.any {
			if strings.Contains(m, a) {
				return h.fix
			}
		}
	}
	return ""
}
