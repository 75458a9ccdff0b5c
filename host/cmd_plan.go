package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/topology"
)

func init() {
	register(command{
		name:    "plan",
		summary: "show where every processor of a config will run on a machine, and what is wrong",
		run:     runPlan,
	})
	register(command{
		name:    "validate",
		summary: "check a config against a machine and print only its diagnostics",
		run:     runValidate,
	})
}

// planFlags are the flags plan and validate share.
type planFlags struct {
	fs       *flag.FlagSet
	config   *string
	topology *string
}

func newPlanFlags(name, usage, about string, stderr io.Writer) planFlags {
	fs := flag.NewFlagSet("host "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := planFlags{
		fs:       fs,
		config:   fs.String("config", "", "the config `FILE` to check (required)"),
		topology: fs.String("topology", "", "plan for the machine at `PATH`: a folder laid out like /sys, or a JSON file written by `host topology -json` (default: this machine)"),
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host "+name+" "+usage)
		fmt.Fprintln(stderr, "\n"+about)
		fmt.Fprintln(stderr, "\nExit status: 0 no error (warnings allowed), 1 an error, 2 a usage mistake.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	return f
}

// parse returns the exit status to stop with, or -1 to go on.
func (f planFlags) parse(args []string, stderr io.Writer) int {
	if err := f.fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (flags come before arguments, and there are none: did you mean -config %s?)\n", f.fs.Name(), f.fs.Arg(0), f.fs.Arg(0))
		f.fs.Usage()
		return 2
	}
	if *f.config == "" {
		fmt.Fprintf(stderr, "%s: -config is required\n", f.fs.Name())
		f.fs.Usage()
		return 2
	}
	return -1
}

// build loads the config and the machine and plans. A config with errors is
// not planned: its diagnostics come back as a plan of their own, with the
// machine checks of its sound processors. err is set only when the machine
// cannot be read for a config without errors.
func (f planFlags) build() (*plan.Plan, error) {
	cfg, diags := config.LoadPartial(*f.config)
	if diags.HasErrors() || cfg == nil {
		var src []byte
		if cfg != nil {
			src = cfg.Source
		} else {
			src, _ = os.ReadFile(*f.config)
		}
		// The machine checks of the processors that did decode come in
		// the same run; a machine that cannot be read only loses them.
		var m *topology.Machine
		if cfg != nil {
			m, _ = topology.Load(*f.topology)
		}
		return plan.ConfigFailedWithMachine(*f.config, src, diags, cfg, m), nil
	}
	m, err := topology.Load(*f.topology)
	if err != nil {
		return nil, err
	}
	p := plan.Build(cfg, m)
	p.AddConfigDiagnostics(diags)
	return p, nil
}

func runPlan(args []string, stdout, stderr io.Writer) int {
	f := newPlanFlags("plan", "-config FILE [-topology PATH] [-json] [-color auto|always|never]",
		"Shows, before anything starts, where every processor of the config will run:\n"+
			"its cpus and the ones its tasks keep busy, a core map by NUMA node and L3\n"+
			"group, pc1's multicore SDR units, spare cpus, locks, GPUs, memory per NUMA\n"+
			"node, and every problem found. The JSON form is described in docs/plan-json.md.",
		stderr)
	asJSON := f.fs.Bool("json", false, "write the plan as one JSON object")
	colorMode := f.fs.String("color", "auto", "colour the text: `auto` (on a terminal), always or never")
	if rc := f.parse(args, stderr); rc >= 0 {
		return rc
	}
	color, ok := wantColor(*colorMode, stdout)
	if !ok {
		fmt.Fprintf(stderr, "host plan: -color %q: want auto, always or never\n", *colorMode)
		return 2
	}
	p, err := f.build()
	if err != nil {
		fmt.Fprintf(stderr, "host plan: %v\n", err)
		return 1
	}
	switch {
	case *asJSON:
		err = p.WriteJSON(stdout)
	case len(p.Processors) == 0 && p.HasErrors():
		// The config did not decode: there is no plan to show, only why.
		colorErr, _ := wantColor(*colorMode, stderr)
		err = config.WriteDiagnostics(stderr, p.ConfigFile, p.Source(), p.Diagnostics, colorErr)
	default:
		err = p.WriteText(stdout, color)
	}
	if err != nil {
		fmt.Fprintf(stderr, "host plan: %v\n", err)
		return 1
	}
	if p.HasErrors() {
		if !*asJSON {
			fmt.Fprintf(stderr, "host plan: %s: %s\n", *f.config, p.CountLine())
		}
		return 1
	}
	return 0
}

func runValidate(args []string, stdout, stderr io.Writer) int {
	f := newPlanFlags("validate", "-config FILE [-topology PATH]",
		"Checks the config and its layout on the machine and prints only the problems\n"+
			"(to stderr) and then one summary line: \"FILE: ok...\" on stdout when there is\n"+
			"no error, \"FILE: N errors...\" on stderr when there is.",
		stderr)
	if rc := f.parse(args, stderr); rc >= 0 {
		return rc
	}
	p, err := f.build()
	if err != nil {
		fmt.Fprintf(stderr, "host validate: %v\n", err)
		return 1
	}
	if err := config.WriteDiagnostics(stderr, p.ConfigFile, p.Source(), p.Diagnostics, isTerminal(stderr)); err != nil {
		fmt.Fprintf(stderr, "host validate: %v\n", err)
		return 1
	}
	if p.HasErrors() {
		fmt.Fprintf(stderr, "%s: %s\n", *f.config, p.CountLine())
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", *f.config, p.CountLine())
	return 0
}

// wantColor resolves -color for w; ok is false for an unknown mode.
func wantColor(mode string, w io.Writer) (color, ok bool) {
	switch mode {
	case "always":
		return true, true
	case "never":
		return false, true
	case "auto":
		return isTerminal(w), true
	}
	return false, false
}

// isTerminal reports whether w is a terminal that wants colour: not when
// piped or captured, nor when NO_COLOR is set (no-color.org) or TERM=dumb.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}
