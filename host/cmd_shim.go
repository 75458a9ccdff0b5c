package main

import (
	"io"

	"github.com/sealhost/sealhost/host/internal/confine"
)

// The confinement shim: the host re-executes itself with this hidden
// command to start each plugin already inside its cgroup (see package
// confine). It writes nothing to stdout, which go-plugin's handshake owns.
func init() {
	register(command{
		name:    confine.ShimCommand,
		summary: "internal: join a processor's cgroup, then exec its plugin",
		hidden:  true,
		run: func(args []string, _, _ io.Writer) int {
			return confine.RunShim(args)
		},
	})
}
