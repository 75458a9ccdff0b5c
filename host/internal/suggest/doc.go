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
// Every candidate is written as HCL, parsed back by package config, placed
// by package plan (no error, no cpu-overlap, no gpu-shared-without-lock:
// else it is dropped and the reason shown), and simulated for 30 days
// under the fair policy; candidates are ranked by simulated sectors per
// day, each with the bound that limits it (simulate.Bound). The best is
// written with comments that say why each cpuset and what the simulation
// showed, and `host validate` accepts it as is.
package suggest
