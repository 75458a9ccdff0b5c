package topology

import (
	"sort"

	"k8s.io/utils/cpuset"
)

// The methods below answer the planner's questions. They assume a machine
// that passed Validate (every reader in this package checks it) and never
// change it; a question about a cpu, node or GPU the machine lacks gets an
// empty answer or false, never a panic.

// CPUSet returns every cpu of the machine.
func (m *Machine) CPUSet() cpuset.CPUSet {
	ids := make([]int, len(m.CPUs))
	for i, c := range m.CPUs {
		ids[i] = c.ID
	}
	return cpuset.New(ids...)
}

// CPU returns the cpu with the given id.
func (m *Machine) CPU(id int) (CPU, bool) {
	i := sort.Search(len(m.CPUs), func(i int) bool { return m.CPUs[i].ID >= id })
	if i < len(m.CPUs) && m.CPUs[i].ID == id {
		return m.CPUs[i], true
	}
	return CPU{}, false
}

// L3Groups returns the L3 cache groups, ordered by their lowest cpu; a
// group's Index is its position. It is empty when the machine reports no
// L3. The slice is a copy (cpuset.CPUSet itself is immutable).
func (m *Machine) L3Groups() []L3Group {
	return append([]L3Group(nil), m.L3...)
}

// L3GroupsOn returns the L3 groups whose cpus all lie on the given node,
// in index order.
func (m *Machine) L3GroupsOn(node int) []L3Group {
	var out []L3Group
	for _, g := range m.L3 {
		if g.Node == node {
			out = append(out, g)
		}
	}
	return out
}

// HasNode reports whether the machine has a NUMA node with that id.
func (m *Machine) HasNode(id int) bool {
	_, ok := m.node(id)
	return ok
}

// NodeIDs returns the ids of the NUMA nodes in increasing order.
func (m *Machine) NodeIDs() []int {
	ids := make([]int, len(m.Nodes))
	for i, n := range m.Nodes {
		ids[i] = n.ID
	}
	return ids
}

// NodeCPUs returns the cpus of a NUMA node; it is empty for a node without
// cpus or a node the machine lacks.
func (m *Machine) NodeCPUs(node int) cpuset.CPUSet {
	var ids []int
	for _, c := range m.CPUs {
		if c.Node == node {
			ids = append(ids, c.ID)
		}
	}
	return cpuset.New(ids...)
}

// NodeMemory returns a NUMA node's memory in bytes; 0 when the node is
// unknown or its memory was not reported.
func (m *Machine) NodeMemory(id int) uint64 {
	n, _ := m.node(id)
	return n.MemoryBytes
}

func (m *Machine) node(id int) (Node, bool) {
	for _, n := range m.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// Siblings returns the hardware threads sharing cpu's core, cpu included;
// it is empty when the machine lacks the cpu.
func (m *Machine) Siblings(cpu int) cpuset.CPUSet {
	c, ok := m.CPU(cpu)
	if !ok {
		return cpuset.New()
	}
	set, err := parseCPUList(c.Siblings)
	if err != nil {
		// Validate rejects this; a hand-built machine that skipped it
		// still gets a sane answer.
		return cpuset.New(cpu)
	}
	return set
}

// Cores returns the cores that have at least one hardware thread in set,
// each as its full sibling set (threads outside set included: a pc1 unit
// bound to one thread of a core keeps the whole core busy), ordered by
// lowest cpu. Cores are told apart by sibling set, never by core id, which
// repeats across packages.
func (m *Machine) Cores(set cpuset.CPUSet) []cpuset.CPUSet {
	seen := map[string]bool{}
	var out []cpuset.CPUSet
	for _, id := range set.List() {
		if _, ok := m.CPU(id); !ok {
			continue
		}
		sib := m.Siblings(id)
		if k := sib.String(); !seen[k] {
			seen[k] = true
			out = append(out, sib)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].List()[0] < out[j].List()[0] })
	return out
}

// SMT reports whether any core has more than one online hardware thread.
func (m *Machine) SMT() bool {
	for _, c := range m.CPUs {
		if m.Siblings(c.ID).Size() > 1 {
			return true
		}
	}
	return false
}

// Packages returns the ids of the physical packages (sockets) in
// increasing order.
func (m *Machine) Packages() []int {
	seen := map[int]bool{}
	var ids []int
	for _, c := range m.CPUs {
		if !seen[c.Package] {
			seen[c.Package] = true
			ids = append(ids, c.Package)
		}
	}
	sort.Ints(ids)
	return ids
}

// GPUByIndex returns the GPU with index i (PCI bus order, as NVML and
// CUDA_DEVICE_ORDER=PCI_BUS_ID number them).
func (m *Machine) GPUByIndex(i int) (GPU, bool) {
	if i < 0 || i >= len(m.GPUs) || m.GPUs[i].Index != i {
		return GPU{}, false
	}
	return m.GPUs[i], true
}
