// Package plan places a decoded config on a machine before anything runs:
// where every processor's tasks will keep cpus busy, which cpus stay spare,
// how rust-fil-proofs' multicore SDR will cut each pc1 cpuset into units,
// which locks and GPUs processors share, and how much memory the pc1 tasks
// need on each NUMA node. What is wrong with the layout becomes a diagnostic
// with a stable code (see config.CodeOf), so `host plan` and `host validate`
// can show it at the line of the config that caused it.
//
// Data flows one way: config.Config and topology.Machine in, a *Plan out;
// the plan is only read afterwards, as text (WriteText) or JSON (WriteJSON,
// documented in docs/plan-json.md).
//
// The model, and the choices it makes where the field leaves room:
//
//   - Busy cpus of a processor are its whole cpuset, except for pc1 with
//     FIL_PROOFS_USE_MULTICORE_SDR on: then the cores of the units its
//     concurrent tasks take, with all their SMT siblings. When concurrent
//     exceeds the units that fit, the extra tasks run unbound anywhere in the
//     cpuset, so the whole cpuset counts as busy (and pc1-units-short fires).
//   - Units: producers+1 cores inside each L3 group the cpuset covers,
//     handed out one per group first, then a second per group; task i takes
//     unit i; each core binds its first hardware thread in the cpuset. A
//     cpuset inside one L3 group is cut into consecutive units (rust-fil-
//     proofs' heuristic for a single shared cache). A cpuset over several
//     groups covering one only in part is pc1-partial-l3.
//   - Two processors can run at once unless they share a lock of capacity
//     below 2 (each task takes one unit of a lock, so a pair needs 2) or are
//     of one stage whose limit is below 2. Only pairs that can run at once
//     are checked for cpu-overlap and gpu-shared-without-lock.
//   - A GPU is seen through CUDA_VISIBLE_DEVICES (a comma list of indices in
//     PCI bus order; UUID entries are not checked). A processor whose env
//     does not set it sees every GPU — inherit_env may pass the host's value,
//     which the plan cannot know. Only stages that put work on a GPU are
//     checked for sharing: c2 (unless BELLMAN_NO_GPU is set) and pc2 with
//     FIL_PROOFS_USE_GPU_TREE_BUILDER on. Tasks of one processor sharing its
//     GPUs are not flagged: bellperson serialises them through its lock file.
//   - Memory counts pc1 only: twice the sector size a task (64 GiB for
//     32GiB sectors), on the numa_preferred node when that node exists, else
//     split over the nodes of the processor's cpus in proportion to them.
package plan
