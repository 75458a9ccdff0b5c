# A single EPYC 7543 (Zen 3: 32 cores in 4 L3 groups of 8, SMT on, cpus
# N and N+32 are one core's threads), 512 GiB, one GPU, 32 GiB sectors.
#
# pc1 takes L3 groups 0-2 with 3 producers: units of 4 cores, two per group,
# six tasks (6 x 64 GiB = 384 GiB). pc2 and c2 share group 3 and the GPU
# and take turns through lock gpu0. Cores 24-25 stay spare for operations.

sector_size = "32GiB"

plugin "ffi" {
  path = "bin/plugins/ffi"
}

limits {
  pc1 = 6
  pc2 = 1
  c2  = 1
}

lock "gpu0" {
  capacity = 1
}

processor "pc1" {
  plugin         = "ffi"
  numa_preferred = 0
  cpuset         = "0-23,32-55"
  concurrent     = 6
  env            = { FIL_PROOFS_USE_MULTICORE_SDR = "1", FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "3" }
}

processor "pc2" {
  plugin = "ffi"
  cpuset = "26-31,58-63"
  locks  = ["gpu0"]
  env    = { FIL_PROOFS_USE_GPU_TREE_BUILDER = "1", CUDA_VISIBLE_DEVICES = "0" }
}

processor "c2" {
  plugin = "ffi"
  cpuset = "26-31,58-63"
  locks  = ["gpu0"]
  env    = { CUDA_VISIBLE_DEVICES = "0" }
}
