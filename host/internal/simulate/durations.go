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
	// Source says where the numbers come from, so output can cite it.
	Source string
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
// 64GiB: no published measurement was found. SDR (pc1) and the tree and
// proof work (tree_d, pc2, c2) grow linearly with the sector's node count,
// so the 32GiB numbers are doubled. This is an estimate, not a measurement.
//
// 512MiB, 8MiB, 2KiB: test sizes that no operator seals for profit; rust-
// fil-proofs handles them in seconds to a few minutes. The values below are
// short round numbers so simulations of test configs finish sectors quickly;
// they are placeholders, not measurements.
var tables = map[string]Table{
	"32GiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD: 1 * time.Minute,
			config.StagePC1:   177 * time.Minute,
			config.StagePC2:   12 * time.Minute,
			config.StageC1:    1 * time.Second,
			config.StageC2:    15 * time.Minute,
		},
		WaitSeed: waitSeed,
		Source:   "damocles config guide, RTX 3080 and EPYC 7642 (field-facts §2)",
	},
	"64GiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD: 2 * time.Minute,
			config.StagePC1:   354 * time.Minute,
			config.StagePC2:   24 * time.Minute,
			config.StageC1:    2 * time.Second,
			config.StageC2:    30 * time.Minute,
		},
		WaitSeed: waitSeed,
		Source:   "32GiB numbers doubled (estimate: work is linear in sector size)",
	},
	"512MiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD: 10 * time.Second,
			config.StagePC1:   3 * time.Minute,
			config.StagePC2:   1 * time.Minute,
			config.StageC1:    1 * time.Second,
			config.StageC2:    1 * time.Minute,
		},
		WaitSeed: waitSeed,
		Source:   "placeholder for a test size (not measured)",
	},
	"8MiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD: 1 * time.Second,
			config.StagePC1:   10 * time.Second,
			config.StagePC2:   5 * time.Second,
			config.StageC1:    1 * time.Second,
			config.StageC2:    5 * time.Second,
		},
		WaitSeed: waitSeed,
		Source:   "placeholder for a test size (not measured)",
	},
	"2KiB": {
		Durations: map[config.Stage]time.Duration{
			config.StageTreeD: 1 * time.Second,
			config.StagePC1:   1 * time.Second,
			config.StagePC2:   1 * time.Second,
			config.StageC1:    1 * time.Second,
			config.StageC2:    1 * time.Second,
		},
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
