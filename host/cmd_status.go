package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sealhost/sealhost/host/internal/daemon"
	"github.com/sealhost/sealhost/host/internal/statusview"
	"github.com/sealhost/sealhost/sdk/client"
)

func init() {
	register(command{
		name:    "status",
		summary: "show what a running host runs, waits for and holds",
		run:     runStatus,
	})
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", daemon.DefaultInstance, "the host instance `NAME` (finds its default socket)")
	socket := fs.String("socket", "", "the host's unix socket `PATH` (default: where `host run -name NAME` listens: the first of /run/sealhost, $XDG_RUNTIME_DIR/sealhost, /tmp/sealhost-UID holding NAME.sock)")
	asJSON := fs.Bool("json", false, "write the status as one JSON object (the taskv1.StatusResponse message)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up when the host does not answer within this `DURATION`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host status [-socket PATH | -name NAME] [-json]")
		fmt.Fprintln(stderr, "\nAsks a running host (`host run`) for its processors (state, pid, cgroup,\n"+
			"restarts, last error), running tasks, waiting tasks per stage, lock holders\n"+
			"and waiters, and per-stage counts.")
		fmt.Fprintln(stderr, "\nExit status: 0 shown, 1 no host answered, 2 a usage mistake.")
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
		fmt.Fprintf(stderr, "host status: unexpected argument %q (flags come before arguments, and there are none)\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	path := *socket
	if path == "" {
		path = client.FindSocket(*name)
	}
	c, err := client.Dial(path)
	if err != nil {
		fmt.Fprintf(stderr, "host status: %v\n", err)
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "host status: %s\n", socketTrouble(path, err))
		return 1
	}
	if *asJSON {
		b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(st)
		if err != nil {
			fmt.Fprintf(stderr, "host status: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	statusview.Write(stdout, st)
	return 0
}

// socketTrouble says why a call on the socket at path failed, in the words
// an operator can act on: a permission problem is not a host that is down.
func socketTrouble(path string, err error) string {
	var te *client.TaskError
	if errors.As(err, &te) && te.Code == codes.Unavailable && te.Err != nil && strings.Contains(te.Err.Message, "is shutting down") {
		// A host answered: it is tearing down, not missing.
		return fmt.Sprintf("the host on %s answered: %s", path, te.Err.Message)
	}
	if c, derr := net.Dial("unix", path); derr == nil {
		c.Close()
	} else if errors.Is(derr, syscall.EACCES) || errors.Is(derr, syscall.EPERM) {
		return fmt.Sprintf("permission denied on %s: the socket is its host's owner's (and -socket-group's, if set); run as that user or join the group", path)
	} else if errors.Is(derr, syscall.ENOENT) {
		return fmt.Sprintf("no host answered on %s: there is no socket there (is `host run` running? give its socket with -socket, or its -name)", path)
	}
	return fmt.Sprintf("no host answered on %s: %v\n(is `host run` running? give its socket with -socket, or its -name)", path, err)
}
