package suggest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sealhost/sealhost/host/internal/config"
)

// WriteText writes res for a person: the shared layout and why, the
// ranking with each candidate's sectors a day, bound and what binds, then
// each candidate's processors.
func WriteText(w io.Writer, res *Result) error {
	var b strings.Builder
	machine := res.Machine
	if machine == "" || machine == "live" {
		machine = "this machine"
	}
	fmt.Fprintf(&b, "host suggest for %s: %s sectors, GPUs %s, %d spare core%s", machine, res.SectorSize, intList(res.GPUs), res.SpareCores, plural(res.SpareCores))
	if len(res.PoSt) > 0 {
		var ps []string
		for _, st := range res.PoSt {
			ps = append(ps, string(st))
		}
		fmt.Fprintf(&b, ", PoSt %s on the GPUs too (-post)", strings.Join(ps, " and "))
	}
	b.WriteString(".\n\n")
	l := res.Layout
	fmt.Fprintf(&b, "pc1, one processor per NUMA node on whole L3 groups (multicore SDR; a task needs %s, the parent cache %s on each node):\n",
		config.HumanSize(l.TaskBytes), config.HumanSize(l.ParentCacheBytes))
	for _, n := range l.Nodes {
		if n.PC1Tasks > 0 {
			fmt.Fprintf(&b, "  node %d: %d tasks on cpus %s: %s.\n", n.Node, n.PC1Tasks, n.PC1CPUs, n.Why)
		} else {
			fmt.Fprintf(&b, "  node %d: %s.\n", n.Node, n.Why)
		}
	}
	fmt.Fprintf(&b, "Spare cpus (the last idle pc1 cores of each node): %s.\n", orNone(l.Spare))
	b.WriteString("Left for pc2 and c2 (the cores pc1 leaves idle, then the groups it does not use):\n")
	for _, n := range l.Nodes {
		fmt.Fprintf(&b, "  node %d: %s (%d cores).\n", n.Node, orNone(n.Pool), len(n.pool))
	}
	fmt.Fprintf(&b, "pc2 gets %d cores a processor: with the GPU tree builder it only moves data to the GPU. c2 gets every core left: it synthesises the circuits on the CPU before the GPU proves them.\n\n", pc2Cores)

	if len(res.Candidates) > 0 {
		if len(res.PoSt) > 0 {
			fmt.Fprintf(&b, "Ranked by PoSt deadlines met, then sectors a day, each simulated %d days under the fair policy with the default PoSt workload:\n", res.SimDays)
		} else {
			fmt.Fprintf(&b, "Ranked by sectors a day, each simulated %d days under the fair policy:\n", res.SimDays)
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		head := "RANK\tCANDIDATE\tGPUS\tSECTORS/DAY\tBOUND\tOF BOUND\tBOTTLENECK (BINDING)"
		for _, st := range res.PoSt {
			head += fmt.Sprintf("\t%s MISSED\tWAIT P99 (s)", st)
		}
		fmt.Fprintln(tw, head)
		for _, c := range res.Candidates {
			bound, of, binds := "-", "-", "-"
			if c.Bound != nil {
				bound = fmt.Sprintf("%.1f", c.Bound.SectorsPerDay)
				of = fmt.Sprintf("%.1f%%", 100*c.Bound.Achieved)
				binds = strings.Join(c.Bound.Binding, ", ")
			}
			row := fmt.Sprintf("%d\t%s\t%s\t%.1f\t%s\t%s\t%s", c.Rank, c.Strategy, c.Describe, c.SectorsPerDay, bound, of, binds)
			for _, st := range res.PoSt {
				if ps := c.PoSt[string(st)]; ps != nil {
					row += fmt.Sprintf("\t%d of %d\t%s", ps.Missed, ps.Submitted, trim(ps.WaitP99Seconds))
				}
			}
			fmt.Fprintln(tw, row)
		}
		tw.Flush()
		if s := Compare(res); s != "" {
			b.WriteString("\n" + s + "\n")
		}
		if best := res.Candidates[0]; best.PoStProblem != "" {
			fmt.Fprintf(&b, "No candidate meets every PoSt deadline; the best, %s, misses %d: %s.\n", best.Strategy, best.PoStMissed, best.PoStProblem)
		}
		if best := res.Candidates[0]; best.Bound != nil {
			if next := nextLimit(best.Bound); next != nil {
				fmt.Fprintf(&b, "Past %s, %s's next limit is %s at %.1f a day (%s).\n", best.Bound.Binding[0], best.Strategy, next.Resource, next.SectorsPerDay, next.How)
			}
		}
	}
	for _, d := range res.Dropped {
		fmt.Fprintf(&b, "Not a candidate: %s: %s.\n", d.Strategy, d.Reason)
	}
	for _, c := range res.Candidates {
		fmt.Fprintf(&b, "\n%d. %s (%s): limits %s\n", c.Rank, c.Strategy, c.Describe, limitList(c.Limits))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROCESSOR\tCPUS\tCORES\tCONCURRENT\tNUMA\tGPU\tLOCKS")
		for _, p := range c.Processors {
			numa, gpu := "-", "-"
			if p.NUMA != nil {
				numa = fmt.Sprint(*p.NUMA)
			}
			if p.GPU != nil {
				gpu = fmt.Sprint(*p.GPU)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\t%s\n", p.ID, p.CPUs, p.Cores, p.Concurrent, numa, gpu, orNone(strings.Join(p.Locks, ",")))
		}
		tw.Flush()
		var waits []string
		for _, st := range []string{"pc1", "pc2", "c2"} {
			if w, ok := c.Waits[st]; ok {
				waits = append(waits, fmt.Sprintf("%s %s/%s/%s", st, trim(w[0]), trim(w[1]), trim(w[2])))
			}
		}
		fmt.Fprintf(&b, "  wait for a processor p50/p99/max (min): %s\n", strings.Join(waits, ", "))
		if c.PoSt != nil {
			fmt.Fprintf(&b, "  PoSt: %s\n", postLine(c))
		}
		for _, wn := range c.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", wn)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func intList(s []int) string {
	if len(s) == 0 {
		return "none"
	}
	var p []string
	for _, x := range s {
		p = append(p, fmt.Sprint(x))
	}
	return strings.Join(p, ",")
}

func limitList(m map[string]int) string {
	var p []string
	for _, st := range config.Stages {
		if n, ok := m[string(st)]; ok {
			p = append(p, fmt.Sprintf("%s %d", st, n))
		}
	}
	return strings.Join(p, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
