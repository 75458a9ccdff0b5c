package damoclesconf

import (
	"fmt"

	"github.com/agext/levenshtein"
)

// damocles-worker's config keys (damocles 4235a895: damocles-worker/src/
// config.rs, sealing/processor/external/config.rs). A key outside these is
// one damocles ignores without a word.

// topSections are the worker config's sections. Only processors is
// translated; the others configure the worker itself.
var topSections = []string{"worker", "metrics", "sector_manager", "sealing", "sealing_thread", "attached", "processors"}

// processorsKeys are the keys of [processors] that are not stages.
var processorsKeys = []string{"limit", "limitation", "ext_locks", "static_tree_d"}

// sealStages are the damocles processor stages sealhost runs, by the same
// names: those `host processor` serves (damocles.Stages) that
// damocles-worker has a [[processors.X]] block for. c1 has no external
// processor in damocles: the worker runs it; nor has winning_post, a
// subcommand. (Most are no sealing stages, but served all the same.)
var sealStages = []string{"add_pieces", "tree_d", "pc1", "pc2", "c2", "snap_encode", "snap_prove", "window_post", "unseal"}

// otherStages are damocles processor stages sealhost has no stage for.
var otherStages = []string{"transfer", "sealing_daemons"}

var limitationKeys = []string{"concurrent", "staggered"}

// limitStages are the names damocles' sealing threads take a stage limit
// by (vc-processors builtin/tasks.rs STAGE_NAME_*, as sealing_thread
// waits on them); a limit under any other name limits nothing.
var limitStages = []string{"add_pieces", "tree_d", "pc1", "pc2", "c1", "c2", "snap_encode", "snap_prove", "synth_proof", "transfer", "unseal", "window_post"}

// extKeys are the keys of one [[processors.STAGE]] block.
var extKeys = []string{"bin", "args", "stable_wait", "cgroup", "envs", "numa_preferred", "concurrent", "locks", "auto_restart", "inherit_envs"}

var cgroupKeys = []string{"group_name", "cpuset"}

// defaultStableWait is damocles' ready timeout when stable_wait is unset.
const defaultStableWait = "5s"

// hostOwnedEnv are the variables damocles-worker sets for a processor to
// confine itself (vc-processors' sys/cgroup.rs and numa.rs read them).
// Under sealhost the host has confined the process before it starts; a
// child that read them would move itself into a cgroup of its own, out of
// the host's.
var hostOwnedEnv = map[string]string{
	"VC_CG_NAME":                  "cgroup.group_name",
	"VC_CG_CPUSET":                "cgroup.cpuset",
	"VENUS_WORKER_NUMA_PREFERRED": "numa_preferred",
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const maxSuggest = 64

// suggest returns ` Did you mean "x"?` for the candidate closest to given,
// or "" when none is close (hcl's threshold, as config uses).
func suggest(given string, candidates []string) string {
	if len(candidates) > maxSuggest || len(given) > 64 {
		return "" // a guess among thousands is noise, and costly
	}
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}
