# sealhost config written by `host suggest` for testdata/machines/seed.json:
# 32GiB sectors, strategy plan-a (each GPU dedicated to pc2 or c2), ranked 3
# of 3.
#
# 1 GPU for pc2 and 1 for c2 (split by their GPU time a sector, 12 and 15
# min), so no lock is needed and nothing waits on another stage.
#
# Simulated (`host simulate`, 30 days, fair policy, the real dispatcher and
# arbiter): 95.4 sectors a day, 99.4% of the bound 96.0 set by GPU 1, c2 slots
# (1440 min ÷ 15 min of GPU work a sector (c2.0 15 min)). Past it the next
# limit is GPU 0 at 120.0 a day. Wait for a processor p50/p99/max in minutes:
# pc1 0/0/0, pc2 0/0/228, c2 15/15/57.
#
# plan-b-c2-first and plan-b finish the same within 1% (106.1 and 105.8 a day,
# both bound by GPU 0, GPU 1, lock gpu1, lock gpu2); plan-b-c2-first ranks
# first for its waits: c2 p50 7 against 244 min, pc2 p50 245 against 11.
# plan-b-c2-first finishes 10.7 sectors a day more than plan-a (+11.2%):
# plan-a is bound by GPU 1, c2 slots at 96.0 (1440 min ÷ 15 min of GPU work a
# sector (c2.0 15 min)), plan-b-c2-first by GPU 0, GPU 1, lock gpu1, lock gpu2
# at 106.7 (1440 min ÷ 13.5 min of GPU work a sector (pc2.0 12 min × 1/2 +
# c2.0 15 min × 1/2)).
#
# Check it against the machine: host validate -config config.hcl -topology
# testdata/machines/seed.json

sector_size = "32GiB"

# One plugin binary serves every stage through filecoin-ffi. Relative paths
# resolve from this file's folder.
plugin "ffi" {
  path = "bin/plugins/ffi"
}

# Most tasks of a stage running at once: each stage's processors' concurrent
# summed.
limits {
  pc1 = 28
  pc2 = 1
  c2  = 1
}

# pc1.0: NUMA node 0, 14 whole L3 groups. 1 producer: units of 2 cores fit
# each 3-core L3 group 1 time (1 idle); 1024 GiB less 2% and the 56 GiB parent
# cache holds 14 tasks of 64 GiB, so pc1 takes 14 of the node's 16 groups.
processor "pc1" {
  plugin         = "ffi"
  cpuset         = "0-41"
  numa_preferred = 0
  concurrent     = 14
  env = {
    FIL_PROOFS_USE_MULTICORE_SDR       = "1"
    FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "1"
  }
}

# pc1.1: NUMA node 1, 14 whole L3 groups. 1 producer: units of 2 cores fit
# each 3-core L3 group 1 time (1 idle); 1024 GiB less 2% and the 56 GiB parent
# cache holds 14 tasks of 64 GiB, so pc1 takes 14 of the node's 16 groups.
processor "pc1" {
  plugin         = "ffi"
  cpuset         = "48-89"
  numa_preferred = 1
  concurrent     = 14
  env = {
    FIL_PROOFS_USE_MULTICORE_SDR       = "1"
    FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "1"
  }
}

# pc2.0: pc2 owns GPU 0. 8 cores (with the GPU tree builder pc2 only moves
# data to the GPU), drawn evenly from every node: pc2 reads the layers of
# sectors whose pc1 ran on either node.
processor "pc2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,50,53,56,59"
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1"
    CUDA_VISIBLE_DEVICES            = "0"
  }
}

# c2.0: c2 owns GPU 1. 28 cores, every idle pc1 core and unused L3 group pc2
# and the spare do not take (c2 synthesises the circuits on the CPU before the
# GPU proves them).
processor "c2" {
  plugin = "ffi"
  cpuset = "14,17,20,23,26,29,32,35,42-47,62,65,68,71,74,77,80,83,90-95"
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}

# Cpus 38,41,86,89 stay free for light work (monitoring, ssh, the host
# itself).
