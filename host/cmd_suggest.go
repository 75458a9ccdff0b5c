package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sealhost/sealhost/host/internal/suggest"
	"github.com/sealhost/sealhost/host/internal/topology"
)

func init() {
	register(command{
		name:    "suggest",
		summary: "design a config for a machine: candidate layouts, simulated and ranked, the best written as config.hcl",
		run:     runSuggest,
	})
}

func runSuggest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host suggest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topo := fs.String("topology", "", "design for the machine at `PATH`: a /sys-like folder or `host topology -json` output (default: this machine)")
	sector := fs.String("sector-size", "32GiB", "sector `SIZE`: 2KiB 8MiB 512MiB 32GiB 64GiB")
	spare := fs.Int("spare", 4, "`N` cores kept free for operations, spread over the NUMA nodes")
	gpus := fs.String("gpus", "", "the GPUs to use, a `LIST` of indices in PCI bus order (\"0,1\"; default: every GPU)")
	durations := fs.String("durations", "", "stage durations overriding the built-in table, `LIST` like \"pc1=320m,pc2=25m,c2=18m\"; written to the config's simulation block")
	post := fs.String("post", "", "also serve PoSt on the GPUs: `KINDS` window, winning, window,winning or all (none by default); each candidate is simulated proving too and ranks last if it misses a deadline")
	plugin := fs.String("plugin", "bin/plugins/ffi", "the plugin `PATH` written into the config (relative to the config's folder)")
	asJSON := fs.Bool("json", false, "write the result as one JSON object")
	out := fs.String("o", "", "write the best candidate to `FILE` (config.hcl)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host suggest [-topology PATH] [-sector-size 32GiB] [-spare 4] [-gpus LIST] [-durations LIST] [-post KINDS] [-plugin PATH] [-json] [-o FILE]")
		fmt.Fprintln(stderr, `
Designs configs for a machine the way the seed document does: one pc1
processor per NUMA node over whole L3 groups (producers chosen so multicore
SDR units fit a group and leave a core idle; tasks as many as the node's
memory holds), -spare cores kept free, and pc2 and c2 on the cores pc1
leaves; then one candidate per GPU strategy: plan-a, each GPU dedicated to
pc2 or c2; plan-b, a pc2 and a c2 paired on each GPU behind a capacity-1
lock; plan-b-c2-first, plan-b with c2 weighted a little above its share of
each GPU. Each candidate is checked by the planner (no error, no
cpu-overlap, no gpu-shared-without-lock) and simulated for 30 days under
the fair policy; they are ranked by sectors a day (within 1%, by c2's
wait), each with its bound and the resource that binds. -o writes the
best, commented, as a config that host validate accepts.

-post adds PoSt processors to every candidate, on the GPUs behind their
locks, urgent in the arbiter, preempting sealing only where a deadline
needs it; candidates are simulated with the default PoSt workload and
one that misses a deadline ranks below every one that does not.

Assumed, and said in the output: a pc1 task needs 2 × the sector (64 GiB
for 32GiB) on its node, and a node keeps 2% for the kernel and the parent
cache (56 GiB for 32GiB); pc2 gets 8 cores a processor; stage durations
come from simulate's built-in table (32GiB: pc1 177, pc2 12, c2 15 min)
unless -durations says otherwise.

Exit status: 0 designed, 1 the machine cannot be read or laid out, 2 a usage mistake.

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
		fmt.Fprintf(stderr, "host suggest: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q (flags come before arguments, and there are none)", fs.Arg(0))
	}
	req := suggest.Request{SectorSize: *sector, Spare: *spare, PluginPath: *plugin}
	var err error
	if req.GPUs, err = suggest.ParseGPUs(*gpus); err != nil {
		return usageErr("-gpus: %v", err)
	}
	if req.Durations, err = suggest.ParseDurations(*durations); err != nil {
		return usageErr("-durations: %v", err)
	}
	if req.PoSt, err = suggest.ParsePoSt(*post); err != nil {
		return usageErr("-post: %v", err)
	}
	if *spare < 0 {
		return usageErr("-spare %d: want 0 or more cores", *spare)
	}
	if *out != "" {
		req.File = *out
	}
	if req.Machine, err = topology.Load(*topo); err != nil {
		fmt.Fprintf(stderr, "host suggest: %v\n", err)
		return 1
	}
	res, err := suggest.Run(req)
	if err != nil {
		fmt.Fprintf(stderr, "host %v\n", err) // "suggest: …"
		return 1
	}
	if *out != "" {
		if len(res.Candidates) == 0 {
			fmt.Fprintf(stderr, "host suggest: no candidate to write to %s\n", *out)
			return 1
		}
		if err := os.WriteFile(*out, []byte(res.Candidates[0].HCL), 0o644); err != nil {
			fmt.Fprintf(stderr, "host suggest: %v\n", err)
			return 1
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = suggest.WriteText(stdout, res)
		if err == nil && *out != "" {
			_, err = fmt.Fprintf(stdout, "\nWrote %s (%s) to %s.\n", res.Candidates[0].Strategy, res.Candidates[0].Describe, *out)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "host suggest: %v\n", err)
		return 1
	}
	if len(res.Candidates) == 0 {
		fmt.Fprintln(stderr, "host suggest: no strategy gave a candidate for this machine (see above)")
		return 1
	}
	return 0
}
