package plan

import (
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/sealhost/sealhost/host/internal/config"
)

// TestDiagnosticsPointAtTheCause: a diagnostic names the line to change,
// and a mistake does not echo as other warnings derived from it.
func TestDiagnosticsPointAtTheCause(t *testing.T) {
	line := func(n int) hcl.Range {
		return hcl.Range{Filename: "test.hcl", Start: hcl.Pos{Line: n, Column: 1}, End: hcl.Pos{Line: n, Column: 2}}
	}
	t.Run("a pc1 cutting an L3 group raises no overlaps from its unknown units", func(t *testing.T) {
		c := cfg("32GiB", nil, nil,
			proc(config.StagePC1, "0-4", sdr1), proc(config.StagePC2, "2,5"), proc(config.StageC2, "4"))
		p := Build(c, seedSpec.build())
		if n := codes(p)[string(config.CodePC1PartialL3)]; n != 1 {
			t.Fatalf("pc1-partial-l3 ×%d, want 1:\n%v", n, p.Diagnostics)
		}
		if n := codes(p)[string(config.CodeCPUOverlap)]; n != 0 {
			t.Fatalf("cpu-overlap ×%d derived from the broken pc1, want 0:\n%v", n, p.Diagnostics)
		}
	})
	t.Run("the overlaps of sound processors stay", func(t *testing.T) {
		c := cfg("32GiB", nil, nil, proc(config.StagePC2, "2,5"), proc(config.StageC2, "5"))
		if n := codes(Build(c, seedSpec.build()))[string(config.CodeCPUOverlap)]; n != 1 {
			t.Fatalf("cpu-overlap ×%d, want 1", n)
		}
	})
	gpuPair := func(c2 func(*config.Processor)) *config.Config {
		pc2 := proc(config.StagePC2, "0", env("FIL_PROOFS_USE_GPU_TREE_BUILDER", "1", "CUDA_VISIBLE_DEVICES", "0"))
		return cfg("32GiB", nil, map[string]int{"gpu1": 1}, pc2, proc(config.StageC2, "1", c2))
	}
	for _, tc := range []struct {
		name string
		c2   func(*config.Processor)
		want int
	}{
		{"CUDA_VISIBLE_DEVICES that puts c2 on pc2's GPU: its env line", func(p *config.Processor) {
			p.Env["CUDA_VISIBLE_DEVICES"] = "0"
			p.EnvRanges = map[string]hcl.Range{"CUDA_VISIBLE_DEVICES": line(30)}
			p.EnvRange, p.LocksRange, p.Range = line(29), line(20), line(18)
			p.Locks = []string{"gpu1"}
		}, 30},
		{"no CUDA_VISIBLE_DEVICES, so every GPU: the block", func(p *config.Processor) {
			p.LocksRange, p.Range = line(20), line(18)
			p.Locks = []string{"gpu1"}
		}, 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Build(gpuPair(tc.c2), seedSpec.build())
			for _, d := range p.Diagnostics {
				if config.CodeOf(d) != string(config.CodeGPUSharedWithoutLock) {
					continue
				}
				if d.Subject == nil || d.Subject.Start.Line != tc.want {
					t.Fatalf("gpu-shared-without-lock at %v, want line %d", d.Subject, tc.want)
				}
				return
			}
			t.Fatalf("no gpu-shared-without-lock:\n%v", p.Diagnostics)
		})
	}
}
