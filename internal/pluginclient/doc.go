// Package pluginclient is the host's side of the plugin protocol: it
// starts a stage plugin binary with hashicorp/go-plugin (gRPC only,
// automatic mutual TLS, protocol versions negotiated, messages up to
// sdk.MaxMessageSize each way), calls its stages, and notices when it
// exits.
//
// It lives under the module's internal/ rather than host/internal/ so
// that sdk/plugintest, which runs third-party plugins through exactly this
// path, can import it.
//
// Start takes an exec.Cmd the caller has prepared, so a confinement layer
// can make it a shim and choose its whole environment; Start only adds the
// handshake variables. Everything that can go wrong at start-up (not a
// plugin, wrong magic cookie, garbage on stdout, exits or hangs at start)
// ends in a *StartError naming the plugin and quoting its last stderr
// lines, within Config.StartTimeout. A failed stage call is a *CallError
// whose chain holds the plugin's *sdk.Error (message and retry flag).
package pluginclient
