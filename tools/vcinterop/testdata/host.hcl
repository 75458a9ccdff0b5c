# The host `make test-interop` drives through `host processor`: every
# stage vc-processors 0.2.1 has a task for (c1 runs inside
# damocles-worker; the test calls it through the task API), on
# plugins/mock, whose proofs and commitments are FAKE. Sealing is
# examples/local.hcl's layout with shorter times; the later stages take
# two tasks at once so a batch has several in flight.

sector_size = "2KiB"

plugin "mock" {
  path = "../../../bin/plugins/mock"
  args = [
    "-duration", "tree_d=100ms,pc1=500ms,pc2=300ms,c1=100ms,c2=300ms,add_pieces=100ms,snap_encode=200ms,snap_prove=200ms,window_post=200ms,winning_post=100ms",
    "-busy-threads", "1",
    "-memory", "16MiB",
  ]
}

limits {
  pc1 = 2
  pc2 = 1
  c2  = 1
}

lock "gpu0" {
  capacity = 1
}

processor "add_pieces" {
  plugin     = "mock"
  cpuset     = "0"
  concurrent = 2
  timeout    = "1m"
}

processor "tree_d" {
  plugin       = "mock"
  cpuset       = "0"
  memory_limit = "256MiB"
  timeout      = "1m"
}

processor "pc1" {
  plugin       = "mock"
  cpuset       = "1"
  concurrent   = 2
  memory_limit = "256MiB"
  timeout      = "1m"
}

processor "pc2" {
  plugin       = "mock"
  cpuset       = "0"
  locks        = ["gpu0"]
  memory_limit = "256MiB"
  timeout      = "1m"
}

processor "c1" {
  plugin       = "mock"
  cpuset       = "1"
  memory_limit = "256MiB"
  timeout      = "1m"
}

processor "c2" {
  plugin       = "mock"
  cpuset       = "0"
  locks        = ["gpu0"]
  memory_limit = "256MiB"
  timeout      = "1m"
  env          = { BELLMAN_NO_GPU = "1" }
}

processor "snap_encode" {
  plugin     = "mock"
  cpuset     = "1"
  concurrent = 2
  timeout    = "1m"
  env        = { BELLMAN_NO_GPU = "1" }
}

processor "snap_prove" {
  plugin     = "mock"
  cpuset     = "0"
  concurrent = 2
  timeout    = "1m"
  env        = { BELLMAN_NO_GPU = "1" }
}

processor "window_post" {
  plugin     = "mock"
  cpuset     = "1"
  concurrent = 2
  timeout    = "1m"
  env        = { BELLMAN_NO_GPU = "1" }
}

processor "winning_post" {
  plugin     = "mock"
  cpuset     = "0"
  concurrent = 2
  timeout    = "1m"
  env        = { BELLMAN_NO_GPU = "1" }
}
