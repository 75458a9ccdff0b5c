package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/host/internal/daemon"
	"github.com/sealhost/sealhost/host/internal/externpc2"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func init() {
	register(command{
		name:    "extern-pc2",
		summary: "run one PC2 on a host, as lotus-worker --external-pc2 'host extern-pc2' expects",
		run:     runExternPC2,
	})
}

func runExternPC2(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host extern-pc2", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", daemon.DefaultInstance, "the host instance `NAME` (finds its default socket)")
	socket := fs.String("socket", "", "the host's unix socket `PATH` (default: where `host run -name NAME` listens; lotus passes no XDG_RUNTIME_DIR, so a host not run as root needs this)")
	timeout := fs.Duration("timeout", 0, "give up after this `DURATION` (default: never; lotus kills the command when its task ends)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host extern-pc2 [-socket PATH | -name NAME] [-timeout D]")
		fmt.Fprintln(stderr, "\nThe command for lotus-worker run --external-pc2 'host extern-pc2 ...'. It reads\n"+
			"the seven EXTSEAL_PC2_* variables lotus sets, runs the PC2 as a task on a\n"+
			"running host (whose pc2 processor does the work, confined and under its\n"+
			"locks), then checks the cache as lotus will: tree-r-last, tree-c, t_aux, a\n"+
			"64-byte p_aux, and tree_d's root equal to PC2's comm_d. It also writes\n"+
			"comm_r (32 bytes) to the cache.")
		fmt.Fprintln(stderr, "\nExit status: 0 the cache is what lotus accepts, 1 the PC2 failed or left\n"+
			"the cache incomplete, 2 a usage mistake or bad EXTSEAL_PC2_* variables.")
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
		fmt.Fprintf(stderr, "host extern-pc2: unexpected argument %q (the job comes from EXTSEAL_PC2_* variables)\n", fs.Arg(0))
		return 2
	}
	job, err := externpc2.FromEnv(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "host extern-pc2: %v\n", err)
		return 2
	}
	path := *socket
	if path == "" {
		path = client.FindSocket(*name)
	}
	c, err := client.Dial(path)
	if err != nil {
		fmt.Fprintf(stderr, "host extern-pc2: %v\n", err)
		return 1
	}
	defer c.Close()

	// Lotus ends the command by killing it; a person at a terminal with
	// ^C. Either way the host is told, and frees the processor once the
	// plugin has stopped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	var rep client.Report
	pc2 := func(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
		return c.PC2(ctx, req, client.WithReport(&rep))
	}
	start := time.Now()
	res, err := externpc2.Run(ctx, pc2, job)
	if err != nil {
		fmt.Fprintf(stderr, "host extern-pc2: sector %d of miner %d: %s\n", job.Sector.GetSectorNumber(), job.Sector.GetMinerId(), externTrouble(path, rep, err))
		return 1
	}
	fmt.Fprintf(stderr, "host extern-pc2: sector %d of miner %d: comm_r %s comm_d %s, by processor %s (waited %s, ran %s, %s in all)\n",
		job.Sector.GetSectorNumber(), job.Sector.GetMinerId(), res.SealedCID, res.UnsealedCID, rep.Processor,
		rep.Waited.Round(time.Millisecond), rep.Ran.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return 0
}

// externTrouble words a failure: a host that is not there is the
// operator's to fix, not lotus', so it gets socketTrouble's words.
func externTrouble(path string, rep client.Report, err error) string {
	var te *client.TaskError
	if errors.As(err, &te) && te.Code == codes.Unavailable && rep.Processor == "" {
		if c, derr := net.Dial("unix", path); derr != nil {
			return socketTrouble(path, err) + " (retryable)"
		} else {
			c.Close()
		}
	}
	return err.Error()
}
