package plan

import (
	"sort"
	"strings"

	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

// machine is the planner's index over a topology.Machine. It is built from
// the per-cpu fields only (ID, Node, L3, Siblings), so the planner depends on
// the smallest part of the Machine contract and works on hand-built machines
// in tests just as on loaded ones.
type machine struct {
	src  *topology.Machine
	all  cpuset.CPUSet
	cpus map[int]topology.CPU
	// nodes in ID order, with their cpus and memory.
	nodes    []node
	nodeByID map[int]int // node id -> index in nodes
	// l3 groups in order of their lowest cpu; a machine that reports no L3
	// is treated as one group holding every cpu, which is what
	// rust-fil-proofs does when it finds no more than one shared cache.
	l3 []l3group
	// l3Of maps a cpu to its index in l3.
	l3Of map[int]int
	// coreOf maps a cpu to the canonical sibling list of its core: cores are
	// keyed by their hardware threads, never by core id alone.
	coreOf map[int]cpuset.CPUSet
	gpus   []topology.GPU
}

type node struct {
	id     int
	cpus   cpuset.CPUSet
	memory uint64
}

type l3group struct {
	index int // as reported by the machine (CPU.L3), or -1
	cpus  cpuset.CPUSet
	// cores in the order rust-fil-proofs walks them (hwloc logical order,
	// which follows the lowest hardware thread of each core).
	cores []cpuset.CPUSet
}

func newMachine(m *topology.Machine) *machine {
	x := &machine{
		src:      m,
		cpus:     map[int]topology.CPU{},
		nodeByID: map[int]int{},
		l3Of:     map[int]int{},
		coreOf:   map[int]cpuset.CPUSet{},
	}
	if m == nil {
		return x
	}
	ids := make([]int, 0, len(m.CPUs))
	byL3 := map[int][]int{}
	for _, c := range m.CPUs {
		x.cpus[c.ID] = c
		ids = append(ids, c.ID)
		byL3[c.L3] = append(byL3[c.L3], c.ID)
	}
	x.all = cpuset.New(ids...)
	for _, c := range m.CPUs {
		sib, err := cpuset.Parse(strings.TrimSpace(c.Siblings))
		if err != nil || sib.Size() == 0 || !sib.Contains(c.ID) {
			sib = cpuset.New(c.ID)
		}
		// A sibling the machine does not list is not a cpu we can plan.
		x.coreOf[c.ID] = sib.Intersection(x.all)
	}

	nodeCPUs := map[int][]int{}
	for _, c := range m.CPUs {
		nodeCPUs[c.Node] = append(nodeCPUs[c.Node], c.ID)
	}
	mem := map[int]uint64{}
	for _, n := range m.Nodes {
		mem[n.ID] = n.MemoryBytes
		if _, ok := nodeCPUs[n.ID]; !ok {
			nodeCPUs[n.ID] = nil // a memory-only node is still a node
		}
	}
	nids := make([]int, 0, len(nodeCPUs))
	for id := range nodeCPUs {
		nids = append(nids, id)
	}
	sort.Ints(nids)
	for _, id := range nids {
		x.nodeByID[id] = len(x.nodes)
		x.nodes = append(x.nodes, node{id: id, cpus: cpuset.New(nodeCPUs[id]...), memory: mem[id]})
	}

	var groups []l3group
	if _, none := byL3[-1]; none || len(byL3) == 0 {
		// No L3 reported for some cpu: rust-fil-proofs would then find a
		// single shared cache (or none) and group heuristically.
		groups = []l3group{{index: -1, cpus: x.all}}
	} else {
		for idx, cs := range byL3 {
			groups = append(groups, l3group{index: idx, cpus: cpuset.New(cs...)})
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].cpus.List()[0] < groups[j].cpus.List()[0] })
	for i := range groups {
		groups[i].cores = x.coresIn(groups[i].cpus)
		for _, c := range groups[i].cpus.List() {
			x.l3Of[c] = i
		}
	}
	x.l3 = groups
	x.gpus = append([]topology.GPU(nil), m.GPUs...)
	sort.Slice(x.gpus, func(i, j int) bool { return x.gpus[i].Index < x.gpus[j].Index })
	return x
}

// coresIn returns the cores that have at least one hardware thread in set,
// each as its full sibling list, ordered by lowest thread.
func (x *machine) coresIn(set cpuset.CPUSet) []cpuset.CPUSet {
	seen := map[int]bool{}
	var cores []cpuset.CPUSet
	for _, c := range set.List() {
		core := x.coreOf[c]
		first := core.List()[0]
		if seen[first] {
			continue
		}
		seen[first] = true
		cores = append(cores, core)
	}
	sort.Slice(cores, func(i, j int) bool { return cores[i].List()[0] < cores[j].List()[0] })
	return cores
}

// nodeOf returns the NUMA node id of cpu c.
func (x *machine) nodeOf(c int) int { return x.cpus[c].Node }

// hasNode reports whether the machine has NUMA node id.
func (x *machine) hasNode(id int) bool {
	_, ok := x.nodeByID[id]
	return ok
}

// nodeCPUs returns the cpus of NUMA node id.
func (x *machine) nodeCPUs(id int) cpuset.CPUSet {
	if i, ok := x.nodeByID[id]; ok {
		return x.nodes[i].cpus
	}
	return cpuset.New()
}

// l3Label is how a group is named to a person: the machine's own index.
func (x *machine) l3Label(i int) int { return x.l3[i].index }

// hasGPU reports whether a GPU with this index (PCI bus order) exists.
func (x *machine) hasGPU(index int) bool {
	for _, g := range x.gpus {
		if g.Index == index {
			return true
		}
	}
	return false
}
