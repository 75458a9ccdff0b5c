// Command mock is a sealhost plugin serving every stage with FAKE
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
	sdk.Serve(plugin(m, k.Serve))
}

// plugin is the mock serving the stages in serve (every stage when it is
// empty).
func plugin(m *mock, serve map[string]bool) sdk.Plugin {
	on := func(stage string) bool { return len(serve) == 0 || serve[stage] }
	p := sdk.Plugin{Name: "mock", Version: version}
	for _, s := range []struct {
		name string
		set  func()
	}{
		{"tree_d", func() { p.TreeD = m }}, {"pc1", func() { p.PC1 = m }}, {"pc2", func() { p.PC2 = m }},
		{"c1", func() { p.C1 = m }}, {"c2", func() { p.C2 = m }},
		{"snap_encode", func() { p.SnapEncode = m }}, {"snap_prove", func() { p.SnapProve = m }},
		{"window_post", func() { p.WindowPoSt = m }}, {"winning_post", func() { p.WinningPoSt = m }},
		{"unseal", func() { p.Unseal = m }}, {"add_pieces", func() { p.AddPieces = m }},
	} {
		if on(s.name) {
			s.set()
		}
	}
	if len(serve) > 0 {
		p.Unserved = "the mock was told to serve only some stages (-stages / MOCK_STAGES)"
	}
	return p
}
