// Command mock is a sealhost plugin serving every sealing stage with FAKE
// results: see README.md. Its -help says so too.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"

	"github.com/sealhost/sealhost/sdk"
)

// version is the mock's own version, reported in Info.
const version = "0.1.0"

func main() {
	k, err := parseKnobs(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mock: %v\n", err)
		os.Exit(2)
	}
	w := newWorker(k)
	if k.StdoutNoise {
		// Straight to fd 1, below os.Stdout, as native code writes; the
		// sdk must keep this out of the handshake.
		w.noise = func(s string) { syscall.Write(1, []byte(s)) }
		w.noise("mock: start-up noise on stdout\n")
	}
	m := &mock{w: w}
	sdk.Serve(sdk.Plugin{
		Name:    "mock",
		Version: version,
		TreeD:   m,
		PC1:     m,
		PC2:     m,
		C1:      m,
		C2:      m,
	})
}
