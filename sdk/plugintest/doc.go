// Package plugintest is the conformance kit for sealhost stage plugins: a
// plugin author runs it from their own go test, and it tells them, before
// an operator ever starts the plugin, whether it behaves.
//
// Run starts the built plugin binary through the host's own client (the
// same go-plugin handshake, AutoMTLS, message limits and environment
// handling the host uses) and runs these checks as subtests, each against
// a freshly started plugin:
//
//	handshake           the plugin starts; Info reports a name, a version, the
//	                    declared stages exactly and protocol version 1
//	stages              each declared stage answers a valid request with a
//	                    plausible response (commitment CIDs of the right
//	                    codec, a proof of 192 bytes per partition); the other
//	                    stages answer UNIMPLEMENTED. Outputs feed the next
//	                    stage as in a pipeline, and once pc2 has sealed the
//	                    sector the later stages (snap, PoSt, unseal) work on
//	                    it, so a real prover proves a real sector. c2's
//	                    verified and verification are logged, not checked.
//	payload/request     a 64 MiB request (C2's, else PC2's phase1_output)
//	                    reaches the plugin
//	payload/response    a 64 MiB response (C1's, else PC1's output), asked
//	                    for through Config.LargeOutputEnv
//	cancel              after the host cancels a call, the call returns and,
//	                    within Config.CancelBound, every process the plugin
//	                    started is gone and it burns no cpu (read from /proc)
//	errors/invalid      an unknown proof type, and a missing cache_path, are
//	                    rejected with a message and retryable=false
//	errors/retryable    with Config.FailEnv, a failure carries retryable=true
//	concurrent          Config.Concurrency calls at once all succeed
//	stdout/plugin-noise with Config.StdoutNoiseEnv, a plugin writing to fd 1
//	                    at start-up and during calls still works
//	stdout/before-start a line printed to stdout before the plugin runs (by a
//	                    wrapper script) fails the start promptly with an error
//	                    naming the plugin and quoting the line, or is survived
//
// A failed check says what it expected and what came back. Checks that
// need the plugin's help (a slow call, a transient failure, a large
// output, stdout noise) get it through environment variables the author
// names in Config; a plugin without such a knob skips that check, and the
// skip says why.
//
// Requests default to a 2 KiB sector (StackedDrg2KiBV1_1) laid out in a
// fresh folder per use by DefaultInputs; Config.Inputs can start from
// DefaultInputs and change what a plugin needs. A plugin that proves for
// real (plugins/ffi with the local 2 KiB parameters) passes on these
// defaults; give it a longer Config.CallTimeout on a slow machine.
//
// A complete test for a plugin in the current package:
//
//	func TestConformance(t *testing.T) {
//		plugintest.Run(t, plugintest.Config{
//			Build:   func(t testing.TB) string { return plugintest.Build(t, ".") },
//			Stages:  []sealv1.Stage{sealv1.Stage_STAGE_C2},
//			SlowEnv: []string{"MYPLUGIN_WORK=1h"},
//		})
//	}
//
// The cancellation check reads Linux's /proc: a plugin still working is
// one whose threads stay runnable (spinning, computing) or whose child
// processes outlive the bound. A call blocked forever without using a cpu
// is invisible from outside; elsewhere than Linux only the host's side of
// cancellation is checked.
package plugintest
