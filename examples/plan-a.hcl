# sealhost config: the seed document's Plan A for a dual AMD EPYC 7642
# (96 cores, SMT off: cpus 0-47 on NUMA node 0, 48-95 on node 1), 2 TiB of
# RAM and two RTX 3080s, sealing 32 GiB CC sectors.
#
#   28 pc1 (14 per socket), 1 pc2 and 1 c2. The pc2 owns GPU 0 and the c2
#   owns GPU 1, so no lock is needed and nothing waits on another stage.
#   Simpler than Plan B (config.hcl) at the price of one pc2 and one c2.
#
# Check it against the machine before starting anything:
#   bin/host plan -config examples/plan-a.hcl
# The seed's own reading: spare cpus are exactly 38,41,86,89.

sector_size = "32GiB"

# Relative paths resolve from this file's folder (examples/), hence "../".
plugin "ffi" {
  path = "../bin/plugins/ffi"
}

# Most tasks of a stage running at once, machine-wide (damocles
# limitation.concurrent).
limits {
  pc1 = 28
  pc2 = 1
  c2  = 1
}

# ---- pc1: one process per socket --------------------------------------
#
# The EPYC 7642 has 3 cores per L3 group. With multicore SDR and 1
# producer, each pc1 task runs on 2 cores (main + producer) of one L3
# group, leaving the group's third core free. A pc1 cpuset must cover whole
# L3 groups or rust-fil-proofs aborts: 0-41 is 14 groups, 14 tasks.
#
# Left out on purpose (the seed sets it; it does nothing today):
#   FIL_PROOFS_MAXIMIZE_CACHING - removed from rust-fil-proofs in Sept. 2020.

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

# ---- pc2 on GPU 0 ---------------------------------------------------------
#
# pc2 on a GPU uses the cpu only to move data, so it runs on the third core
# of eight L3 groups (four per socket) that pc1 leaves free.
#
# Left out on purpose:
#   FIL_PROOFS_USE_GPU_COLUMN_BUILDER - no effect of its own in current
#                                       rust-fil-proofs; the tree builder
#                                       already builds columns on the GPU.

processor "pc2" { # pc2.0
  plugin = "ffi"
  cpuset = "2,5,8,11,50,53,56,59"
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1" # tree_c and tree_r_last on the GPU
    CUDA_VISIBLE_DEVICES            = "0"
  }
}

# ---- c2 on GPU 1 ----------------------------------------------------------
#
# The remaining free third cores plus the six cores 42-47 and 90-95 that no
# pc1 uses.

processor "c2" { # c2.0
  plugin = "ffi"
  cpuset = "14,17,20,23,26,29,32,35,42-47,62,65,68,71,74,77,80,83,90-95"
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}

# Cpus 38,41,86,89 stay free for light work (monitoring, ssh, the host
# itself).
