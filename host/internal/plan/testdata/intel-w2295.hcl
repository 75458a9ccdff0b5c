# A single Xeon W-2295 (18 cores, one L3 for all, SMT on: cpus N and N+18
# are one core's threads), 256 GiB, one GPU, 32 GiB sectors.
#
# With one shared cache rust-fil-proofs cuts pc1's cores into consecutive
# units: 2 producers make units of 3 cores, and cores 0-8 hold three.
# Memory allows three pc1 tasks (3 x 64 GiB). pc2 and c2 take turns on the
# GPU and the other cores through lock gpu0, except core 17 (cpus 17,35),
# left spare.
#
# The pc1 limit of 4 is one more than the processor runs: the plan warns
# (limit-unreachable).

sector_size = "32GiB"

plugin "ffi" {
  path = "bin/plugins/ffi"
}

limits {
  pc1 = 4
}

lock "gpu0" {
  capacity = 1
}

processor "pc1" {
  plugin     = "ffi"
  cpuset     = "0-8,18-26"
  concurrent = 3
  env        = { FIL_PROOFS_USE_MULTICORE_SDR = "1", FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "2" }
}

processor "pc2" {
  plugin = "ffi"
  cpuset = "9-16,27-34"
  locks  = ["gpu0"]
  env    = { FIL_PROOFS_USE_GPU_TREE_BUILDER = "1", CUDA_VISIBLE_DEVICES = "0" }
}

processor "c2" {
  plugin = "ffi"
  cpuset = "9-16,27-34"
  locks  = ["gpu0"]
  env    = { CUDA_VISIBLE_DEVICES = "0" }
}
