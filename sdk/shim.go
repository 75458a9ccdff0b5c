package sdk

// ShimEnv is set only in the host's confinement shim (package confine): a
// process that carries a plugin's environment, magic cookie included, to the
// plugin it execs, but is not the plugin. Serve's stdout protection must not
// run there.
const ShimEnv = "SEALHOST_CONFINE_SHIM"
