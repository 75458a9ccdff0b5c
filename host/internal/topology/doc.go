// Package topology reads what a planner needs to know of a machine: its
// cpus, how they group into NUMA nodes, L3 cache groups, cores and
// packages, and its NVIDIA GPUs.
//
// A Machine comes from the live machine (Live, reading /sys), from a tree
// laid out like /sys (FromSysfs, or FromFS for a tree in memory, so that
// tests and operators can describe a machine they do not sit at), or from
// the JSON that WriteJSON writes (FromJSON, so that a plan can be made on a
// laptop for a box in the rack). Load picks one of the three from a
// command-line value. Every reader checks the machine with Validate, which
// the methods of Machine rely on.
//
// Sysfs is read directly rather than through a hardware library: the files
// involved are few and exact, and libraries get two things wrong that matter
// here. Cores are keyed by their sibling lists (or by package and core id),
// never by core id alone, which repeats on every package of a multi-socket
// machine. GPUs are found by PCI vendor 0x10de and display/3D class,
// numbered in PCI bus order — the order NVML uses, and CUDA with
// CUDA_DEVICE_ORDER=PCI_BUS_ID — without needing pci.ids or a driver.
//
// # JSON
//
// `host topology -json` writes one object, one list item a line:
//
//	{
//	  "source": "live",
//	  "cpus": [
//	    {"id":0,"package":0,"core":0,"node":0,"l3":0,"siblings":"0,32"},
//	    ...
//	  ],
//	  "nodes": [
//	    {"id":0,"cpus":"0-63","memory_bytes":549755813888}
//	  ],
//	  "l3_groups": [
//	    {"index":0,"node":0,"cpus":"0-7,32-39"},
//	    ...
//	  ],
//	  "gpus": [
//	    {"index":0,"pci_address":"0000:41:00.0","device_id":"0x2231","node":0}
//	  ]
//	}
//
// Cpu lists are in the kernel's syntax, canonical. A cpu's "l3" is the index
// of its L3 group or -1; a group's or GPU's "node" is -1 when unknown (a GPU
// the firmware did not place, an L3 spanning nodes). "source" is
// informational: FromJSON replaces it with the file's path. Unknown fields
// are errors.
//
// WriteText renders a machine for a person: per NUMA node its memory, cpus
// and L3 groups side by side, then the GPUs.
package topology
