package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/daemon"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/topology"
)

func init() {
	register(command{
		name:    "run",
		summary: "run every processor of a config confined and serve the task API on a unix socket",
		run:     runRun,
	})
}

// loadChecked loads a config and plans it on the machine. When anything is
// wrong it prints the diagnostics as `host validate` does and returns nil:
// the caller must then exit 1 without touching anything. Warnings are
// printed too, and do not stop it.
func loadChecked(cmd, cfgPath, topoPath string, stderr io.Writer) *config.Config {
	cfg, diags := config.Load(cfgPath)
	var p *plan.Plan
	if diags.HasErrors() || cfg == nil {
		var src []byte
		if cfg != nil {
			src = cfg.Source
		} else {
			src, _ = os.ReadFile(cfgPath)
		}
		p = plan.ConfigFailed(cfgPath, src, diags)
	} else {
		m, err := topology.Load(topoPath)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return nil
		}
		p = plan.Build(cfg, m)
		p.AddConfigDiagnostics(diags)
	}
	if err := config.WriteDiagnostics(stderr, p.ConfigFile, p.Source(), p.Diagnostics, isTerminal(stderr)); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return nil
	}
	if p.HasErrors() {
		fmt.Fprintf(stderr, "%s: %s: %s; nothing was started\n", cmd, cfgPath, p.CountLine())
		return nil
	}
	return cfg
}

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "the config `FILE` to run (required)")
	topoPath := fs.String("topology", "", "check the config against the machine at `PATH` instead of this one (tests)")
	name := fs.String("name", daemon.DefaultInstance, "the host instance `NAME`: names its cgroups and its default socket")
	socket := fs.String("socket", "", "serve the task API on this unix socket `PATH` (default /run/sealhost/NAME.sock, else $XDG_RUNTIME_DIR/sealhost/NAME.sock, else /tmp/sealhost-UID/NAME.sock)")
	group := fs.String("socket-group", "", "make the socket 0660 for this `GROUP` instead of 0600 (owner only)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (off by default; e.g. 127.0.0.1:9477)")
	logJSON := fs.Bool("log-json", false, "write logs as JSON lines")
	logLevel := fs.String("log-level", "info", "log `LEVEL`: trace, debug, info, warn or error")
	unconfined := fs.Bool("unconfined", false, "run plugins WITHOUT cgroups (as `confine = false` does); for machines where cgroups cannot be used")
	grace := fs.Duration("grace", daemon.DefaultGrace, "on SIGTERM/SIGINT, how long running tasks may finish before they are cancelled")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host run -config FILE [-name NAME] [-socket PATH] [-metrics ADDR] [flags]")
		fmt.Fprintln(stderr, "\nChecks the config against this machine (any error: print it, start nothing,\n"+
			"exit 1), cleans cgroups left by a host that died, starts every processor's\n"+
			"plugin confined in its own cgroup and supervised, and serves the task API\n"+
			"(gRPC, sdk/proto/taskv1) on a unix socket. SIGTERM or SIGINT drains: new and\n"+
			"waiting tasks are refused, running ones get -grace to finish, then every\n"+
			"plugin is stopped and its cgroup removed; a second signal cuts the grace short.")
		fmt.Fprintln(stderr, "\nExit status: 0 after a clean drain, 1 a failure or a drain whose -grace ended\nby cancelling running tasks, 2 a usage mistake.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "host run: unexpected argument %q (flags come before arguments, and there are none)\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "host run: -config is required")
		fs.Usage()
		return 2
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		fmt.Fprintf(stderr, "host run: -log-level %q: want trace, debug, info, warn or error\n", *logLevel)
		return 2
	}
	if *grace < 0 {
		fmt.Fprintf(stderr, "host run: -grace %s: must not be negative\n", *grace)
		return 2
	}

	cfg := loadChecked("host run", *cfgPath, *topoPath, stderr)
	if cfg == nil {
		return 1
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "host",
		Output:     stderr,
		Level:      level,
		JSONFormat: *logJSON,
		// Colour only on a terminal; logs in files stay plain.
		Color: hclog.AutoColor,
	})

	// Signals are caught before anything starts, so a SIGTERM during
	// start-up still drains instead of killing the host with plugins up.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)

	h, err := daemon.Start(daemon.Options{
		Config:      cfg,
		Instance:    *name,
		Socket:      *socket,
		SocketGroup: *group,
		MetricsAddr: *metrics,
		Unconfined:  *unconfined,
		Logger:      log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "host run: %v\n", err)
		return 1
	}
	log.Info("stages served", "by", strings.Join(config.ServedBy(cfg.Processors), "; "))
	s := <-sig
	log.Info("signal received: draining", "signal", s.String(), "grace", grace.String())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case s := <-sig:
			log.Warn("second signal: cancelling running tasks now", "signal", s.String())
			cancel()
		case <-h.Done():
		}
	}()
	code := 0
	if err := h.Shutdown(ctx, *grace); err != nil {
		log.Error("shutdown was not clean", "error", err)
		code = 1
	}
	if n := h.CancelledAtShutdown(); n > 0 {
		// Work was lost: whoever restarts the host should know.
		log.Error("exiting 1: the drain ended by cancelling running tasks before they finished", "cancelled", n, "grace", grace.String())
		code = 1
	}
	return code
}
