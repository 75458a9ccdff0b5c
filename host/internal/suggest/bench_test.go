package suggest

import (
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/simulate"
)

// BenchmarkSuggestSeed is `host suggest` on the seed machine: the layout,
// both candidates written, parsed, planned and simulated for 30 days, and
// ranked. The target is under 2 s; BenchmarkSimulateConfigHCL, one
// `host simulate` of config.hcl on the same machine, is the baseline
// measured in the same run (suggest runs three such simulations, one a candidate).
func BenchmarkSuggestSeed(b *testing.B) {
	m := machine(b, "seed.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(Request{Machine: m, SectorSize: "32GiB", Spare: 4}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSimulateConfigHCL(b *testing.B) {
	m := machine(b, "seed.json")
	b.ReportAllocs()
	for b.Loop() {
		cfg, diags := config.Load("../../../config.hcl")
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		p := plan.Build(cfg, m)
		if _, err := simulate.Run(simulate.Request{Config: cfg, Plan: p, For: 30 * 24 * time.Hour, Step: time.Hour, Turnaround: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
}
