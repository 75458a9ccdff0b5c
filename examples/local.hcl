# sealhost config for any Linux machine with 2 cpus or more: the demo that
# `make demo` runs (`bin/host seal -config examples/local.hcl -sectors 8`).
#
# It seals 2 KiB sectors with plugins/mock, which produces FAKE proofs and
# commitments (plugins/mock/README.md) but does the work's shape for real:
# each stage call takes a set time, keeps busy threads spinning on the
# processor's cpus and holds memory charged to its cgroup. Everything else
# is the real host: plugin processes started through the confinement shim
# into cgroups with these cpusets and limits, the dispatcher, the limits
# and one GPU-style lock shared fairly between pc2 and c2.
#
# HCL has no way to ask for the cpu count, so only cpus 0 and 1 are used:
# cpu 0 carries the short stages, cpu 1 the long pc1, and pc2/c2 (which on
# a real box would sit on a GPU) run on cpu 0 under the lock. Five
# processors on two cpus must share them: `host plan` warns of three
# cpu-overlaps, expected here (on a real box they would be mistakes).
#
# Check it against the machine:
#   bin/host plan -config examples/local.hcl

sector_size = "2KiB"

# Relative paths resolve from this file's folder (examples/), hence "../".
# Stage times are short so 8 sectors seal in well under a minute; the
# ratio between them is roughly the real one (pc1 longest, c1 shortest).
plugin "mock" {
  path = "../bin/plugins/mock"
  args = [
    "-duration", "tree_d=300ms,pc1=2s,pc2=800ms,c1=200ms,c2=1s",
    "-busy-threads", "1",
    "-memory", "16MiB",
  ]
}

# Most tasks of a stage running at once, machine-wide.
limits {
  pc1 = 2
  pc2 = 1
  c2  = 1
}

# Stands for one GPU. capacity is a count of holders: pc2 and c2 never run
# on it at the same time (on a real card both at once run out of memory).
lock "gpu0" {
  capacity = 1
}

# fair shares gpu0 between pc2 and c2 by weight (1:1 here) and never leaves
# it idle while a task waits for it.
arbiter {
  policy = "fair"
}

processor "tree_d" { # tree_d.0
  plugin       = "mock"
  cpuset       = "0"
  memory_limit = "256MiB"
  timeout      = "1m"
}

# Two pc1 tasks at once, each with its busy thread on cpu 1.
processor "pc1" { # pc1.0
  plugin       = "mock"
  cpuset       = "1"
  concurrent   = 2
  memory_limit = "256MiB"
  timeout      = "1m"
}

processor "pc2" { # pc2.0
  plugin       = "mock"
  cpuset       = "0"
  locks        = ["gpu0"]
  memory_limit = "256MiB"
  timeout      = "1m"
}

processor "c1" { # c1.0
  plugin       = "mock"
  cpuset       = "1"
  memory_limit = "256MiB"
  timeout      = "1m"
}

processor "c2" { # c2.0
  plugin       = "mock"
  cpuset       = "0"
  locks        = ["gpu0"]
  memory_limit = "256MiB"
  timeout      = "1m"
  env = {
    BELLMAN_NO_GPU = "1" # no GPU here; tells `host plan` c2 needs none
  }
}
