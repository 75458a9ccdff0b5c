package simulate

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
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

// WriteText writes r for a person: what was simulated, the totals, per
// stage and per lock figures, then the timeline.
func WriteText(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Simulated %s of %s sectors under policy %s with %d sealing threads, %s min between a thread's sectors.\n",
		span(r.Minutes), r.SectorSize, r.Policy, r.SealingThreads, trimFloat(r.TurnaroundMinutes))
	fmt.Fprintf(&b, "Finished %d sectors: %.1f per day.\n\n", r.Finished, r.SectorsPerDay)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
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
	b.WriteString("\n")

	all, queued := r.activeStages()
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STAGE\tDONE\tUTILIZATION\tWAIT P50\tWAIT P99\tWAIT MAX (min)\t")
	for _, name := range all {
		s := r.Stages[name]
		u := "-"
		if s.Utilization != nil {
			u = fmt.Sprintf("%.3f", *s.Utilization)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", name, s.Done, u,
			trimFloat(s.WaitP50Minutes), trimFloat(s.WaitP99Minutes), trimFloat(s.WaitMaxMinutes))
	}
	tw.Flush()

	if len(r.Locks) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LOCK\tCAPACITY\tBUSY\tIDLE WHILE WAITING (min)\tSHARE OF BUSY TIME\tGRANTS")
		for _, name := range r.lockNames() {
			l := r.Locks[name]
			var share, grants []string
			for _, st := range all {
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

	fmt.Fprintf(&b, "\nTimeline, every %d min (state at the end of each minute):\n", r.StepMinutes)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
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
	_, err := io.WriteString(w, b.String())
	return err
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
	switch {
	case minutes%(24*60) == 0:
		return fmt.Sprintf("%d days", minutes/(24*60))
	case minutes%60 == 0:
		return fmt.Sprintf("%d hours", minutes/60)
	}
	return fmt.Sprintf("%d minutes", minutes)
}
