# sealhost config that seals 2 KiB sectors FOR REAL with plugins/ffi
# (filecoin-ffi v1.30.0 / rust-fil-proofs, CPU only): what `make demo-real`
# runs (`bin/host seal -config examples/ffi-2k.hcl -sectors 2 -require-verified`).
#
# Needs bin/plugins/ffi built with filecoin-ffi (`make ffi-real`) and the
# 2 KiB PoRep parameters (`make params`). Those parameters are generated on
# this machine and are INSECURE: the proofs verify against their own
# verifying keys only, never on chain (plugins/ffi/README.md).
#
# Every stage runs in the ffi plugin, each call in a child process of the
# plugin, confined with the processor's cpuset and memory limit. On 2 cpus
# the stages share cpus 0 and 1; pc2 and c2 share cpu 0 and one lock, as
# they would share a GPU.
#
# Check it against the machine:
#   bin/host plan -config examples/ffi-2k.hcl

sector_size = "2KiB"

plugin "ffi" {
  path = "../bin/plugins/ffi"
}

limits {
  pc1 = 2
  c2  = 1
}

lock "gpu0" {
  capacity = 1
}

arbiter {
  policy = "fair"
}

processor "tree_d" { # tree_d.0
  plugin       = "ffi"
  cpuset       = "0"
  memory_limit = "1GiB"
  timeout      = "5m"
}

processor "pc1" { # pc1.0
  plugin       = "ffi"
  cpuset       = "1"
  concurrent   = 2
  memory_limit = "2GiB"
  timeout      = "10m"
}

processor "pc2" { # pc2.0
  plugin       = "ffi"
  cpuset       = "0"
  locks        = ["gpu0"]
  memory_limit = "2GiB"
  timeout      = "10m"
}

processor "c1" { # c1.0
  plugin       = "ffi"
  cpuset       = "1"
  memory_limit = "2GiB"
  timeout      = "10m"
}

# c2 proves on the CPU here: Groth16 over the 2 KiB circuit (about 50 s on
# 2 cpus), then VerifySeal before it answers. It finds the parameters through
# FIL_PROOFS_PARAMETER_CACHE, inherited from the host's environment: the
# local INSECURE ones `make params` writes (`tools/filcrypto/build.sh
# paramdir` prints where; `make demo-real` exports it). Set it in `env`
# below instead to pin it in this file.
processor "c2" { # c2.0
  plugin       = "ffi"
  cpuset       = "0-1"
  locks        = ["gpu0"]
  memory_limit = "4GiB"
  timeout      = "30m"
  env = {
    BELLMAN_NO_GPU = "1"
  }
}
