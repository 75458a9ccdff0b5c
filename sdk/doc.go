// Package sdk is what a sealhost stage plugin imports.
//
// A plugin is an ordinary program that the host starts as a subprocess
// (hashicorp/go-plugin, gRPC only, automatic mutual TLS) and calls through
// the protocol in package sealv1. It serves any subset of the sealing
// stages tree_d, pc1, pc2, c1 and c2; each stage is a one-method interface
// taking a request struct and returning a response struct, with the same
// inputs and outputs as filecoin-ffi's functions.
//
// A complete plugin serving C2 only:
//
//	package main
//
//	import (
//		"context"
//		"crypto/sha256"
//
//		"github.com/sealhost/sealhost/sdk"
//		"github.com/sealhost/sealhost/sdk/proto/sealv1"
//	)
//
//	func c2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
//		if len(req.GetPhase1Output()) == 0 {
//			return nil, sdk.Errorf("c2: empty phase1_output for sector %d", req.GetSector().GetSectorNumber())
//		}
//		if err := ctx.Err(); err != nil {
//			return nil, err // the host gave up; stop working
//		}
//		sdk.Logger(ctx).Info("proving", "sector", req.GetSector().GetSectorNumber())
//		sum := sha256.Sum256(req.GetPhase1Output()) // a real plugin proves here
//		return &sealv1.C2Response{Proof: sum[:]}, nil
//	}
//
//	func main() {
//		sdk.Serve(sdk.Plugin{
//			Name:    "example-c2",
//			Version: "0.1.0",
//			C2:      sdk.C2Func(c2),
//		})
//	}
//
// # Contract
//
//   - ctx carries the host's deadline and is cancelled when the host stops
//     waiting; return promptly with ctx.Err() once it is done.
//   - Return sdk.Errorf for failures a retry will not fix and
//     sdk.RetryableErrorf for transient ones; the host receives the message
//     and the flag. Any other error arrives as non-retryable with its text;
//     a panic in a stage fails that call only.
//   - A stage left nil in Plugin answers UNIMPLEMENTED, naming the plugin
//     and the stages it does serve.
//   - Requests and responses may be up to MaxMessageSize (256 MiB) each way.
//   - Log through Logger(ctx): lines go to stderr as hclog JSON and the host
//     logs them at their own level, tagged with the plugin and stage.
//   - Stdout belongs to the handshake. When started by the host, this
//     package points file descriptor 1 at stderr during its init, before
//     main runs, so output from fmt.Print, native code or child processes
//     lands in the host's log instead of breaking the handshake. Only
//     package init functions that run before this package's can still
//     write to the real stdout.
//
// Test a plugin with package sdk/plugintest, which starts the built binary
// through the host's own client and checks it behaves.
package sdk
