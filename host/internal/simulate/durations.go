package simulate

import (
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// Table is a built-in set of stage durations for one sector size, used for
// every stage the config's simulation block leaves out.
type Table struct {
	Durations map[config.Stage]time.Duration
	WaitSeed  time.Duration
	// Source says where the numbers come from, so output can cite it;
	// OtherSource says it for the stages outside a sector's pipeline
	// (PoSt, snap, unseal, add_pieces), when it differs.
	Source      string
	OtherSource string
}

// waitSeed is the chain's pre-commit challenge delay: 150 epochs of 30 s is
// 75 min (damocles config guide: "~75 min"), plus a few minutes for the
// pre-commit message to land. damocles-worker-util sealcalc defaults its
// --seed_mins to 80; we take the same so both tools agree out of the box.
// It does not depend on the sector size.
const waitSeed = 80 * time.Minute

// tables holds the built-in durations, keyed by sector size name.
//
// 32GiB (field-facts §2 "Numbers for planning"):
//   - tree_d ~1 min: damocles config guide (docs/en/12.damocles-worker-config-guide.md).
//   - pc1 177 min: the same guide, measured on an EPYC 7642 with multicore
//     SDR, the seed machine's cpu. (The guide's sealcalc example uses 320 min,
//     an older, slower box; write `durations = { pc1 = "320m" }` to use it.)
//   - pc2 12 min: the guide gives 10–13 min on an RTX 3080 with the GPU tree
//     builder; 12 is the middle of the range rounded up.
//   - c1 1 s: lotus' resource table notes c1 takes under a second.
//   - c2 15 min: the guide gives 13–16 min on an RTX 3080; 15 is the middle
//     rounded up.
//
// The other stages, 32GiB. None is a step of a sector's pipeline; they
// matter when a workload submits to them (the post block) or a processor
// of theirs shares a lock. Sources are public benchmark logs, on a GPU one
// generation apart from the seed's RTX 3080 (an RTX 3090 with an EPYC
// 7662): read them as the right order of magnitude, not as this machine.
//   - window_post 4 min: lotus-bench's "compute window post proof" took
//     3 min 34 s cold and 4 min 23 s hot there (jackoelv/bellperson issue
//     #22). The bench proves one sector, but the circuit is a whole
//     partition's (2349 sectors), so the SNARK is a partition's. A real
//     partition's vanilla proofs read 2349 sectors' challenged leaves from
//     storage first, seconds to many minutes depending on the disks
//     (lotus #5299 shows 20 min on slow storage): add it with
//     `durations = { window_post = "..." }`.
//   - winning_post 6 s: the same run's "compute winning post proof", 6.2 s
//     cold, 6.0 s hot; lotus' issues report 40-100 s on misconfigured GPUs
//     (lotus #4776, bellperson #163), which is what a deadline catches.
//   - add_pieces 1.5 min: writing and padding 32GiB of data, 1 min 27 s in
//     the lotus docs' `lotus-bench simple addpiece` example and 1 min 41 s
//     in the bench above.
//   - unseal 177 min: unsealing regenerates the SDR labels, pc1's work: the
//     bench above took 2 h 59 min to unseal against 3 h 3 min for pc1. So
//     the table takes pc1's time (an estimate by that ratio, not measured
//     on the EPYC 7642).
//   - snap_encode 10 min: an estimate. It encodes 32GiB of new data into
//     the replica and builds tree_d and tree_r_last on the GPU, the
//     tree_r_last half of pc2's work (pc2 also builds tree_c), so somewhat
//     under pc2's 12 min. No published 32GiB measurement was found.
//   - snap_prove 15 min: an estimate, c2's time. The update proof is a
//     Groth16 SNARK of 16 partitions against c2's 10, each a smaller
//     circuit; no published 32GiB measurement was found.
//
// 64GiB: no published measurement was found. SDR (pc1) and the tree and
// proof work (tree_d, pc2, c2) grow linearly with the sector's node count,
// so the 32GiB numbers are doubled, and so are snap, unseal and
// add_pieces. A PoSt partition of 64GiB sectors (2300 sectors) is about
// as large a circuit as one of 32GiB, so the PoSt times stay. This is an
// estimate, not a measurement.
//
// 512MiB, 8MiB, 2KiB: test sizes that no operator seals for profit; rust-
// fil-proofs handles them in seconds to a few minutes. The values below are
// short round numbers so simulations of test configs finish sectors quickly;
// they are placeholders, not measurements.
var tables = map[string]Table{
	"32GiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD:       1 * time.Minute,
			config.StagePC1:         177 * time.Minute,
			config.StagePC2:         12 * time.Minute,
			config.StageC1:          1 * time.Second,
			config.StageC2:          15 * time.Minute,
			config.StageSnapEncode:  10 * time.Minute,
			config.StageSnapProve:   15 * time.Minute,
			config.StageWindowPoSt:  4 * time.Minute,
			config.StageWinningPoSt: 6 * time.Second,
			config.StageUnseal:      177 * time.Minute,
			config.StageAddPieces:   90 * time.Second,
		},
		WaitSeed:    waitSeed,
		Source:      "damocles config guide, RTX 3080 and EPYC 7642 (field-facts §2)",
		OtherSource: "lotus-bench logs on an RTX 3090, snap estimated (durations.go)",
	},
	"64GiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD:       2 * time.Minute,
			config.StagePC1:         354 * time.Minute,
			config.StagePC2:         24 * time.Minute,
			config.StageC1:          2 * time.Second,
			config.StageC2:          30 * time.Minute,
			config.StageSnapEncode:  20 * time.Minute,
			config.StageSnapProve:   30 * time.Minute,
			config.StageWindowPoSt:  4 * time.Minute,
			config.StageWinningPoSt: 6 * time.Second,
			config.StageUnseal:      354 * time.Minute,
			config.StageAddPieces:   3 * time.Minute,
		},
		WaitSeed:    waitSeed,
		Source:      "32GiB numbers doubled (estimate: work is linear in sector size)",
		OtherSource: "32GiB numbers, doubled except PoSt (estimate)",
	},
	"512MiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD:       10 * time.Second,
			config.StagePC1:         3 * time.Minute,
			config.StagePC2:         1 * time.Minute,
			config.StageC1:          1 * time.Second,
			config.StageC2:          1 * time.Minute,
			config.StageSnapEncode:  30 * time.Second,
			config.StageSnapProve:   1 * time.Minute,
			config.StageWindowPoSt:  30 * time.Second,
			config.StageWinningPoSt: 1 * time.Second,
			config.StageUnseal:      3 * time.Minute,
			config.StageAddPieces:   5 * time.Second,
		},
		WaitSeed: waitSeed,
		Source:   "placeholder for a test size (not measured)",
	},
	"8MiB": {
		Durations: withOthers(time.Second, map[config.Stage]time.Duration{
			config.StageTreeD: 1 * time.Second,
			config.StagePC1:   10 * time.Second,
			config.StagePC2:   5 * time.Second,
			config.StageC1:    1 * time.Second,
			config.StageC2:    5 * time.Second,
		}),
		WaitSeed: waitSeed,
		Source:   "placeholder for a test size (not measured)",
	},
	"2KiB": {
		Durations: withOthers(time.Second, map[config.Stage]time.Duration{
			config.StageTreeD: 1 * time.Second,
			config.StagePC1:   1 * time.Second,
			config.StagePC2:   1 * time.Second,
			config.StageC1:    1 * time.Second,
			config.StageC2:    1 * time.Second,
		}),
		WaitSeed: waitSeed,
		Source:   "placeholder for a test size (not measured)",
	},
}

// BuiltinTable returns the built-in durations for a sector size name such as
// "32GiB", and false for a size it has none for.
func BuiltinTable(size string) (Table, bool) {
	t, ok := tables[size]
	return t, ok
}

// withOthers gives the stages outside a sector's pipeline that sealing
// leaves out duration d: the test sizes' placeholder for all of them.
func withOthers(d time.Duration, sealing map[config.Stage]time.Duration) map[config.Stage]time.Duration {
	for _, st := range config.Stages {
		if _, ok := sealing[st]; !ok {
			sealing[st] = d
		}
	}
	return sealing
}
