package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	grpckeepalive "google.golang.org/grpc/keepalive"

	"github.com/sealhost/sealhost/host/internal/daemon"
	"github.com/sealhost/sealhost/host/internal/extprocessor"
	"github.com/sealhost/sealhost/host/internal/seal"
	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk/client"
)

func init() {
	register(command{
		name:    "processor",
		summary: "serve a stage as damocles-worker's external processor, through a running host",
		run:     runProcessor,
	})
}

func runProcessor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host processor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the host instance `NAME` (finds its default socket; default "+daemon.DefaultInstance+")")
	socket := fs.String("socket", "", "the host's unix socket `PATH` (default: $SEALHOST_SOCKET, else where `host run -name NAME` listens)")
	keepalive := fs.Duration("keepalive", 6*time.Minute, "ping the host after this `DURATION` without a word from it; no answer within as long again (at most 30s) fails the tasks in flight, retryable, so a hung host never leaves the worker waiting. Keep it over 5m (the host refuses closer pings); 0: off")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host processor [-socket PATH | -name NAME] STAGE")
		fmt.Fprintf(stderr, "\nSpeaks damocles-worker's external-processor protocol on stdin/stdout for\n"+
			"STAGE (%s) and runs each task on a running host (`host run`),\n"+
			"which confines it and applies its limits and locks. In damocles-worker's\nTOML:\n\n"+
			"  [[processors.pc2]]\n  bin = \"/usr/local/bin/host\"     # runs `host processor pc2`\n\n"+
			"Every request with a readable id is answered; a host that is down, goes\n"+
			"away or hangs answers \"retryable\" errors. VC_CG_* and\n"+
			"VENUS_WORKER_NUMA_PREFERRED are ignored: the host's processors own cpuset,\n"+
			"NUMA and locks.\n", strings.Join(damocles.Stages, ", "))
		fmt.Fprintln(stderr, "\nExit status: 0 stdin ended, 1 stdout failed, 2 a usage mistake.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "host processor: want one STAGE (%s), got %d arguments\n", strings.Join(damocles.Stages, ", "), fs.NArg())
		fs.Usage()
		return 2
	}
	if *socket != "" && *name != "" {
		fmt.Fprintln(stderr, "host processor: -socket and -name exclude each other: -socket names the socket, -name finds an instance's default one")
		return 2
	}
	path := *socket
	switch {
	case path != "":
	case *name != "":
		path = client.FindSocket(*name)
	case os.Getenv("SEALHOST_SOCKET") != "":
		path = os.Getenv("SEALHOST_SOCKET")
	default:
		path = client.FindSocket(daemon.DefaultInstance)
	}
	var opts []grpc.DialOption
	if *keepalive > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(grpckeepalive.ClientParameters{Time: *keepalive, Timeout: min(*keepalive, 30*time.Second)}))
	}
	c, err := client.Dial(path, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "host processor: %v\n", err)
		return 2
	}
	defer c.Close()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(extprocessor.Procs) // why: extprocessor.Procs
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = extprocessor.Run(ctx, extprocessor.Options{
		Stage: fs.Arg(0), Tasks: seal.ClientHost{C: c}, Socket: path,
		Stdin: os.Stdin, Stdout: stdout, Log: stderr, Environ: os.Environ(),
	})
	switch {
	case errors.Is(err, extprocessor.ErrStage):
		fmt.Fprintf(stderr, "host processor: %v\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "host processor: %v\n", err)
		return 1
	}
	return 0
}
