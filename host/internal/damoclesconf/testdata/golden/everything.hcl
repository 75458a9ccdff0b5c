# sealhost config imported by `host import` from everything.toml (damocles-worker).
# Every place it behaves differently from damocles was printed by the import,
# with its TOML line. Check it against the machine before running it:
#   host validate -config THIS_FILE

sector_size = "32GiB"

# damocles' built-in processors (no bin): filecoin-ffi, as plugins/ffi
plugin "ffi" {
  path = "bin/plugins/ffi"
}

# /opt/vendor/bin/pc2-gpu under the damocles bridge (plugins/damocles)
plugin "damocles-pc2-pc2-gpu" {
  path = "bin/plugins/damocles"
  args = ["-stage", "pc2", "-stable-wait", "30s", "--", "/opt/vendor/bin/pc2-gpu", "processor", "pc2", "--gpu"]
}

# bin/c2-cluster under the damocles bridge (plugins/damocles)
plugin "damocles-c2-c2-cluster" {
  path = "bin/plugins/damocles"
  args = ["-stage", "c2", "--", "bin/c2-cluster", "processor", "c2"]
}

# /opt/vendor/bin/unseal under the damocles bridge (plugins/damocles)
plugin "damocles-unseal-unseal" {
  path = "bin/plugins/damocles"
  args = ["-stage", "unseal", "--", "/opt/vendor/bin/unseal", "processor", "unseal"]
}

# /opt/vendor/bin/snap-prove under the damocles bridge (plugins/damocles)
plugin "damocles-snap_prove-snap-prove" {
  path = "bin/plugins/damocles"
  args = ["-stage", "snap_prove", "--", "/opt/vendor/bin/snap-prove", "processor", "snap_prove"]
}

# processors.limitation.concurrent: most tasks of a stage at once
limits {
  tree_d = 2
  pc1    = 4
  pc2    = 2
  c2     = 1
}

# processors.limitation.staggered: least time between two task starts of a stage
stagger {
  pc1    = "2m30s"
  unseal = "1m"
}

lock "gpu" {
  capacity = 1
}

lock "spare" {
  capacity = 2
}

# not in ext_locks (damocles: no limit); capacity 1 chosen by host import (everything.toml:75)
lock "gpu_2" {
  capacity = 1
}

# tree_d.0: [[processors.tree_d]] at everything.toml:44
processor "tree_d" {
  plugin     = "ffi"
  cpuset     = "40-45"
  concurrent = 2
}

# pc1.0: [[processors.pc1]] at everything.toml:49
processor "pc1" {
  plugin         = "ffi"
  cpuset         = "0-7"
  numa_preferred = 0
  concurrent     = 2
  env = {
    FIL_PROOFS_USE_MULTICORE_SDR       = "1"
    FIL_PROOFS_MULTICORE_SDR_PRODUCERS = "1"
  }
  inherit_env = false
}

# pc1.1: [[processors.pc1]] at everything.toml:58
processor "pc1" {
  plugin     = "ffi"
  cpuset     = "8-15"
  concurrent = 4
}

# pc2.0: [[processors.pc2]] at everything.toml:62
processor "pc2" {
  plugin = "damocles-pc2-pc2-gpu"
  cpuset = "16-23"
  locks  = ["gpu"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}

# c2.0: [[processors.c2]] at everything.toml:77
processor "c2" {
  plugin = "damocles-c2-c2-cluster"
  locks  = ["gpu"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}

# snap_prove.0: [[processors.snap_prove]] at everything.toml:92
processor "snap_prove" {
  plugin = "damocles-snap_prove-snap-prove"
  locks  = ["gpu"]
}

# pc2.1: [[processors.pc2]] at everything.toml:71
processor "pc2" {
  plugin     = "damocles-pc2-pc2-gpu"
  concurrent = 2
  locks      = ["gpu_2"]
}

# unseal.0: [[processors.unseal]] at everything.toml:86
processor "unseal" {
  plugin = "damocles-unseal-unseal"
}

# [[sealing_thread]] blocks of the worker: sectors in flight, for `host simulate`
simulation {
  sealing_threads = 2
}
