# sealhost config written by `host suggest` for testdata/machines/seed.json:
# 32GiB sectors, strategy plan-b (pc2 + c2 paired on each GPU behind a lock),
# ranked 2 of 3.
#
# Each GPU carries one pc2 and one c2, with the cores of its own node; a
# capacity-1 lock keeps them from running on it at once (a pc2 and a c2
# together run an RTX 3080 out of memory, damocles #572), so they may share
# cores.
#
# Simulated (`host simulate`, 30 days, fair policy, the real dispatcher and
# arbiter): 105.8 sectors a day, 99.2% of the bound 106.7 set by GPU 0, GPU 1,
# lock gpu1, lock gpu2 (1440 min ÷ 13.5 min of GPU work a sector (pc2.0 12 min
# × 1/2 + c2.0 15 min × 1/2)). Past it the next limit is c2 slots at 192.0 a
# day. Wait for a processor p50/p99/max in minutes: pc1 0/0/177, pc2
# 11/89/246, c2 244/256/274.
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
  pc2 = 2
  c2  = 2
}

# One lock per GPU. capacity is a count of holders, not a GPU index: 1 means
# one task on that GPU at a time.
lock "gpu1" {
  capacity = 1
}

lock "gpu2" {
  capacity = 1
}

# "fair" (the default, written out so it is seen) shares each lock between the
# stages and never leaves it idle while a task waits; greedy is damocles'
# behaviour.
arbiter {
  policy = "fair"
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

# pc2.0: GPU 0's pair, lock gpu1. 8 cores (with the GPU tree builder pc2 only
# moves data to the GPU), the first of GPU 0's share of cores.
processor "pc2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23"
  locks  = ["gpu1"]
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1"
    CUDA_VISIBLE_DEVICES            = "0"
  }
}

# c2.0: GPU 0's pair, lock gpu1. 18 cores, the whole share (c2 synthesises the
# circuits on the CPU before the GPU proves them); it shares pc2's cores and
# GPU: the lock means they never run at once.
processor "c2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23,26,29,32,35,42-47"
  locks  = ["gpu1"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}

# pc2.1: GPU 1's pair, lock gpu2. 8 cores (with the GPU tree builder pc2 only
# moves data to the GPU), the first of GPU 1's share of cores.
processor "pc2" {
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71"
  locks  = ["gpu2"]
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1"
    CUDA_VISIBLE_DEVICES            = "1"
  }
}

# c2.1: GPU 1's pair, lock gpu2. 18 cores, the whole share (c2 synthesises the
# circuits on the CPU before the GPU proves them); it shares pc2's cores and
# GPU: the lock means they never run at once.
processor "c2" {
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71,74,77,80,83,90-95"
  locks  = ["gpu2"]
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}

# Cpus 38,41,86,89 stay free for light work (monitoring, ssh, the host
# itself).
