package plan

import (
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/sealhost/sealhost/host/internal/config"
)

// with returns planB with f applied to a copy, for one-change cases.
func with(c *config.Config, f func(*config.Config)) *config.Config {
	f(c)
	return c
}

var (
	zen3Spec   = machineSpec{nodes: 1, coresPerNode: 32, l3Cores: 8, smt: true, nodeMem: 512 * gib, gpuNodes: []int{0}}
	singleL3   = machineSpec{nodes: 1, coresPerNode: 18, l3Cores: 18, smt: true, nodeMem: 256 * gib, gpuNodes: []int{0}}
	noGPUSpec  = machineSpec{nodes: 1, coresPerNode: 8, l3Cores: 4, nodeMem: 64 * gib}
	tightSeed  = machineSpec{nodes: 2, coresPerNode: 48, l3Cores: 3, nodeMem: 800 * gib, gpuNodes: []int{0, 1}}
	pc1Limit29 = map[config.Stage]int{config.StagePC1: 29}
)

// TestDiagnostics raises every diagnostic code and checks, for each, cases
// that must not raise it. want is the exact number of diagnostics with code.
func TestDiagnostics(t *testing.T) {
	seed := seedSpec
	c2gpu := func(dev string) func(*config.Processor) { return env("CUDA_VISIBLE_DEVICES", dev) }
	tree := env("FIL_PROOFS_USE_GPU_TREE_BUILDER", "1")
	tests := []struct {
		name string
		code config.Code
		cfg  *config.Config
		m    machineSpec
		want int
	}{
		{"plan B is clean of unknown plugins", config.CodeUnknownPlugin, planB(), seed, 0},
		{"processor names an undeclared plugin", config.CodeUnknownPlugin,
			cfg("32GiB", nil, nil, proc(config.StageC2, "", func(p *config.Processor) { p.Plugin = "ffj" })), seed, 1},

		{"plan B's locks are declared", config.CodeUnknownLock, planB(), seed, 0},
		{"processor holds an undeclared lock", config.CodeUnknownLock,
			cfg("32GiB", nil, map[string]int{"gpu1": 1}, proc(config.StageC2, "", locks("gpu1", "gpu3"))), seed, 1},

		{"all cpus present", config.CodeCPUNotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "0-95")), seed, 0},
		{"cpu 96 on a 96-cpu machine", config.CodeCPUNotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "0-96")), seed, 1},

		{"node 1 exists", config.CodeNUMANotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "48-95", numa(1))), seed, 0},
		{"node 2 does not", config.CodeNUMANotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "", numa(2))), seed, 1},

		{"GPU 1 of two", config.CodeGPUNotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "", c2gpu("1"))), seed, 0},
		{"a GPU UUID is not checked", config.CodeGPUNotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "", c2gpu("GPU-8f1e2d"))), seed, 0},
		{"GPU 2 of two", config.CodeGPUNotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "", c2gpu("0,2"))), seed, 1},
		{"GPU 0 on a machine without GPUs", config.CodeGPUNotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "", c2gpu("0"))), noGPUSpec, 1},
		{"not an index", config.CodeGPUNotPresent, cfg("32GiB", nil, nil, proc(config.StageC2, "", c2gpu("first"))), seed, 1},

		{"whole L3 groups", config.CodePC1PartialL3, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", sdr1)), seed, 0},
		{"inside one L3 group", config.CodePC1PartialL3, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-1", sdr1)), seed, 0},
		{"partial but multicore SDR off", config.CodePC1PartialL3, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-40")), seed, 0},
		{"partial but not pc1", config.CodePC1PartialL3, cfg("32GiB", nil, nil, proc(config.StagePC2, "0-40", sdr1)), seed, 0},
		{"whole cores by one thread each (SMT)", config.CodePC1PartialL3, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-15", sdr1)), zen3Spec, 0},
		{"0-40 cuts L3 group 13", config.CodePC1PartialL3, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-40", sdr1)), seed, 1},
		{"1-42 cuts two groups", config.CodePC1PartialL3, cfg("32GiB", nil, nil, proc(config.StagePC1, "1-42", sdr1)), seed, 1},

		{"cpuset inside the preferred node", config.CodeCPUSetNUMAMismatch, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", numa(0))), seed, 0},
		{"no preference", config.CodeCPUSetNUMAMismatch, cfg("32GiB", nil, nil, proc(config.StagePC1, "40-50")), seed, 0},
		{"all cpus on a one-node machine", config.CodeCPUSetNUMAMismatch, cfg("32GiB", nil, nil, proc(config.StagePC1, "", numa(0))), zen3Spec, 0},
		{"cpuset crosses to node 1", config.CodeCPUSetNUMAMismatch, cfg("32GiB", nil, nil, proc(config.StagePC1, "40-50", numa(0))), seed, 1},
		{"no cpuset on two nodes", config.CodeCPUSetNUMAMismatch, cfg("32GiB", nil, nil, proc(config.StagePC1, "", numa(1))), seed, 1},

		{"14 tasks, 14 units", config.CodePC1UnitsShort, planB(), seed, 0},
		{"SDR off: no units expected", config.CodePC1UnitsShort, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", conc(20))), seed, 0},
		{"15 tasks, 14 units", config.CodePC1UnitsShort, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", sdr1, conc(15))), seed, 1},
		{"3 producers fit no unit in 3 cores", config.CodePC1UnitsShort,
			cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", env("FIL_PROOFS_USE_MULTICORE_SDR", "1"))), seed, 1},

		{"plan B: pairs share a GPU through a lock", config.CodeGPUSharedWithoutLock, planB(), seed, 0},
		{"plan A: one GPU each", config.CodeGPUSharedWithoutLock, planA(), seed, 0},
		{"pc2 without the tree builder keeps off the GPU", config.CodeGPUSharedWithoutLock,
			cfg("32GiB", nil, nil, proc(config.StagePC2, "0-3", c2gpu("0")), proc(config.StageC2, "4-7", c2gpu("0"))), seed, 0},
		{"c2 with BELLMAN_NO_GPU", config.CodeGPUSharedWithoutLock,
			cfg("32GiB", nil, nil, proc(config.StagePC2, "0-3", tree, c2gpu("0")), proc(config.StageC2, "4-7", env("BELLMAN_NO_GPU", "1"))), seed, 0},
		{"two c2 under a c2 limit of 1", config.CodeGPUSharedWithoutLock,
			cfg("32GiB", map[config.Stage]int{config.StageC2: 1}, nil, proc(config.StageC2, "0-3"), proc(config.StageC2, "4-7")), seed, 0},
		{"pc2 and c2 on GPU 0, no lock", config.CodeGPUSharedWithoutLock,
			cfg("32GiB", nil, nil, proc(config.StagePC2, "0-3", tree, c2gpu("0")), proc(config.StageC2, "4-7", c2gpu("0"))), seed, 1},
		{"c2 without CUDA_VISIBLE_DEVICES sees pc2's GPU", config.CodeGPUSharedWithoutLock,
			cfg("32GiB", nil, nil, proc(config.StagePC2, "0-3", tree, c2gpu("1")), proc(config.StageC2, "4-7")), seed, 1},
		{"a lock of capacity 2 lets both run", config.CodeGPUSharedWithoutLock,
			cfg("32GiB", nil, map[string]int{"gpu": 2}, proc(config.StagePC2, "0-3", tree, c2gpu("0"), locks("gpu")), proc(config.StageC2, "4-7", c2gpu("0"), locks("gpu"))), seed, 1},

		{"plan B", config.CodeCPUOverlap, planB(), seed, 0},
		{"plan A", config.CodeCPUOverlap, planA(), seed, 0},
		{"pc2 on the core pc1's units leave idle", config.CodeCPUOverlap,
			cfg("32GiB", nil, nil, proc(config.StagePC1, "0-5", sdr1, conc(2)), proc(config.StagePC2, "2,5")), seed, 0},
		{"two c2 on one cpuset", config.CodeCPUOverlap,
			cfg("32GiB", nil, nil, proc(config.StageC2, "0-3"), proc(config.StageC2, "2-5")), seed, 1},
		{"pc2 on a pc1 unit core", config.CodeCPUOverlap,
			cfg("32GiB", nil, nil, proc(config.StagePC1, "0-5", sdr1, conc(2)), proc(config.StagePC2, "1")), seed, 1},
		{"an unbound pc1 task roams its whole cpuset", config.CodeCPUOverlap,
			cfg("32GiB", nil, nil, proc(config.StagePC1, "0-5", sdr1, conc(3)), proc(config.StagePC2, "2,5")), seed, 1},
		{"the SMT sibling of a unit core", config.CodeCPUOverlap,
			cfg("32GiB", nil, nil, proc(config.StagePC1, "0-7", sdr1, conc(1)), proc(config.StageC2, "32")), zen3Spec, 1},
		{"a processor without cpuset uses every cpu", config.CodeCPUOverlap,
			cfg("32GiB", nil, nil, proc(config.StagePC2, "0-3"), proc(config.StageC2, "")), seed, 1},

		{"plan B as config.hcl has it", config.CodeObsoleteEnv, planB(), seed, 0},
		{"FIL_PROOFS_MAXIMIZE_CACHING", config.CodeObsoleteEnv, cfg("32GiB", nil, nil, proc(config.StagePC1, "", env("FIL_PROOFS_MAXIMIZE_CACHING", "1"))), seed, 1},
		{"FIL_PROOFS_USE_FIL_BLST", config.CodeObsoleteEnv, cfg("32GiB", nil, nil, proc(config.StageC2, "", env("FIL_PROOFS_USE_FIL_BLST", "1"))), seed, 1},
		{"FIL_PROOFS_USE_GPU_COLUMN_BUILDER", config.CodeObsoleteEnv, cfg("32GiB", nil, nil, proc(config.StagePC2, "", env("FIL_PROOFS_USE_GPU_COLUMN_BUILDER", "1"))), seed, 1},

		{"limits equal to concurrency", config.CodeLimitUnreachable, planB(), seed, 0},
		{"limit below concurrency", config.CodeLimitUnreachable,
			cfg("32GiB", map[config.Stage]int{config.StagePC1: 10}, nil, proc(config.StagePC1, "0-41", conc(14))), seed, 0},
		{"pc1 limit 29 over 14+14", config.CodeLimitUnreachable,
			with(planB(), func(c *config.Config) { c.Limits = pc1Limit29 }), seed, 1},
		{"limit on a stage with no processor", config.CodeLimitUnreachable,
			cfg("32GiB", map[config.Stage]int{config.StageC1: 1}, nil, proc(config.StageC2, "")), seed, 1},

		{"plan B fits 1007 GiB nodes", config.CodeMemoryOvercommit, planB(), seed, 0},
		{"small sectors need little", config.CodeMemoryOvercommit,
			cfg("512MiB", nil, nil, proc(config.StagePC1, "", conc(20))), noGPUSpec, 0},
		{"28 unpreferred tasks split over two nodes", config.CodeMemoryOvercommit,
			cfg("32GiB", nil, nil, proc(config.StagePC1, "", conc(28))), seed, 0},
		{"plan B on 800 GiB nodes", config.CodeMemoryOvercommit, planB(), tightSeed, 2},
		{"32 unpreferred tasks split over two nodes", config.CodeMemoryOvercommit,
			cfg("32GiB", nil, nil, proc(config.StagePC1, "", conc(32))), seed, 2},
		{"64GiB sectors need twice as much", config.CodeMemoryOvercommit,
			with(planB(), func(c *config.Config) { c.SectorSize = config.SectorSize{Name: "64GiB", Bytes: 64 << 30} }), seed, 2},

		{"valid SDR settings", CodeEnvInvalid, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", env("FIL_PROOFS_USE_MULTICORE_SDR", "true", "FIL_PROOFS_MULTICORE_SDR_PRODUCERS", "1"))), seed, 0},
		{"zero producers with multicore SDR (pc1 hangs)", CodeEnvInvalid, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", env("FIL_PROOFS_USE_MULTICORE_SDR", "1", "FIL_PROOFS_MULTICORE_SDR_PRODUCERS", "0"))), seed, 1},
		{"zero producers without multicore SDR", CodeEnvInvalid, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", env("FIL_PROOFS_MULTICORE_SDR_PRODUCERS", "0"))), seed, 0},
		{"producers not a number", CodeEnvInvalid, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", env("FIL_PROOFS_USE_MULTICORE_SDR", "1", "FIL_PROOFS_MULTICORE_SDR_PRODUCERS", "two"))), seed, 1},
		{"multicore SDR not a boolean", CodeEnvInvalid, cfg("32GiB", nil, nil, proc(config.StagePC1, "0-41", env("FIL_PROOFS_USE_MULTICORE_SDR", "maybe"))), seed, 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.code)+"/"+tt.name, func(t *testing.T) {
			p := Build(tt.cfg, tt.m.build())
			got := codes(p)[string(tt.code)]
			if got != tt.want {
				t.Errorf("%d %s diagnostics, want %d; all: %v", got, tt.code, tt.want, p.Diagnostics)
			}
			for _, d := range p.Diagnostics {
				if config.CodeOf(d) != string(tt.code) {
					continue
				}
				if d.Summary == "" || d.Detail == "" {
					t.Errorf("diagnostic without summary or detail: %+v", d)
				}
				if (d.Severity == hcl.DiagError) != isError(tt.code) {
					t.Errorf("severity %v for %s", d.Severity, tt.code)
				}
			}
			if got > 0 && isError(tt.code) && !p.HasErrors() {
				t.Error("HasErrors is false with an error diagnostic")
			}
		})
	}
}

func isError(c config.Code) bool {
	switch c {
	case config.CodeUnknownPlugin, config.CodeUnknownLock, config.CodeCPUNotPresent, config.CodeNUMANotPresent,
		config.CodeGPUNotPresent, config.CodePC1PartialL3, CodeEnvInvalid:
		return true
	}
	return false
}
