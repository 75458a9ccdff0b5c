// Command damocles is a sealhost plugin that runs a damocles-protocol
// processor as its child and serves its stage: see doc.go and README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
)

// version is the bridge's own version, reported in Info.
const version = "0.1.0"

func main() {
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "damocles: %v\n", err)
		os.Exit(2)
	}
	codec, err := damocles.Lookup(o.Stage)
	if err != nil {
		fmt.Fprintf(os.Stderr, "damocles: %v\n", err)
		os.Exit(2)
	}
	s := &stages{codec: codec, bin: o.Bin}
	if os.Getenv(sdk.MagicCookieKey) != sdk.MagicCookieValue {
		// Started by hand: let the sdk explain, before any child runs.
		sdk.Serve(s.plugin())
		os.Exit(1)
	}
	log := sdk.Logger(context.Background()).Named("damocles")
	spec := childSpec{
		Stage: o.Stage, Bin: o.Bin, Args: o.Args, StableWait: o.StableWait, Log: log,
		Env: childEnv(os.Environ(), func(k string) {
			log.Info("not passed to the damocles processor: the host confines this plugin, and the processor with it", "variable", k)
		}),
	}
	s.b, err = newBridge(spec, o.CancelGrace, func(err error) {
		// The host sees the plugin end with this on its stderr and
		// restarts it with backoff, or marks the processor failed.
		fmt.Fprintf(os.Stderr, "damocles: %v\n", err)
		os.Exit(1)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "damocles: %v\n", err)
		os.Exit(1)
	}
	sdk.Serve(s.plugin())
	s.b.close(o.StopGrace)
}
