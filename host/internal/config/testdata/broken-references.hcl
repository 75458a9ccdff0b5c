# Deliberately broken: references to a plugin and a lock nobody declared.
# damocles would run the c2 with no lock at all; sealhost refuses.
sector_size = "32GiB"

plugin "ffi" {
  path = "bin/plugins/ffi"
}

lock "gpu1" {
  capacity = 1
}

lock "gpu2" {
  capacity = 1
}

processor "pc2" {
  plugin = "fii"
  locks  = ["gpu1"]
}

processor "c2" {
  plugin = "ffi"
  locks  = ["gpu3"]
}
