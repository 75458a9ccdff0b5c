package topology

import (
	"reflect"
	"testing"

	"k8s.io/utils/cpuset"
)

func mustSet(t *testing.T, s string) cpuset.CPUSet {
	t.Helper()
	set, err := cpuset.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func setStrings(sets []cpuset.CPUSet) []string {
	out := []string{}
	for _, s := range sets {
		out = append(out, s.String())
	}
	return out
}

// TestTestMachines states, by hand, what each test machine must read as.
func TestTestMachines(t *testing.T) {
	type l3 struct {
		index int
		want  string
		node  int
	}
	tests := []struct {
		name      string
		cpus      string
		nodes     map[int]string
		memory    map[int]uint64
		l3count   int
		l3        []l3
		siblings  map[int]string
		smt       bool
		packages  []int
		gpus      []GPU
		coresOf   string   // a cpuset for Cores
		cores     []string // what Cores returns for it
		sameCoreI []int    // two cpus with the same core id on different packages
	}{
		{
			name:     "seed",
			cpus:     "0-95",
			nodes:    map[int]string{0: "0-47", 1: "48-95"},
			memory:   map[int]uint64{0: tib, 1: tib},
			l3count:  32,
			l3:       []l3{{0, "0-2", 0}, {1, "3-5", 0}, {12, "36-38", 0}, {13, "39-41", 0}, {15, "45-47", 0}, {16, "48-50", 1}, {28, "84-86", 1}, {29, "87-89", 1}, {31, "93-95", 1}},
			siblings: map[int]string{0: "0", 47: "47", 48: "48", 95: "95"},
			packages: []int{0, 1},
			gpus: []GPU{
				{Index: 0, Address: "0000:01:00.0", Device: "0x2206", Node: 0},
				{Index: 1, Address: "0000:81:00.0", Device: "0x2206", Node: 1},
			},
			coresOf:   "0-2,48",
			cores:     []string{"0", "1", "2", "48"},
			sameCoreI: []int{0, 48},
		},
		{
			name:     "zen3-7543",
			cpus:     "0-63",
			nodes:    map[int]string{0: "0-63"},
			memory:   map[int]uint64{0: 512 * gib},
			l3count:  4,
			l3:       []l3{{0, "0-7,32-39", 0}, {1, "8-15,40-47", 0}, {2, "16-23,48-55", 0}, {3, "24-31,56-63", 0}},
			siblings: map[int]string{0: "0,32", 32: "0,32", 31: "31,63", 63: "31,63"},
			smt:      true,
			packages: []int{0},
			gpus:     []GPU{{Index: 0, Address: "0000:41:00.0", Device: "0x2231", Node: 0}},
			// one thread of a core brings in the whole core
			coresOf: "0-1,33,40",
			cores:   []string{"0,32", "1,33", "8,40"},
		},
		{
			name:     "intel-w2295",
			cpus:     "0-35",
			nodes:    map[int]string{0: "0-35"},
			memory:   map[int]uint64{0: 256 * gib},
			l3count:  1,
			l3:       []l3{{0, "0-35", 0}},
			siblings: map[int]string{0: "0,18", 17: "17,35", 35: "17,35"},
			smt:      true,
			packages: []int{0},
			// the ASPEED BMC display at 0000:03:00.0 is not listed
			gpus:    []GPU{{Index: 0, Address: "0000:65:00.0", Device: "0x24b0", Node: 0}},
			coresOf: "0-35",
			cores:   []string{"0,18", "1,19", "2,20", "3,21", "4,22", "5,23", "6,24", "7,25", "8,26", "9,27", "10,28", "11,29", "12,30", "13,31", "14,32", "15,33", "16,34", "17,35"},
		},
	}
	for _, tt := range tests {
		for _, how := range []string{"sysfs", "json"} {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				var m *Machine
				var err error
				if how == "sysfs" {
					m, err = FromSysfs(sysRoot(tt.name))
				} else {
					m, err = FromJSON(jsonPath(tt.name))
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := m.CPUSet().String(); got != tt.cpus {
					t.Errorf("CPUSet() = %s, want %s", got, tt.cpus)
				}
				if got := len(m.Nodes); got != len(tt.nodes) {
					t.Errorf("%d nodes, want %d", got, len(tt.nodes))
				}
				for id, want := range tt.nodes {
					if !m.HasNode(id) {
						t.Errorf("HasNode(%d) = false", id)
					}
					if got := m.NodeCPUs(id).String(); got != want {
						t.Errorf("NodeCPUs(%d) = %s, want %s", id, got, want)
					}
					if got := m.NodeMemory(id); got != tt.memory[id] {
						t.Errorf("NodeMemory(%d) = %d, want %d", id, got, tt.memory[id])
					}
				}
				if m.HasNode(len(tt.nodes)) || !m.NodeCPUs(7).IsEmpty() || m.NodeMemory(7) != 0 {
					t.Errorf("a node the machine lacks reads as present")
				}
				groups := m.L3Groups()
				if len(groups) != tt.l3count {
					t.Fatalf("%d L3 groups, want %d", len(groups), tt.l3count)
				}
				for _, w := range tt.l3 {
					g := groups[w.index]
					if g.Index != w.index || g.CPUs.String() != w.want || g.Node != w.node {
						t.Errorf("L3 group %d = {%d %d %s}, want {%d %d %s}", w.index, g.Index, g.Node, g.CPUs, w.index, w.node, w.want)
					}
					for _, c := range g.CPUs.List() {
						if cpu, _ := m.CPU(c); cpu.L3 != w.index {
							t.Errorf("cpu %d: L3 %d, want %d", c, cpu.L3, w.index)
						}
					}
				}
				for cpu, want := range tt.siblings {
					if got := m.Siblings(cpu).String(); got != want {
						t.Errorf("Siblings(%d) = %s, want %s", cpu, got, want)
					}
				}
				if !m.Siblings(1000).IsEmpty() {
					t.Errorf("Siblings of a missing cpu is not empty")
				}
				if _, ok := m.CPU(1000); ok {
					t.Errorf("CPU(1000) found")
				}
				if m.SMT() != tt.smt {
					t.Errorf("SMT() = %v, want %v", m.SMT(), tt.smt)
				}
				if got := m.Packages(); !reflect.DeepEqual(got, tt.packages) {
					t.Errorf("Packages() = %v, want %v", got, tt.packages)
				}
				if !reflect.DeepEqual(m.GPUs, tt.gpus) {
					t.Errorf("GPUs = %+v, want %+v", m.GPUs, tt.gpus)
				}
				for _, g := range tt.gpus {
					if got, ok := m.GPUByIndex(g.Index); !ok || got != g {
						t.Errorf("GPUByIndex(%d) = %+v, %v", g.Index, got, ok)
					}
				}
				if _, ok := m.GPUByIndex(len(tt.gpus)); ok {
					t.Errorf("GPUByIndex(%d) found a GPU the machine lacks", len(tt.gpus))
				}
				if _, ok := m.GPUByIndex(-1); ok {
					t.Errorf("GPUByIndex(-1) found a GPU")
				}
				if got := setStrings(m.Cores(mustSet(t, tt.coresOf))); !reflect.DeepEqual(got, tt.cores) {
					t.Errorf("Cores(%s) = %v, want %v", tt.coresOf, got, tt.cores)
				}
				if tt.sameCoreI != nil {
					a, _ := m.CPU(tt.sameCoreI[0])
					b, _ := m.CPU(tt.sameCoreI[1])
					if a.Core != b.Core || a.Package == b.Package {
						t.Fatalf("test machine should repeat core ids across packages: cpu %d %+v, cpu %d %+v", a.ID, a, b.ID, b)
					}
					if n := len(m.Cores(cpuset.New(a.ID, b.ID))); n != 2 {
						t.Errorf("cpus %d and %d share core id %d on different packages: Cores gives %d cores, want 2", a.ID, b.ID, a.Core, n)
					}
				}
			})
		}
	}
}

// TestCoresEveryCPUOnce: the cores of the whole machine partition its cpus.
func TestCoresEveryCPUOnce(t *testing.T) {
	for _, spec := range testMachines {
		t.Run(spec.name, func(t *testing.T) {
			m, err := FromJSON(jsonPath(spec.name))
			if err != nil {
				t.Fatal(err)
			}
			seen := cpuset.New()
			cores := m.Cores(m.CPUSet())
			for _, c := range cores {
				if !seen.Intersection(c).IsEmpty() {
					t.Errorf("core %s overlaps another", c)
				}
				seen = seen.Union(c)
			}
			if !seen.Equals(m.CPUSet()) {
				t.Errorf("cores cover %s, want %s", seen, m.CPUSet())
			}
			if want := spec.packages * spec.cores; len(cores) != want {
				t.Errorf("%d cores, want %d", len(cores), want)
			}
		})
	}
}
