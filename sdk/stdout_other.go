//go:build !linux

package sdk

import "os"

// protectStdout is Linux-only; elsewhere the handshake uses os.Stdout as is.
func protectStdout() *os.File { return os.Stdout }
