package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sealhost/sealhost/host/internal/topology"
)

func init() {
	register(command{
		name:    "topology",
		summary: "show the machine's NUMA nodes, L3 groups, cores and NVIDIA GPUs",
		run:     runTopology,
	})
}

func runTopology(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host topology", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("topology", "", "read the machine from `PATH`: a folder laid out like /sys, or a JSON file written by -json (default: this machine)")
	asJSON := fs.Bool("json", false, "write the machine as JSON, for -topology on another computer")
	colorMode := fs.String("color", "auto", "colour the text: `auto` (on a terminal), always or never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host topology [-topology PATH] [-json] [-color auto|always|never]")
		fmt.Fprintln(stderr, "\nShows what a plan is made against: per NUMA node its memory, cpus and L3")
		fmt.Fprintln(stderr, "groups, SMT, packages and NVIDIA GPUs in PCI bus order.")
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
		fmt.Fprintf(stderr, "host topology: unexpected argument %q (did you mean -topology %s?)\n", fs.Arg(0), fs.Arg(0))
		fs.Usage()
		return 2
	}
	// wantColor is shared with host plan (cmd_plan.go).
	color, ok := wantColor(*colorMode, stdout)
	if !ok {
		fmt.Fprintf(stderr, "host topology: -color %q: want auto, always or never\n", *colorMode)
		return 2
	}
	m, err := topology.Load(*from)
	if err != nil {
		fmt.Fprintf(stderr, "host topology: %v\n", err)
		return 1
	}
	if *asJSON {
		err = topology.WriteJSON(stdout, m)
	} else {
		err = topology.WriteText(stdout, m, color)
	}
	if err != nil {
		fmt.Fprintf(stderr, "host topology: %v\n", err)
		return 1
	}
	return 0
}
