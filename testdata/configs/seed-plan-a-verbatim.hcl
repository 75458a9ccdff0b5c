# The seed document's Plan A (damocles-processor-config-example.zh.md),
# translated key for key from damocles-worker TOML, obsolete variables
# included. Test data: `host plan` must raise obsolete-env on it.
#
# Translation: [processors.limitation.concurrent] -> limits;
# [[processors.STAGE]] -> processor "STAGE"; cgroup.cpuset -> cpuset;
# envs -> env. damocles runs its own binary; here a plugin block names it.
# The seed gives pc2 and c2 no `concurrent` (unbounded in damocles); ours
# defaults to 1, which the stage limits of 1 impose anyway.

sector_size = "32GiB"

plugin "ffi" {
  path = "../../bin/plugins/ffi"
}

limits {
  pc1 = 28
  pc2 = 1
  c2  = 1
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
  cpuset = "2,5,8,11,50,53,56,59"
  env    = { FIL_PROOFS_USE_GPU_COLUMN_BUILDER = "1", FIL_PROOFS_USE_GPU_TREE_BUILDER = "1", CUDA_VISIBLE_DEVICES = "0" }
}

processor "c2" {
  plugin = "ffi"
  cpuset = "14,17,20,23,26,29,32,35,42-47,62,65,68,71,74,77,80,83,90-95"
  env    = { CUDA_VISIBLE_DEVICES = "1" }
}
