package plan

import (
	"fmt"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

const gib = uint64(1) << 30

// machineSpec describes a hand-built machine: nodes of consecutive cores,
// L3 groups of l3Cores consecutive cores, and with smt each core's second
// thread numbered after all first threads (as Linux numbers them).
type machineSpec struct {
	nodes, coresPerNode, l3Cores int
	smt                          bool
	nodeMem                      uint64
	gpuNodes                     []int
	noL3                         bool
}

func (s machineSpec) build() *topology.Machine {
	m := &topology.Machine{Source: "test"}
	cores := s.nodes * s.coresPerNode
	threads := 1
	if s.smt {
		threads = 2
	}
	for t := 0; t < threads; t++ {
		for c := 0; c < cores; c++ {
			id := t*cores + c
			sib := fmt.Sprint(c)
			if s.smt {
				sib = fmt.Sprintf("%d,%d", c, c+cores)
			}
			l3 := c / s.l3Cores
			if s.noL3 {
				l3 = -1
			}
			m.CPUs = append(m.CPUs, topology.CPU{ID: id, Package: c / s.coresPerNode, Core: c % s.coresPerNode, Node: c / s.coresPerNode, L3: l3, Siblings: sib})
		}
	}
	for n := 0; n < s.nodes; n++ {
		var ids []int
		for _, c := range m.CPUs {
			if c.Node == n {
				ids = append(ids, c.ID)
			}
		}
		m.Nodes = append(m.Nodes, topology.Node{ID: n, CPUs: cpuset.New(ids...).String(), MemoryBytes: s.nodeMem})
	}
	for i, n := range s.gpuNodes {
		m.GPUs = append(m.GPUs, topology.GPU{Index: i, Address: fmt.Sprintf("0000:%02x:00.0", 0x41+i*0x40), Device: "0x2206", Node: n})
	}
	return m
}

// seedSpec is the seed document's box: 2 x EPYC 7642, SMT off, 3 cores per
// L3, about 1 TiB a node, two GPUs.
var seedSpec = machineSpec{nodes: 2, coresPerNode: 48, l3Cores: 3, nodeMem: 1007 * gib, gpuNodes: []int{0, 1}}

func mustCPUs(s string) cpuset.CPUSet {
	c, err := cpuset.Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

func intp(n int) *int { return &n }

// proc builds a processor block; opts adjust it.
func proc(stage config.Stage, cpus string, opts ...func(*config.Processor)) config.Processor {
	p := config.Processor{Stage: stage, Plugin: "ffi", Concurrent: 1, InheritEnv: true, Env: map[string]string{}}
	if cpus != "" {
		p.CPUs, p.HasCPUs = mustCPUs(cpus), true
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func numa(n int) func(*config.Processor) {
	return func(p *config.Processor) { p.NUMAPreferred = intp(n) }
}
func conc(n int) func(*config.Processor) { return func(p *config.Processor) { p.Concurrent = n } }
func locks(l ...string) func(*config.Processor) {
	return func(p *config.Processor) { p.Locks = l }
}
func env(kv ...string) func(*config.Processor) {
	return func(p *config.Processor) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Env[kv[i]] = kv[i+1]
		}
	}
}

var sdr1 = env("FIL_PROOFS_USE_MULTICORE_SDR", "1", "FIL_PROOFS_MULTICORE_SDR_PRODUCERS", "1")

// cfg builds a config of procs, numbering ids per stage as config does.
func cfg(size string, limits map[config.Stage]int, lks map[string]int, procs ...config.Processor) *config.Config {
	bytes := map[string]uint64{"2KiB": 2 << 10, "8MiB": 8 << 20, "512MiB": 512 << 20, "32GiB": 32 << 30, "64GiB": 64 << 30}
	c := &config.Config{File: "test.hcl", SectorSize: config.SectorSize{Name: size, Bytes: bytes[size]},
		Plugins: []config.Plugin{{Name: "ffi", Path: "/bin/ffi"}}, Limits: limits}
	var names []string
	for n := range lks {
		names = append(names, n)
	}
	sortStrings(names)
	for _, n := range names {
		c.Locks = append(c.Locks, config.Lock{Name: n, Capacity: lks[n]})
	}
	count := map[config.Stage]int{}
	for _, p := range procs {
		p.Index = count[p.Stage]
		p.ID = fmt.Sprintf("%s.%d", p.Stage, p.Index)
		count[p.Stage]++
		c.Processors = append(c.Processors, p)
	}
	return c
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// planB is the seed's Plan B without the variables that have no effect.
func planB() *config.Config {
	return cfg("32GiB",
		map[config.Stage]int{config.StagePC1: 28, config.StagePC2: 2, config.StageC2: 2},
		map[string]int{"gpu1": 1, "gpu2": 1},
		proc(config.StagePC1, "0-41", numa(0), conc(14), sdr1),
		proc(config.StagePC1, "48-89", numa(1), conc(14), sdr1),
		proc(config.StagePC2, "2,5,8,11,14,17,20,23", locks("gpu1"), env("FIL_PROOFS_USE_GPU_TREE_BUILDER", "1", "CUDA_VISIBLE_DEVICES", "0")),
		proc(config.StagePC2, "50,53,56,59,62,65,68,71", locks("gpu2"), env("FIL_PROOFS_USE_GPU_TREE_BUILDER", "1", "CUDA_VISIBLE_DEVICES", "1")),
		proc(config.StageC2, "2,5,8,11,14,17,20,23,26,29,32,35,42-47", locks("gpu1"), env("CUDA_VISIBLE_DEVICES", "0")),
		proc(config.StageC2, "50,53,56,59,62,65,68,71,74,77,80,83,90-95", locks("gpu2"), env("CUDA_VISIBLE_DEVICES", "1")),
	)
}

// planA is the seed's Plan A without the variables that have no effect.
func planA() *config.Config {
	return cfg("32GiB",
		map[config.Stage]int{config.StagePC1: 28, config.StagePC2: 1, config.StageC2: 1}, nil,
		proc(config.StagePC1, "0-41", numa(0), conc(14), sdr1),
		proc(config.StagePC1, "48-89", numa(1), conc(14), sdr1),
		proc(config.StagePC2, "2,5,8,11,50,53,56,59", env("FIL_PROOFS_USE_GPU_TREE_BUILDER", "1", "CUDA_VISIBLE_DEVICES", "0")),
		proc(config.StageC2, "14,17,20,23,26,29,32,35,42-47,62,65,68,71,74,77,80,83,90-95", env("CUDA_VISIBLE_DEVICES", "1")),
	)
}
