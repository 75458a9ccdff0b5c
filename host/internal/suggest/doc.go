// Package suggest designs a config for a machine the way the seed document
// does by hand, then lets the simulator judge the designs. It backs `host
// suggest`.
//
// The seed's reasoning, turned into rules (layout.go):
//
//   - pc1 gets one processor per NUMA node over whole L3 groups, because
//     rust-fil-proofs' multicore SDR cuts a cpuset into units of producers
//   - 1 cores inside each L3 group and aborts on a partial group. The
//     producer count is the largest (up to rust-fil-proofs' default 3)
//     whose units fill a group and still leave a core of it idle: on the
//     EPYC 7642's 3-core groups that is 1 producer, 2-core units, the third
//     core idle. Those idle cores share the L3 with pc1 and carry the light
//     work. A group without such a fit takes the most units that fit.
//   - pc1 concurrency per node is what memory holds: the plan's 2 × sector
//     a task, in the node's memory less 2% for the kernel (the seed counts
//     1.96 of 2 TiB usable) and the parent cache (56 GiB for 32GiB
//     sectors, in every node's page cache that pc1 reads it into). pc1
//     takes the node's first groups in cpu order, as few as hold that many
//     units; on the seed machine 1 TiB gives 14 tasks, hence 0-41, and the
//     last two groups stay whole for c2.
//   - The spare cores (-spare, 4 by default as in the seed) are spread over
//     the nodes and taken from the idle pc1 cores, last first: a lone core
//     beside pc1 is worth least to c2, which gets whole groups too.
//   - pc2 gets 8 cores a processor (in plan-a, an even share of a pool too
//     small for that): with the GPU tree builder it only moves data to the
//     GPU (the seed gives it eight idle third cores). c2 gets
//     every core left: bellperson synthesises the circuits on the CPU before
//     the GPU proves them, and that part grows with the cores it is given.
//
// Strategies for the GPUs (strategy.go), each a complete config:
//
//   - plan-a, each GPU dedicated to one stage: GPUs are split between pc2
//     and c2 in proportion to their GPU time, pc2's cores drawn evenly from
//     every node; on two GPUs exactly the seed's Plan A.
//   - plan-b, pc2 and c2 paired on each GPU behind a capacity-1 lock, with
//     the cores of the GPU's own node: the seed's Plan B.
//   - plan-b-c2-first, plan-b with the arbiter weighing c2 so its share of
//     each GPU is a little above what it needs. Paired GPUs run full either
//     way, and the sectors in flight beyond what they take must wait
//     somewhere: with equal weights before c2, after their pre-commit went
//     on chain and with its prove-commit deadline running; weighted, before
//     pc2, with nothing on chain yet. On the seed machine it is exactly the
//     shipped config.hcl. Candidates within 1% of each other in sectors a
//     day rank by c2's wait.
//
// PoSt (-post, post.go). A storage provider proves on the GPUs that seal,
// so every candidate gets the PoSt processors asked for, each behind its
// GPU's capacity-1 lock and urgent in the arbiter:
//
//   - WindowPoSt (48 partitions a day of 4 min) goes on the GPU with the
//     least sealing time a sector, so it takes the least from the
//     bottleneck: on plan-a that is pc2's GPU, which has time to spare.
//     WinningPoSt goes on another GPU when there is one: urgent work is
//     never preempted for urgent work, so a WinningPoSt behind a
//     WindowPoSt misses its 25 s (on one GPU it does, and says so).
//   - Each takes the cpus of the sealing processors on its GPU. It runs
//     only while it holds the GPU's lock, when they cannot, so it costs no
//     sealing core and no spare one, and it gets many cores for its
//     vanilla proofs and synthesis; the simulation does not model cores.
//   - Preemption only where the deadline needs it: when the longest sealing
//     hold on the lock (a 15 min c2) exceeds what the deadline leaves after
//     the task's own run and the other urgent work there. That is
//     WinningPoSt's lock (19 s of slack), never WindowPoSt's with the
//     built-in times (26 min), where preempting would only lose sealing
//     work; it is written in the per-stage form so the lock is preempted
//     for that stage only.
//
// Candidates are then simulated with the default PoSt workload, written
// out in the file's simulation block for the operator to edit, and one
// that misses a deadline ranks below every one that does not (fewer
// misses first), the reason shown: a missed WindowPoSt is a fault, a
// missed WinningPoSt a lost block, which no sealing throughput pays for.
//
// Every candidate is written as HCL, parsed back by package config, placed
// by package plan (no error, no cpu-overlap, no gpu-shared-without-lock:
// else it is dropped and the reason shown), and simulated for 30 days
// under the fair policy; candidates are ranked by simulated sectors per
// day, each with the bound that limits it (simulate.Bound). The best is
// written with comments that say why each cpuset and what the simulation
// showed, and `host validate` accepts it as is.
package suggest
