// Package pluginclient is the host's side of the plugin protocol: it
// starts a stage plugin binary with hashicorp/go-plugin (gRPC only,
// automatic mutual TLS, protocol versions negotiated, messages up to
// sdk.MaxMessageSize each way), calls its stages, and notices when it
// exits.
//
// It lives in the sdk module rather than the host's so that sdk/plugintest,
// which runs third-party plugins through exactly this path, can import it
// without pulling in the host; plugin authors do not need it themselves.
//
// Start takes an exec.Cmd the caller has prepared, so a confinement layer
// can make it a shim and choose its whole environment; Start only adds the
// handshake variables. Everything that can go wrong at start-up (not a
// plugin, wrong magic cookie, garbage on stdout, exits or hangs at start)
// ends in a *StartError naming the plugin and quoting its last stderr
// lines, within Config.StartTimeout. A failed stage call is a *CallError
// whose chain holds the plugin's *sdk.Error (message and retry flag).
//
// Large payloads: when the plugin's Info says accepts_blobs (every plugin
// built with package sdk), a phase1_output of 1 MiB or more goes to and
// comes from the plugin as a file rather than through gRPC, several times
// faster (see "Large payloads" in sdk/proto/sealv1/seal.proto). Callers
// see no difference: requests are not modified, responses hold plain
// bytes. Each such call gets a 0700 directory inside Config.BlobDir,
// removed when the call returns however it ended; a blob that is missing,
// truncated, corrupted or outside that directory fails the call with a
// *CallError of code DataLoss. Older plugins get plain bytes.
package pluginclient
