package plan

import (
	"bytes"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
	"k8s.io/utils/cpuset"
)

// FuzzBuild plans a pc1 and a c2 processor with arbitrary cpusets, SDR
// settings, CUDA_VISIBLE_DEVICES and concurrency on three machines. Build
// must not panic, and the plan must keep its invariants: busy cpus are
// machine cpus, spare cpus are exactly the machine's cpus no processor keeps
// busy, and both outputs render.
func FuzzBuild(f *testing.F) {
	f.Add("0-41", "1", "1", "0", 14, "2,5,8")
	f.Add("0-40", "1", "1", "2", 15, "")
	f.Add("", "yes", "", "GPU-1,0", 1, "0-95")
	f.Add("1-42", "0", "x", "first", 0, "3")
	f.Add("32-39", "1", "7", "", 100, "0")
	specs := []machineSpec{seedSpec, zen3Spec, singleL3}
	f.Fuzz(func(t *testing.T, cpus, sdrOn, producers, cuda string, concurrent int, c2cpus string) {
		if concurrent < 0 || concurrent > 1000 {
			return
		}
		pc1 := proc(config.StagePC1, "", conc(concurrent),
			env("FIL_PROOFS_USE_MULTICORE_SDR", sdrOn, "FIL_PROOFS_MULTICORE_SDR_PRODUCERS", producers))
		if set, err := cpuset.Parse(cpus); err == nil && set.Size() > 0 && set.List()[set.Size()-1] < 4096 {
			pc1.CPUs, pc1.HasCPUs = set, true
		}
		c2 := proc(config.StageC2, "", env("CUDA_VISIBLE_DEVICES", cuda))
		if set, err := cpuset.Parse(c2cpus); err == nil && set.Size() > 0 && set.List()[set.Size()-1] < 4096 {
			c2.CPUs, c2.HasCPUs = set, true
		}
		for _, spec := range specs {
			m := spec.build()
			p := Build(cfg("32GiB", nil, nil, pc1, c2), m)
			all := newMachine(m).all
			busy := cpuset.New()
			for _, pr := range p.Processors {
				if !pr.Busy.IsSubsetOf(all) {
					t.Fatalf("%s busy %s outside the machine", pr.ID, pr.Busy)
				}
				busy = busy.Union(pr.Busy)
			}
			if !p.Spare.Equals(all.Difference(busy)) {
				t.Fatalf("spare %s, want %s", p.Spare, all.Difference(busy))
			}
			var b bytes.Buffer
			if err := p.WriteText(&b, true); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
		}
	})
}
