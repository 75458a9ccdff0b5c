# Deliberately broken: one mistake of each kind, all reported at once.
sector_size = "32GB"
confine     = "no"

plugin "ffi" {
  path   = "bin/plugins/ffi"
  sha256 = "abc123"
  argz   = []
}

plugin "ffi" {
  path = "bin/plugins/other"
}

limits {
  pc1 = 28
  pc3 = 2
  c2  = 0
}

stagger {
  pc1 = "30 seconds"
}

lock "gpu1" {
  capacity = 0
}

lock "gpu1" {}

arbiter {
  policy  = "fiar"
  weights = { pc2 = 1, c2 = -1, c2 = 2 }
}

processor "pc1" {
  plugin         = "fii"
  cpuset         = "0-41,"
  numa_preferred = -1
  concurrent     = 0
  memory_limit   = "900GB"
  timeout        = "6 hours"
}

processor "pc2" {
  plugin = "ffi"
  cpuset = "2,5,8,11"
  locks  = ["gpu3"]
  env    = { "BAD-NAME" = "1", CUDA_VISIBLE_DEVICES = 0, CUDA_VISIBLE_DEVICES = 1 }
  concurrent = 1
  concurrent = 2
}

processor "pc11" {
  plugin = "ffi"
}

simulation {
  sealing_threads = 1.5
  wait_seed       = "80m"
  durations       = { pc1 = "320m", c3 = "1m" }
}
