package sdk

// ProtocolVersion is the go-plugin protocol version this SDK serves. It
// changes only when sealv1 is replaced by an incompatible sealv2; fields
// added to sealv1 do not change it.
const ProtocolVersion = 1

// SDKVersion is this SDK's version, reported to the host in Info so an
// operator can tell which SDK a misbehaving plugin was built with.
const SDKVersion = "0.1.0"

// The magic cookie is not a security measure: it only lets a plugin binary
// started by hand say "run me from the host" instead of hanging on a
// handshake nobody reads.
const (
	MagicCookieKey   = "SEALHOST_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "b9ad150456da5e2270781c70af0ddeef"
)

// PluginName is the go-plugin name the stages service is dispensed under.
const PluginName = "stages"

// MaxMessageSize bounds a request or response in either direction. A
// 32 GiB sector's C1 output is ~51 MB and a 64 GiB one about twice that;
// gRPC's serving side would otherwise refuse anything over 4 MiB.
const MaxMessageSize = 256 << 20

// LogLevelEnv names the environment variable through which the host tells
// the plugin the level its logger should emit at; messages below it are not
// even formatted. Unset means trace: the host filters anyway.
const LogLevelEnv = "SEALHOST_PLUGIN_LOG_LEVEL"

// BlobDirEnv names the environment variable through which the host tells a
// plugin the one directory its request blobs may come from (the
// processor's own TMPDIR). The host sets it when it starts the plugin, so
// no task request can move it; the sdk reads and removes request blobs only
// there.
const BlobDirEnv = "SEALHOST_BLOB_DIR"
