package config

import (
	"math"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// PoSt is the simulation block's post block: the proving work `host
// simulate` adds to the sealing pipeline. Each field has its default when
// the block leaves it out (see DefaultPoSt).
type PoSt struct {
	// WindowEvery is how often a WindowPoSt deadline opens (the chain opens
	// one every 30 minutes; a miner with sectors in all 48 deadlines proves
	// at each). WindowPartitions tasks are submitted at each opening, each
	// with WindowDeadline to finish. WindowPartitions 0 turns WindowPoSt off.
	WindowEvery      time.Duration
	WindowDeadline   time.Duration
	WindowPartitions int
	// WinningPerDay is the expected number of blocks won a day; each
	// 30-second epoch is won with probability WinningPerDay/2880, from a
	// fixed seed, and each win must be proved within WinningDeadline. 0
	// turns WinningPoSt off.
	WinningPerDay   float64
	WinningDeadline time.Duration
	Range           hcl.Range
}

// EpochsPerDay is the chain's 30-second epochs in a day: at most one
// WinningPoSt per epoch is simulated.
const EpochsPerDay = 2880

// DefaultPoSt is an empty post block: one partition proved every 30
// minutes within its 30-minute deadline, and ten wins a day (a miner with
// about 0.07% of the network's power) proved within 25 seconds of the
// 30-second epoch.
func DefaultPoSt() PoSt {
	return PoSt{
		WindowEvery: 30 * time.Minute, WindowDeadline: 30 * time.Minute, WindowPartitions: 1,
		WinningPerDay: 10, WinningDeadline: 25 * time.Second,
	}
}

var postSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "window_post_every"}, {Name: "window_post_deadline"}, {Name: "window_post_partitions"},
		{Name: "winning_post_per_day"}, {Name: "winning_post_deadline"},
	},
}

// post reads the simulation block's post block, if any, into sim.Post.
func (d *decoder) post(sim *Simulation, blocks hcl.Blocks) {
	var first *hcl.Block
	for _, b := range blocks {
		if b.Type != "post" {
			continue
		}
		if first != nil {
			ctx := b.DefRange
			d.errorf(CodeConfig, b.TypeRange, &ctx, "Duplicate post block",
				"A post block was already given at %s. Merge the two: only one post block is allowed.", first.DefRange.String())
			continue
		}
		first = b
	}
	if first == nil {
		return
	}
	p := DefaultPoSt()
	p.Range = first.DefRange
	c := d.content(first.Body, postSchema)
	dur := func(name string, into *time.Duration) {
		if a := c.Attributes[name]; a != nil {
			if v, ok := d.durationOf(attrField(name, a), false); ok {
				*into = v
			}
		}
	}
	dur("window_post_every", &p.WindowEvery)
	dur("window_post_deadline", &p.WindowDeadline)
	dur("winning_post_deadline", &p.WinningDeadline)
	if a := c.Attributes["window_post_partitions"]; a != nil {
		if n, ok := d.intOf(attrField("window_post_partitions", a), 0, "it is how many WindowPoSt tasks each deadline submits (0 turns WindowPoSt off)"); ok {
			p.WindowPartitions = n
		}
	}
	if a := c.Attributes["winning_post_per_day"]; a != nil {
		f := attrField("winning_post_per_day", a)
		if v, ok := d.valueOf(f); ok {
			if v.IsNull() || v.Type() != cty.Number {
				d.wrongType(f, v, "a number (without quotes)")
			} else if n, _ := v.AsBigFloat().Float64(); !(n >= 0 && n <= EpochsPerDay) || math.IsInf(n, 0) {
				d.fieldErrorf(f, "Invalid value", "winning_post_per_day must be between 0 and %d (one win per 30-second epoch), not %s: it is the blocks won a day, as `lotus-miner info` estimates them; 0 turns WinningPoSt off.",
					EpochsPerDay, v.AsBigFloat().Text('g', -1))
			} else {
				p.WinningPerDay = n
			}
		}
	}
	sim.Post = &p
}
