# sealhost config written by `host suggest` for testdata/machines/seed.json:
# 32GiB sectors, strategy plan-a (each GPU dedicated to pc2 or c2), ranked 3
# of 3.
#
# 1 GPU for pc2 and 1 for c2 (split by their GPU time a sector, 12 and 15
# min), so no lock is needed and nothing waits on another stage.
#
# Simulated (`host simulate`, 30 days, fair policy, the real dispatcher and
# arbiter): 89.9 sectors a day, 93.7% of the bound 95.9 set by GPU 1, lock
# gpu2, c2 slots ((1440 min − 1 min of PoSt a day) ÷ 15 min of GPU work a
# sector (c2.0 15 min)). Past it the next limit is GPU 0 at 104.0 a day. Wait
# for a processor p50/p99/max in minutes: pc1 0/0/0, pc2 0/3.87/264, c2
# 26.63/69/98.5.
#
# PoSt (-post, the default workload in the simulation block below):
# window_post 1440 done, 0 missed of 1440 (due in 30 min), wait p50/p99/max
# 278/698/698 s; winning_post 321 done, 0 missed of 321 (due in 25 s), wait
# p50/p99/max 2/2/2 s, preempting gpu2 after 2 s. Sealing work lost to
# preemption: c2 317 tasks, 2438.9 min.
#
# plan-b-c2-first and plan-b finish the same within 1% (96.3 and 96.1 a day,
# both bound by GPU 0, lock gpu1); plan-b-c2-first ranks first for its waits:
# c2 p50 7 against 283.63 min, pc2 p50 286.13 against 6.13.
# plan-b-c2-first finishes 6.4 sectors a day more than plan-a (+7.2%): plan-a
# is bound by GPU 1, lock gpu2, c2 slots at 95.9 ((1440 min − 1 min of PoSt a
# day) ÷ 15 min of GPU work a sector (c2.0 15 min)), plan-b-c2-first by GPU 0,
# lock gpu1 at 98.4 ((1440 min − 192 min of PoSt a day) ÷ 12.68 min of GPU
# work a sector (pc2.0 12 min × 1/2 + c2.0 15 min × 0.445)).
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
  pc1          = 28
  pc2          = 1
  c2           = 1
  window_post  = 1
  winning_post = 1
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
  # PoSt goes before the fair order, the earliest deadline first: a WindowPoSt
  # that misses its deadline is a fault, a WinningPoSt has seconds. urgent_burst
  # (the default, written so it is seen) is how many urgent tasks in a row may
  # take a GPU while sealing waits for it.
  urgent       = ["winning_post", "window_post"]
  urgent_burst = 4
  # window_post on lock gpu1 waits at most a pc2 of 12 min and has 14 min to
  # spare within its 30 min: no preemption, which would only lose sealing work.
  # winning_post on lock gpu2 may wait for a c2 of 15 min, longer than the 19 s
  # its 25 s deadline leaves after its own 6 s run: past 2 s of waiting it
  # preempts the sealing task granted the lock last (cancelled, its work lost,
  # run again).
  preempt = {
    gpu2 = {
      winning_post = "2s"
    }
  }
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
# pc2.0: It holds lock gpu1 because PoSt shares GPU 0 (-post).
processor "pc2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,50,53,56,59"
  locks  = ["gpu1"]
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1"
    CUDA_VISIBLE_DEVICES            = "0"
  }
}

# c2.0: c2 owns GPU 1. 28 cores, every idle pc1 core and unused L3 group pc2
# and the spare do not take (c2 synthesises the circuits on the CPU before the
# GPU proves them).
# c2.0: It holds lock gpu2 because PoSt shares GPU 1 (-post).
processor "c2" {
  plugin = "ffi"
  cpuset = "14,17,20,23,26,29,32,35,42-47,62,65,68,71,74,77,80,83,90-95"
  locks  = ["gpu2"]
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}

# window_post.0: on GPU 0 behind its lock gpu1, with the cpus of pc2.0 (8): it
# runs only while it holds the lock, when they are stopped, so it takes no
# core from sealing or from the spare ones and has all of them for its vanilla
# proofs and circuit synthesis. The simulation does not model cores; its 4 min
# is the built-in table's (lotus-bench on an RTX 3090 with a whole EPYC 7662):
# time yours and give it with -durations window_post=....
processor "window_post" {
  plugin = "ffi"
  cpuset = "2,5,8,11,50,53,56,59"
  locks  = ["gpu1"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}

# winning_post.0: on GPU 1 behind its lock gpu2, with the cpus of c2.0 (28):
# it runs only while it holds the lock, when they are stopped, so it takes no
# core from sealing or from the spare ones and has all of them for its vanilla
# proofs and circuit synthesis. The simulation does not model cores; its 6 s
# is the built-in table's (lotus-bench on an RTX 3090 with a whole EPYC 7662):
# time yours and give it with -durations winning_post=....
processor "winning_post" {
  plugin = "ffi"
  cpuset = "14,17,20,23,26,29,32,35,42-47,62,65,68,71,74,77,80,83,90-95"
  locks  = ["gpu2"]
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}

# Cpus 38,41,86,89 stay free for light work (monitoring, ssh, the host
# itself).

# What `host simulate` of this file runs, so it reproduces the figures above.
simulation {
  # The PoSt workload (the defaults): set window_post_partitions to the
  # partitions your deadlines prove, winning_post_per_day to the blocks you
  # expect to win.
  post {
    window_post_every      = "30m"
    window_post_deadline   = "30m"
    window_post_partitions = 1
    winning_post_per_day   = 10
    winning_post_deadline  = "25s"
  }
}
