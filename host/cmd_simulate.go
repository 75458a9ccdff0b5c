package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/simulate"
	"github.com/sealhost/sealhost/host/internal/topology"
)

func init() {
	register(command{
		name:    "simulate",
		summary: "predict what a config produces: run its dispatcher and lock arbiter on a virtual clock",
		run:     runSimulate,
	})
}

func runSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "the config `FILE` to simulate (required)")
	topo := fs.String("topology", "", "check the config against the machine at `PATH` first (a /sys-like folder or `host topology -json` output); without it the layout is not checked")
	span := fs.String("for", "30d", "simulated `DURATION` (\"30d\", \"12h\", \"1d12h\")")
	step := fs.String("step", "60m", "timeline `INTERVAL`, a whole number of minutes")
	policy := fs.String("policy", "", "lock sharing `POLICY` overriding the config's: fair, fifo or greedy; all compares the three side by side")
	timeline := fs.Bool("timeline", false, "also print the state every -step (running and waiting tasks per stage)")
	asJSON := fs.Bool("json", false, "write the result as one JSON object")
	svgPath := fs.String("svg", "", "also draw lock holders and stage backlogs over time to `FILE` (SVG)")
	turnaround := fs.String("turnaround", "1m", "`TIME` a sealing thread takes between finishing a sector and starting the next; 1m is sealcalc's, so both tools agree")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host simulate -config FILE [-topology PATH] [-for 30d] [-step 60m] [-policy fair|fifo|greedy|all] [-timeline] [-json] [-svg FILE] [-turnaround 1m]")
		fmt.Fprintln(stderr, `
Runs the config's dispatcher and lock arbiter on a virtual clock over the
damocles sealing pipeline (tree_d, pc1, pc2, wait seed, c1, c2) with at most
sealing_threads sectors in flight. It prints first sectors per day against
the layout's bound (each stage's slots × a day ÷ its duration, each lock's
and, with -topology, each GPU's day ÷ the time a sector needs from it, the
pc1 tasks memory holds, the sealing threads), which resource binds and the
fraction achieved; then per-stage waits (p50, p99, max) and backlog, and
per-lock busy time and shares. -policy all compares fair, fifo and greedy.

Defaults, stated in the output when applied: durations come from the
config's simulation block, else from a built-in table for the sector size
(32GiB: pc1 177, pc2 12, c2 15 min, seed wait 80 min); without
sealing_threads the simulator keeps enough sectors in flight to keep the
slowest stage busy (Little's law, plus one per slot of that stage). A stage
with neither processors nor a simulation duration is skipped; one with a
simulation duration but no processors runs inside the sealing thread
without limit, as c1 does in damocles-worker.

PoSt: a post block in the simulation block (post {} takes the defaults:
a WindowPoSt partition every 30m due within 30m, 10 WinningPoSts a day at
random epochs, fixed seed, each due within 25s) submits PoSt tasks with
their deadlines to the window_post and winning_post processors; with the
arbiter's urgent class and preempt, sealing tasks are preempted for them,
cancelled and run again. The output adds per PoSt stage the waits (p50,
p99, max, in seconds) and missed deadlines, and the tasks and work each
stage lost to preemption.

Exit status: 0 simulated, 1 the config or machine is wrong, 2 a usage mistake.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "host simulate: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q (flags come before arguments, and there are none)", fs.Arg(0))
	}
	if *cfgPath == "" {
		return usageErr("-config is required")
	}
	forDur, err := config.ParseDuration(*span)
	if err != nil || forDur < time.Minute || forDur%time.Minute != 0 {
		if err == nil {
			err = fmt.Errorf("%q is not a whole number of minutes, at least one", *span)
		}
		return usageErr("-for: %v", err)
	}
	stepDur, err := config.ParseDuration(*step)
	if err != nil || stepDur < time.Minute || stepDur%time.Minute != 0 {
		if err == nil {
			err = fmt.Errorf("%q is not a whole number of minutes, at least one", *step)
		}
		return usageErr("-step: %v", err)
	}
	turn, err := config.ParseDuration(*turnaround)
	if err != nil {
		return usageErr("-turnaround: %v", err)
	}
	compare := *policy == "all"
	switch config.Policy(*policy) {
	case "", config.PolicyFair, config.PolicyFIFO, config.PolicyGreedy, "all":
	default:
		return usageErr("-policy %q: want fair, fifo, greedy or all", *policy)
	}
	if compare && (*svgPath != "" || *timeline) {
		return usageErr("-policy all prints a comparison table; -svg and -timeline take one policy")
	}

	cfg, diags := config.Load(*cfgPath)
	if diags.HasErrors() || cfg == nil {
		src, _ := os.ReadFile(*cfgPath)
		if cfg != nil {
			src = cfg.Source
		}
		config.WriteDiagnostics(stderr, *cfgPath, src, diags, isTerminal(stderr))
		return 1
	}
	var placed *plan.Plan
	if *topo != "" {
		m, err := topology.Load(*topo)
		if err != nil {
			fmt.Fprintf(stderr, "host simulate: %v\n", err)
			return 1
		}
		p := plan.Build(cfg, m)
		if p.HasErrors() {
			config.WriteDiagnostics(stderr, p.ConfigFile, p.Source(), p.Diagnostics, isTerminal(stderr))
			fmt.Fprintf(stderr, "host simulate: %s does not fit the machine (%s); fix it first: `host plan -config %s -topology %s` shows where\n",
				*cfgPath, p.CountLine(), *cfgPath, *topo)
			return 1
		}
		placed = p
	}

	req := simulate.Request{
		Config: cfg, For: forDur, Step: stepDur, Policy: config.Policy(*policy), Turnaround: turn, Plan: placed,
	}
	if compare {
		req.Policy = ""
		runs, err := simulate.ComparePolicies(req)
		if err == nil {
			if *asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				err = enc.Encode(runs)
			} else {
				err = simulate.WriteComparison(stdout, runs)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "host simulate: %s: %v\n", *cfgPath, err)
			return 1
		}
		return 0
	}
	res, err := simulate.Run(req)
	if err != nil {
		fmt.Fprintf(stderr, "host simulate: %s: %v\n", *cfgPath, err)
		return 1
	}

	if *svgPath != "" {
		var buf bytes.Buffer
		title := "host simulate " + filepath.Base(*cfgPath)
		if err := simulate.WriteSVG(&buf, res, title); err == nil {
			err = os.WriteFile(*svgPath, buf.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "host simulate: writing the SVG: %v\n", err)
			return 1
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = simulate.WriteText(stdout, res, *timeline)
	}
	if err != nil {
		fmt.Fprintf(stderr, "host simulate: %v\n", err)
		return 1
	}
	return 0
}
