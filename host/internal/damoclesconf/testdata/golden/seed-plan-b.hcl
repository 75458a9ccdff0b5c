# sealhost config imported by `host import` from seed-plan-b.toml (damocles-worker).
# Every place it behaves differently from damocles was printed by the import,
# with its TOML line. Check it against the machine before running it:
#   host validate -config THIS_FILE

sector_size = "32GiB"

# damocles' built-in processors (no bin): filecoin-ffi, as plugins/ffi
plugin "ffi" {
  path = "bin/plugins/ffi"
}

# processors.limitation.concurrent: most tasks of a stage at once
limits {
  pc1 = 28
  pc2 = 2
  c2  = 2
}

lock "gpu1" {
  capacity = 1
}

lock "gpu2" {
  capacity = 1
}

# pc1.0: [[processors.pc1]] at seed-plan-b.toml:14
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

# pc1.1: [[processors.pc1]] at seed-plan-b.toml:20
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

# pc2.0: [[processors.pc2]] at seed-plan-b.toml:26
processor "pc2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23"
  locks  = ["gpu1"]
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1"
    CUDA_VISIBLE_DEVICES            = "0"
  }
}

# c2.0: [[processors.c2]] at seed-plan-b.toml:36
processor "c2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23,26,29,32,35,42-47"
  locks  = ["gpu1"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}

# pc2.1: [[processors.pc2]] at seed-plan-b.toml:31
processor "pc2" {
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71"
  locks  = ["gpu2"]
  env = {
    FIL_PROOFS_USE_GPU_TREE_BUILDER = "1"
    CUDA_VISIBLE_DEVICES            = "1"
  }
}

# c2.1: [[processors.c2]] at seed-plan-b.toml:41
processor "c2" {
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71,74,77,80,83,90-95"
  locks  = ["gpu2"]
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}
