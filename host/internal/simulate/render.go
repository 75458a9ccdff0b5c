package simulate

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/sealhost/sealhost/host/internal/config"
)

// activeStages lists the stages a result ran, in pipeline order, and those
// among them that queue for processors.
func (r *Result) activeStages() (all, queued []string) {
	for _, p := range r.Pipeline {
		if p.Mode == Skipped {
			continue
		}
		all = append(all, p.Stage)
		if p.Mode == Dispatched {
			queued = append(queued, p.Stage)
		}
	}
	return all, queued
}

func (r *Result) lockNames() []string {
	names := make([]string, 0, len(r.Locks))
	for n := range r.Locks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// WriteText writes r for a person, the answer first: sectors per day
// against the bound and what binds, then each stage's waits and backlog,
// each lock, what was simulated and what was assumed; the timeline only
// when timeline is true (it is long: 721 rows for 30 days).
func WriteText(w io.Writer, r *Result, timeline bool) error {
	var b strings.Builder
	writeSummary(&b, r)

	all, queued := r.activeStages()
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STAGE\tDONE\tUTILIZATION\tWAIT P50\tP99\tMAX (min)\tBACKLOG MEAN\tMAX\tAT END\t")
	for _, name := range all {
		s := r.Stages[name]
		u := "-"
		if s.Utilization != nil {
			u = fmt.Sprintf("%.3f", *s.Utilization)
		}
		mean, most, end := "-", "-", "-"
		if contains(queued, name) {
			mean, most, end = trimFloat(s.BacklogMean), fmt.Sprint(s.BacklogMax), fmt.Sprint(s.BacklogEnd)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Done, u,
			trimFloat(s.WaitP50Minutes), trimFloat(s.WaitP99Minutes), trimFloat(s.WaitMaxMinutes), mean, most, end)
	}
	tw.Flush()
	writePoSt(&b, r)

	if len(r.Locks) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LOCK\tCAPACITY\tBUSY\tIDLE WHILE WAITING (min)\tSHARE OF BUSY TIME\tGRANTS")
		holders := append(all, r.postStages()...)
		for _, name := range r.lockNames() {
			l := r.Locks[name]
			var share, grants []string
			for _, st := range holders {
				if v, ok := l.Share[st]; ok {
					share = append(share, fmt.Sprintf("%s %.3f", st, v))
				}
				if n, ok := l.Grants[st]; ok {
					grants = append(grants, fmt.Sprintf("%s %d", st, n))
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%.3f\t%s\t%s\t%s\n", name, l.Capacity, l.BusyFraction,
				trimFloat(l.IdleWhileWaitingMinutes), orDash(strings.Join(share, ", ")), orDash(strings.Join(grants, ", ")))
		}
		tw.Flush()
	}

	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tRUNS\tMINUTES\tCAPACITY\tDURATION FROM")
	for _, p := range r.Pipeline {
		capacity, minutes := "-", "-"
		if p.Mode == Dispatched {
			capacity = fmt.Sprint(p.Capacity)
		} else if p.Mode == InWorker {
			capacity = "unlimited"
		}
		if p.Mode != Skipped {
			minutes = trimFloat(p.Minutes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Stage, p.Mode, minutes, capacity, p.Source)
	}
	tw.Flush()
	if len(r.Defaults) > 0 {
		b.WriteString("\nAssumed, because the config does not say:\n")
		for _, d := range r.Defaults {
			fmt.Fprintf(&b, "  - %s\n", d)
		}
	}

	if timeline {
		writeTimeline(&b, r)
	} else {
		fmt.Fprintf(&b, "\n(-timeline prints the state every %d min; -svg draws it.)\n", r.StepMinutes)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSummary is the head of the text output: what was run, sectors per
// day against the bound, and every resource's limit.
func writeSummary(b *strings.Builder, r *Result) {
	fmt.Fprintf(b, "Simulated %s of %s sectors under policy %s with %d sealing threads, %s min between a thread's sectors.\n",
		span(r.Minutes), r.SectorSize, r.Policy, r.SealingThreads, trimFloat(r.TurnaroundMinutes))
	fmt.Fprintf(b, "Finished %d sectors: %.1f per day.\n", r.Finished, r.SectorsPerDay)
	bd := r.Bound
	if bd == nil {
		b.WriteString("Bound: none (no stage runs on processors).\n")
		return
	}
	fmt.Fprintf(b, "Bound: %.1f per day, set by %s; achieved %.1f%% of it.\n", bd.SectorsPerDay, strings.Join(bd.Binding, ", "), 100*bd.Achieved)
	fmt.Fprintf(b, "Bottleneck: %s.\n", bd.Binding[0])
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tSECTORS/DAY\tHOW")
	for _, l := range bd.Limits {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\n", l.Resource, l.SectorsPerDay, l.How)
	}
	tw.Flush()
	fmt.Fprintf(b, "(assumes %s)\n", bd.Assumes)
}

func writeTimeline(b *strings.Builder, r *Result) {
	all, queued := r.activeStages()
	fmt.Fprintf(b, "\nTimeline, every %d min (state at the end of each minute):\n", r.StepMinutes)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"MINUTE", "HOURS", "FINISHED"}
	for _, s := range all {
		head = append(head, "RUN "+s)
	}
	for _, s := range queued {
		head = append(head, "WAIT "+s)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, p := range r.Timeline {
		row := []string{fmt.Sprint(p.Minute), trimFloat(float64(p.Minute) / 60), fmt.Sprint(p.Finished)}
		for _, s := range all {
			row = append(row, fmt.Sprint(p.Running[s]))
		}
		for _, s := range queued {
			row = append(row, fmt.Sprint(p.Waiting[s]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// WriteComparison writes runs of one config under different policies side
// by side: sectors per day and the bound's share, then each queued stage's
// waits and backlog, so it is plain whether a policy changes throughput or
// only where sectors wait.
func WriteComparison(w io.Writer, runs []*Result) error {
	if len(runs) == 0 {
		return nil
	}
	var b strings.Builder
	r0 := runs[0]
	fmt.Fprintf(&b, "Simulated %s of %s sectors with %d sealing threads under each policy.\n", span(r0.Minutes), r0.SectorSize, r0.SealingThreads)
	if r0.Bound != nil {
		fmt.Fprintf(&b, "Bound: %.1f per day, set by %s.\n", r0.Bound.SectorsPerDay, strings.Join(r0.Bound.Binding, ", "))
	}
	b.WriteString("\n")
	// Only stages where sectors queue under some policy are worth a column.
	_, all := r0.activeStages()
	var queued []string
	for _, s := range all {
		for _, r := range runs {
			if st := r.Stages[s]; st != nil && st.BacklogMean >= 0.1 {
				queued = append(queued, s)
				break
			}
		}
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"POLICY", "SECTORS/DAY", "OF BOUND"}
	for _, s := range queued {
		head = append(head, s+" WAIT P50", "P99", "MAX (min)", "BACKLOG MEAN", "MAX")
	}
	post := r0.postStages()
	for _, s := range post {
		head = append(head, s+" MISSED", "WAIT P99 (s)")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, r := range runs {
		of := "-"
		if r.Bound != nil {
			of = fmt.Sprintf("%.1f%%", 100*r.Bound.Achieved)
		}
		row := []string{r.Policy, fmt.Sprintf("%.1f", r.SectorsPerDay), of}
		for _, s := range queued {
			st := r.Stages[s]
			row = append(row, trimFloat(st.WaitP50Minutes), trimFloat(st.WaitP99Minutes), trimFloat(st.WaitMaxMinutes),
				trimFloat(st.BacklogMean), fmt.Sprint(st.BacklogMax))
		}
		for _, s := range post {
			p := r.PoSt[s]
			row = append(row, fmt.Sprint(p.Missed), trimFloat(p.WaitP99Seconds))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	lo, hi := runs[0].SectorsPerDay, runs[0].SectorsPerDay
	for _, r := range runs {
		lo, hi = math.Min(lo, r.SectorsPerDay), math.Max(hi, r.SectorsPerDay)
	}
	if hi > 0 && (hi-lo)/hi < 0.01 {
		b.WriteString("\nEvery policy gives the same sectors per day (within 1%): the policy only moves where sectors wait, not how many finish.\n")
	} else {
		fmt.Fprintf(&b, "\nThe policies differ in throughput: %.1f to %.1f sectors per day.\n", lo, hi)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// postStages lists the result's PoSt stages in config order.
func (r *Result) postStages() []string {
	var out []string
	for _, st := range config.Stages {
		if _, ok := r.PoSt[string(st)]; ok {
			out = append(out, string(st))
		}
	}
	return out
}

// writePoSt writes the PoSt workload's table and what preemption cost,
// when the run had either.
func writePoSt(b *strings.Builder, r *Result) {
	names := r.postStages()
	if len(names) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "POST\tURGENT\tSUBMITTED\tDONE\tMISSED\tPENDING\tDEADLINE (min)\tWAIT P50\tP99\tMAX (s)\t")
		for _, name := range names {
			p := r.PoSt[name]
			urgent := "no"
			if p.Urgent {
				urgent = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", name, urgent, p.Submitted, p.Done, p.Missed, p.Pending,
				trimFloat(p.DeadlineMinutes), trimFloat(p.WaitP50Seconds), trimFloat(p.WaitP99Seconds), trimFloat(p.WaitMaxSeconds))
		}
		tw.Flush()
		var work []string
		for _, name := range names {
			p := r.PoSt[name]
			if p.PerDay > 0 {
				work = append(work, fmt.Sprintf("%s %s a day on average, at random epochs (fixed seed), %s min each", name, trimFloat(p.PerDay), trimFloat(p.Minutes)))
			} else {
				work = append(work, fmt.Sprintf("%s %d every %s min, %s min each", name, p.Partitions, trimFloat(p.EveryMinutes), trimFloat(p.Minutes)))
			}
		}
		from := "simulation block's post block"
		if r.postImplicit != nil {
			from = "the default: the config has PoSt processors and no post block"
		}
		fmt.Fprintf(b, "PoSt workload (%s): %s.\n", from, strings.Join(work, "; "))
	}
	if len(r.Preempted) == 0 {
		if len(names) > 0 {
			b.WriteString("Preempted for urgent work: nothing.\n")
		}
		return
	}
	var lost []string
	for _, st := range config.Stages {
		if p, ok := r.Preempted[string(st)]; ok {
			lost = append(lost, fmt.Sprintf("%s %d tasks, %s min of work lost", st, p.Tasks, trimFloat(p.LostMinutes)))
		}
	}
	fmt.Fprintf(b, "Preempted for urgent work (cancelled, their work lost, and run again): %s.\n", strings.Join(lost, "; "))
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// trimFloat prints up to two decimals without trailing zeros.
func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func span(minutes int) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case minutes%(24*60) == 0:
		return plural(minutes/(24*60), "day")
	case minutes%60 == 0:
		return plural(minutes/60, "hour")
	}
	return plural(minutes, "minute")
}
