package topology

import "k8s.io/utils/cpuset"

// Machine is what a planner needs to know of a box: its cpus, how they group
// into NUMA nodes, L3 caches and cores, and its NVIDIA GPUs.
// It serialises to the JSON that `host topology -json` writes and
// `-topology FILE` reads.
type Machine struct {
	// Source says where it was read from (a path, or "live").
	Source string `json:"source,omitempty"`
	CPUs   []CPU  `json:"cpus"`
	Nodes  []Node `json:"nodes"`
	GPUs   []GPU  `json:"gpus"`
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
	Node  int
	CPUs  cpuset.CPUSet
}
