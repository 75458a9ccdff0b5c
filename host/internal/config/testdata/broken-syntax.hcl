# Deliberately broken: a string that never ends. Decoding stops at syntax
# errors, because the rest of the file cannot be read reliably.
sector_size = "32GiB

plugin "ffi" {
  path = "bin/plugins/ffi"
}
