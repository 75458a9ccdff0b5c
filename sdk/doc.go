// Package sdk is what a sealhost stage plugin imports.
//
// A plugin is an ordinary program that the host starts as a subprocess
// (hashicorp/go-plugin, gRPC only, automatic mutual TLS) and calls through
// the protocol in package sealv1. It serves any subset of the stages: the
// sealing ones tree_d, pc1, pc2, c1 and c2, and snap_encode, snap_prove,
// window_post, winning_post, unseal and add_pieces; each stage is a one-method interface
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
//   - Requests and responses may be up to MaxMessageSize (256 MiB) each way
//     inline. Large phase1_output fields (1 MiB and up) of pc1, pc2, c1 and
//     c2 usually travel as files instead, and stage code never sees the
//     difference; see "Large payloads" below.
//   - Log through Logger(ctx): lines go to stderr as hclog JSON and the host
//     logs them at their own level, tagged with the plugin and stage.
//   - Stdout belongs to the handshake. When started by the host, this
//     package points file descriptor 1 at stderr during its init, before
//     main runs, so output from fmt.Print, native code or child processes
//     lands in the host's log instead of breaking the handshake. Only
//     package init functions that run before this package's can still
//     write to the real stdout.
//
// # Large payloads
//
// Why: a C1 output is tens of MB, and through gRPC under go-plugin's
// automatic mutual TLS each byte is copied about eight times (marshal,
// framing, encryption, kernel socket buffers, decryption, reassembly,
// unmarshal): a few hundred MB/s. What: when both sides support it, a
// phase1_output of at least 1 MiB travels as a file, and the message
// carries only a sealv1.Blob (path, size, CRC-32C); one write and one
// read through the page cache move it at several times that speed. This
// package does it for the plugin: Info says accepts_blobs; a request's
// blob is read into the plain phase1_output field (and the file removed)
// before the stage is called; a large phase1_output in a pc1 or c1
// response is written to the directory the host offered for the call
// (response_blob_dir), or sent inline when the host offered none (an
// older host) or the file cannot be written. Safety: files are mode 0600
// in a 0700 directory the host made for that one call and removes when the
// call returns, so nothing outlives a failed or cancelled call; a file of
// the wrong size or checksum is an error, never short data. The host and
// the plugin must run as the same user and see the same filesystem (a
// plugin confined by the host does). The protocol is described in
// sdk/proto/sealv1/seal.proto, for plugins written without this package.
//
// Test a plugin with package sdk/plugintest, which starts the built binary
// through the host's own client and checks it behaves.
package sdk
