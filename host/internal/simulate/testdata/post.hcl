# PoSt on the seed's Plan B. The tests read plan-b.hcl without its arbiter
# block and then this file (see loadPoSt): WinningPoSt shares gpu1 with
# pc2.0 and c2.0, WindowPoSt shares gpu2 with pc2.1 and c2.1. Both are
# urgent; gpu1 is preempted for WinningPoSt at once. gpu2 is not:
# WindowPoSt has 30 minutes, so preempting for it would only cost sealing.
# The tests change the arbiter block, the post block and the PoSt
# processors' locks in the decoded config to compare runs.

arbiter {
  policy  = "fair"
  urgent  = ["winning_post", "window_post"]
  preempt = { gpu1 = "0s" }
}

# ---- PoSt -----------------------------------------------------------------

processor "winning_post" { # winning_post.0
  plugin = "ffi"
  locks  = ["gpu1"]
  env = {
    CUDA_VISIBLE_DEVICES = "0"
  }
}

processor "window_post" { # window_post.0
  plugin = "ffi"
  locks  = ["gpu2"]
  env = {
    CUDA_VISIBLE_DEVICES = "1"
  }
}

simulation {
  post {
    window_post_every      = "30m"
    window_post_deadline   = "30m"
    window_post_partitions = 1
    winning_post_per_day   = 10
    winning_post_deadline  = "25s"
  }
}
