// Package topology reads what a planner needs to know of a machine: its
// cpus, how they group into NUMA nodes, L3 cache groups, cores and
// packages, and its NVIDIA GPUs.
//
// A Machine comes from the live machine (Live, reading /sys), from a tree
// laid out like /sys (FromSysfs, so that tests and operators can describe a
// machine they do not sit at), or from the JSON that WriteJSON writes
// (FromJSON, so that a plan can be made on a laptop for a box in the rack).
// Load picks one of the three from a command-line value.
//
// Sysfs is read directly rather than through a hardware library: the files
// involved are few and exact, and libraries get two things wrong that matter
// here. Cores are keyed by their sibling lists (or by package and core id),
// never by core id alone, which repeats on every package of a multi-socket
// machine. GPUs are found by PCI vendor 0x10de and display/3D class,
// numbered in PCI bus order — the order NVML uses, and CUDA with
// CUDA_DEVICE_ORDER=PCI_BUS_ID — without needing pci.ids or a driver.
//
// WriteText renders a machine for a person: per NUMA node its memory, cpus
// and L3 groups side by side, then the GPUs.
package topology
