package confine

import (
	"sort"
	"strings"

	"github.com/sealhost/sealhost/sdk"
)

// SafeEnv lists the host variables a processor with inherit_env = false
// still receives: without PATH and HOME many tools fail in confusing ways,
// LANG keeps messages readable and LD_LIBRARY_PATH is how CUDA and the
// proofs' shared libraries are usually found.
var SafeEnv = []string{"PATH", "HOME", "LANG", "LD_LIBRARY_PATH"}

// BuildEnv returns the complete environment of a processor's plugin, sorted
// by name so that the same inputs always give the same slice.
//
// host is the host's environment (usually os.Environ()). When inherit is
// true every host variable is passed; otherwise only those named in SafeEnv
// that are set. env, the processor's own variables, is applied next and
// always wins over the host's. TMPDIR is set to tmpdir (when not empty)
// unless the processor's env names TMPDIR itself: an operator's explicit
// choice is respected, the per-processor default keeps bellperson's GPU lock
// files of different processors apart.
//
// The result is meant for go-plugin with SkipHostEnv: go-plugin would
// otherwise let the host's variables override the processor's.
func BuildEnv(host []string, inherit bool, env map[string]string, tmpdir string) []string {
	vars := make(map[string]string, len(host)+len(env)+1)
	safe := make(map[string]bool, len(SafeEnv))
	for _, k := range SafeEnv {
		safe[k] = true
	}
	for _, kv := range host {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			// Not a variable (exec would pass it, but nothing can read it).
			continue
		}
		if inherit || safe[k] {
			vars[k] = v // later duplicates win, as in exec
		}
	}
	if tmpdir != "" {
		vars["TMPDIR"] = tmpdir
	}
	for k, v := range env {
		vars[k] = v
	}
	if tmpdir != "" {
		// Where the host puts request blobs: the plugin reads (and
		// removes) blob files only there. Host-owned, not the operator's.
		vars[sdk.BlobDirEnv] = tmpdir
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + vars[k]
	}
	return out
}
