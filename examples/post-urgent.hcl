# The seed machine's config (config.hcl, plan B) with the miner's PoSt on
# the same box: WindowPoSt on GPU 0 and WinningPoSt on GPU 1, each on two
# of the spare cpus, sharing the GPU locks with pc2 and c2. The arbiter's
# urgent class lets PoSt jump the fair queue, and preemption bounds a
# WinningPoSt's wait by 2 s plus the time a cancelled c2 takes to stop
# (README: "Urgent work").
#
#   bin/host plan -config examples/post-urgent.hcl -topology testdata/machines/seed.json
#   bin/host simulate -config examples/post-urgent.hcl

sector_size = "32GiB"

# One plugin binary serves every stage through filecoin-ffi. Relative paths
# resolve from this file's folder.
plugin "ffi" {
  path = "bin/plugins/ffi"
}

# Most tasks of a stage running at once, machine-wide (damocles
# limitation.concurrent). pc1 = 28 is the two pc1 processors' 14 + 14.
limits {
  pc1 = 28
  pc2 = 2
  c2  = 2
}

# One lock per GPU. capacity is a count of holders, not a GPU index: 1 means
# one task on that GPU at a time. A pc2 and a c2 on one RTX 3080 at once run
# the card out of memory (damocles #572).
lock "gpu1" {
  capacity = 1
}

lock "gpu2" {
  capacity = 1
}

# What `host simulate -topology testdata/machines/seed.json -policy all`
# shows: the GPUs bind at 2 × 1440 ÷ (12 + 15) min = 106.7 sectors a day
# (pc1 could do 228), and fair, fifo and greedy all reach 106, 99.5% of it:
# no stage starves here (the seed's warning). "fair" is the default.
arbiter {
  policy = "fair"
  # Weights only choose where the ~19 sectors in flight beyond the GPUs
  # wait: equal weights queue them for c2 (p50 244 min), after pre-commit;
  # c2 = 1.5 entitles it to 60% of a GPU, above its 56% need, so they queue
  # for pc2 instead (p50 245 min, c2 7 min), before anything is on chain.
  weights = { pc2 = 1, c2 = 1.5 }
  # PoSt goes before the fair order: by deadline, at most 4 in a row on a
  # GPU while sealing waits for it (urgent_burst, the default).
  urgent = ["winning_post", "window_post"]
  # A WinningPoSt has seconds: past 2 s of waiting for a GPU, the sealing
  # task granted it last is cancelled and requeued (its work is lost). A
  # WindowPoSt waits for one c2 at most and has 30 minutes: preempting for
  # it would only lose sealing work (README: "Urgent work").
  preempt = { gpu2 = { winning_post = "2s" } }
}

# ---- pc1: one process per socket --------------------------------------
#
# The EPYC 7642 has 3 cores per L3 group. With multicore SDR and 1
# producer, rust-fil-proofs runs each pc1 task on a unit of 2 cores (main +
# producer) inside one L3 group, so each group carries one task and leaves
# its third core free (cpus 2,5,8,… below are those free cores). A pc1
# cpuset must cover whole L3 groups or rust-fil-proofs aborts: 0-41 is 14
# groups, 14 tasks.
#
# Left out on purpose (the seed sets them; they do nothing today):
#   FIL_PROOFS_MAXIMIZE_CACHING - removed from rust-fil-proofs in Sept. 2020,
#                                 ignored since.
# The parent cache (56 GiB for 32 GiB sectors) is shared by every pc1
# through the page cache whatever is set.

processor "pc1" { # pc1.0
  plugin         = "ffi"
  cpuset         = "0-41"
  numa_preferred = 0 # memory from node 0 first: a preference, not a bind
  concurrent     = 14
  env = {
    FIL_PROOFS_USE_MULTICORE_SDR       = "1"
    FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "1" # default 3 fits no unit in a 3-core group
  }
}

processor "pc1" { # pc1.1
  plugin         = "ffi"
  cpuset         = "48-89"
  numa_preferred = 1
  concurrent     = 14
  env = {
    FIL_PROOFS_USE_MULTICORE_SDR       = "1"
    FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "1"
  }
}

# ---- GPU group 1 (socket 0, GPU 0, lock gpu1) ----------------------------
#
# pc2 on a GPU uses the cpu only to move data, so it lives on the third
# core of eight L3 groups that pc1 leaves free. Its c2 shares those cores
# and the GPU: the lock means they never run at once.
#
# Left out on purpose:
#   FIL_PROOFS_USE_GPU_COLUMN_BUILDER - no effect of its own in current
#                                       rust-fil-proofs; the tree builder
#                                       below already builds columns on the GPU.
# CUDA_VISIBLE_DEVICES numbers GPUs in CUDA's order; set CUDA_DEVICE_ORDER
# = "PCI_BUS_ID" in env if your driver's order differs from the PCI bus
# order `host topology` shows.

processor "pc2" { # pc2.0
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23"
  locks  = ["gpu1"]
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1" # tree_c and tree_r_last on the GPU
    CUDA_VISIBLE_DEVICES            = "0"
  }
}

processor "c2" { # c2.0
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23,26,29,32,35,42-47"
  locks  = ["gpu1"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}

# ---- GPU group 2 (socket 1, GPU 1, lock gpu2) ----------------------------

processor "pc2" { # pc2.1
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71"
  locks  = ["gpu2"]
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1"
    CUDA_VISIBLE_DEVICES            = "1"
  }
}

processor "c2" { # c2.1
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71,74,77,80,83,90-95"
  locks  = ["gpu2"]
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}

# Cpus 38,41,86,89 stay free for light work (monitoring, ssh, the host
# itself).

# ---- PoSt: the GPU is the lock ----------------------------------------
processor "window_post" { # window_post.0
  plugin = "ffi"
  cpuset = "38,41"
  locks  = ["gpu1"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}
processor "winning_post" { # winning_post.0
  plugin = "ffi"
  cpuset = "86,89"
  locks  = ["gpu2"]
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}
