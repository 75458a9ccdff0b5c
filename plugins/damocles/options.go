package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
)

// options are the plugin's arguments: the plugin block's args.
type options struct {
	Stage       string
	Bin         string
	Args        []string
	StableWait  time.Duration
	CancelGrace time.Duration
	StopGrace   time.Duration
}

const usage = `damocles: a sealhost plugin running a damocles-protocol processor as its child.

  damocles -stage STAGE [-stable-wait 5s] [-cancel-grace 5s] -- BIN [ARGS...]

runs BIN ARGS... (exactly those: damocles' default args "processor STAGE"
are not assumed) inside the plugin's own cgroup, waits for its ready line
"STAGE processor ready", and serves the sealhost stage STAGE (any damocles
stage with an external processor: see -stage) through it. The processor's environment is the plugin's (the
processor block's env and inherit_env), without go-plugin's variables and
without VC_CG_* and VENUS_WORKER_NUMA_PREFERRED: the host confines.

`

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("damocles", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Stage, "stage", "", "the damocles stage the processor serves: "+strings.Join(damocles.BridgeStages, ", "))
	fs.DurationVar(&o.StableWait, "stable-wait", 5*time.Second, "how long the processor may take to print its ready line (damocles' stable_wait)")
	fs.DurationVar(&o.CancelGrace, "cancel-grace", 5*time.Second, "how long a cancelled call sharing the processor with others waits for its answer before the processor is killed (keep it below the host's 10s cancel grace)")
	fs.DurationVar(&o.StopGrace, "stop-grace", 5*time.Second, "how long the processor may take to exit after its stdin closes when the plugin stops")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	rest := fs.Args()
	var errs []error
	if o.Stage == "" {
		errs = append(errs, fmt.Errorf("-stage is missing: name the damocles stage the processor serves (%s)", strings.Join(damocles.BridgeStages, ", ")))
	} else if !slices.Contains(damocles.BridgeStages, o.Stage) {
		errs = append(errs, fmt.Errorf("-stage %q: want one of %s (damocles runs c1 inside the worker: no processor serves it)", o.Stage, strings.Join(damocles.BridgeStages, ", ")))
	}
	if len(rest) == 0 || rest[0] == "" {
		errs = append(errs, errors.New(`no processor binary: give it after "--", e.g. args = ["-stage", "pc2", "--", "/usr/local/bin/my-pc2", "processor", "pc2"]`))
	} else {
		o.Bin, o.Args = rest[0], rest[1:]
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		min  time.Duration
	}{{"-stable-wait", o.StableWait, time.Millisecond}, {"-cancel-grace", o.CancelGrace, 0}, {"-stop-grace", o.StopGrace, 0}} {
		if d.v < d.min {
			errs = append(errs, fmt.Errorf("%s %v: want at least %v", d.name, d.v, d.min))
		}
	}
	return o, errors.Join(errs...)
}

// childEnv is the processor's environment: the plugin's, which the host
// built from the processor block, less what is the plugin's business
// only (go-plugin's handshake, the sdk's knobs) and less what damocles'
// worker would set to have its children confine themselves: here the
// host has confined the plugin, and the child inherits that.
func childEnv(env []string, log func(key string)) []string {
	drop := map[string]bool{
		sdk.MagicCookieKey: true, sdk.LogLevelEnv: true, sdk.BlobDirEnv: true,
		// go-plugin's variables to its plugin (the client certificate
		// among them).
		"PLUGIN_MIN_PORT": true, "PLUGIN_MAX_PORT": true, "PLUGIN_PROTOCOL_VERSIONS": true,
		"PLUGIN_CLIENT_CERT": true, "PLUGIN_UNIX_SOCKET_DIR": true, "PLUGIN_UNIX_SOCKET_GROUP": true,
		"PLUGIN_MULTIPLEX_GRPC": true,
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case drop[k]:
		case strings.HasPrefix(k, "VC_CG_") || k == "VENUS_WORKER_NUMA_PREFERRED":
			log(k)
		default:
			out = append(out, kv)
		}
	}
	return out
}
