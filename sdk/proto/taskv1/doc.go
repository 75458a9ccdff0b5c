// Package taskv1 is the generated Go code of the host's task API
// (task.proto): the service a running `host run` serves on its unix socket
// for sealing managers, and the Status snapshot `host status` prints.
//
// Stage messages are those of the plugin protocol, package sealv1, so a
// manager sends what the plugin receives. Most Go programs should use
// package sdk/client rather than these stubs. Regenerate with
// sdk/proto/generate.sh (`make proto`).
package taskv1
