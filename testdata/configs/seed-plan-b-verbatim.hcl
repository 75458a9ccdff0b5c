# The seed document's Plan B (damocles-processor-config-example.zh.md),
# translated key for key from damocles-worker TOML, obsolete variables
# included. Test data: `host plan` must raise obsolete-env on it.
#
# Translation: [processors.limitation.concurrent] -> limits;
# [processors.ext_locks] NAME = N -> lock "NAME" { capacity = N };
# [[processors.STAGE]] -> processor "STAGE"; cgroup.cpuset -> cpuset;
# envs -> env. damocles runs its own binary; here a plugin block names it.
# The seed gives pc2 and c2 no `concurrent` (unbounded in damocles); ours
# defaults to 1, which the capacity-1 locks impose anyway.

sector_size = "32GiB"

plugin "ffi" {
  path = "../../bin/plugins/ffi"
}

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

processor "pc1" {
  plugin         = "ffi"
  numa_preferred = 0
  cpuset         = "0-41"
  concurrent     = 14
  env            = { FIL_PROOFS_MAXIMIZE_CACHING = "1", FIL_PROOFS_USE_MULTICORE_SDR = "1", FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "1" }
}

processor "pc1" {
  plugin         = "ffi"
  numa_preferred = 1
  cpuset         = "48-89"
  concurrent     = 14
  env            = { FIL_PROOFS_MAXIMIZE_CACHING = "1", FIL_PROOFS_USE_MULTICORE_SDR = "1", FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "1" }
}

processor "pc2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23"
  locks  = ["gpu1"]
  env    = { FIL_PROOFS_USE_GPU_COLUMN_BUILDER = "1", FIL_PROOFS_USE_GPU_TREE_BUILDER = "1", CUDA_VISIBLE_DEVICES = "0" }
}

processor "pc2" {
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71"
  locks  = ["gpu2"]
  env    = { FIL_PROOFS_USE_GPU_COLUMN_BUILDER = "1", FIL_PROOFS_USE_GPU_TREE_BUILDER = "1", CUDA_VISIBLE_DEVICES = "1" }
}

processor "c2" {
  plugin = "ffi"
  cpuset = "2,5,8,11,14,17,20,23,26,29,32,35,42-47"
  locks  = ["gpu1"]
  env    = { CUDA_VISIBLE_DEVICES = "0" }
}

processor "c2" {
  plugin = "ffi"
  cpuset = "50,53,56,59,62,65,68,71,74,77,80,83,90-95"
  locks  = ["gpu2"]
  env    = { CUDA_VISIBLE_DEVICES = "1" }
}
