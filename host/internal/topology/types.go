package topology

import (
	"encoding/json"
	"fmt"

	"k8s.io/utils/cpuset"
)

// Machine is what a planner needs to know of a box: its cpus, how they group
// into NUMA nodes, L3 caches and cores, and its NVIDIA GPUs.
// It serialises to the JSON that `host topology -json` writes and
// `-topology FILE` reads.
//
// CPUs are sorted by ID, Nodes by ID, L3 by Index (which orders groups by
// their lowest cpu) and GPUs by Index (PCI bus order). The readers in this
// package return machines in that form and check it (see Validate); code that
// builds a Machine by hand should call Validate before using its methods.
type Machine struct {
	// Source says where it was read from (a path, or "live").
	Source string `json:"source,omitempty"`
	CPUs   []CPU  `json:"cpus"`
	Nodes  []Node `json:"nodes"`
	// L3 lists the L3 cache groups; CPU.L3 indexes it. It is in the JSON
	// so that a person reading the file sees the groups without having to
	// collect them from every cpu.
	L3   []L3Group `json:"l3_groups"`
	GPUs []GPU     `json:"gpus"`
}

// CPU is one logical cpu (hardware thread).
type CPU struct {
	ID      int `json:"id"`
	Package int `json:"package"`
	// Core is the core id within its package: cores are keyed by
	// (Package, Core), never by Core alone.
	Core int `json:"core"`
	Node int `json:"node"`
	// L3 is the index of the cpu's L3 group in Machine.L3Groups(), or -1
	// when the machine reports no L3.
	L3 int `json:"l3"`
	// Siblings are the hardware threads sharing this cpu's core, itself included.
	Siblings string `json:"siblings"`
}

// Node is a NUMA node.
type Node struct {
	ID          int    `json:"id"`
	CPUs        string `json:"cpus"` // canonical cpu list
	MemoryBytes uint64 `json:"memory_bytes"`
}

// GPU is an NVIDIA display or 3D controller.
type GPU struct {
	// Index is its position in PCI bus order, the order NVML uses and CUDA
	// uses with CUDA_DEVICE_ORDER=PCI_BUS_ID.
	Index   int    `json:"index"`
	Address string `json:"pci_address"`
	Device  string `json:"device_id"`
	Node    int    `json:"node"` // -1 when the kernel does not know
}

// L3Group is a set of cpus sharing one L3 cache.
type L3Group struct {
	Index int
	// Node is the NUMA node of the group's cpus, or -1 when they lie on
	// more than one node (Intel sub-NUMA clustering splits one L3 that way).
	Node int
	CPUs cpuset.CPUSet
}

// l3JSON is L3Group on the wire: cpuset.CPUSet has no JSON form of its own,
// and the kernel list syntax is what a person expects to read.
type l3JSON struct {
	Index int    `json:"index"`
	Node  int    `json:"node"`
	CPUs  string `json:"cpus"`
}

// MarshalJSON writes the group with its cpus as a canonical cpu list.
func (g L3Group) MarshalJSON() ([]byte, error) {
	return json.Marshal(l3JSON{Index: g.Index, Node: g.Node, CPUs: g.CPUs.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (g *L3Group) UnmarshalJSON(b []byte) error {
	var w l3JSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	set, err := parseCPUList(w.CPUs)
	if err != nil {
		return fmt.Errorf("l3 group %d: cpus %q: %v", w.Index, w.CPUs, err)
	}
	*g = L3Group{Index: w.Index, Node: w.Node, CPUs: set}
	return nil
}
