package statusview

import (
	"fmt"
	"github.com/sealhost/sealhost/host/internal/termtext"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// Write prints a status for a terminal: a headline, then one table
// per concern, so the eye finds processors, queues and locks at once.
func Write(w io.Writer, st *taskv1.StatusResponse) {
	now := time.Unix(0, st.GetNowUnixNano())
	up := now.Sub(time.Unix(0, st.GetStartedUnixNano()))
	mode := "confined"
	if !st.GetConfined() {
		mode = "UNCONFINED: plugins run without cgroups"
	}
	fmt.Fprintf(w, "host %s  pid %d  up %s  %s\n", st.GetInstance(), st.GetPid(), age(up), mode)
	fmt.Fprintf(w, "config %s\n", st.GetConfigFile())
	if st.GetDraining() {
		fmt.Fprintln(w, "DRAINING: taking no new tasks, letting running ones finish")
	}

	fmt.Fprintln(w, "\nPROCESSORS")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSINCE\tPID\tTASKS\tDONE\tFAILED\tRESTARTS\tLOCKS\tCGROUP")
	var errs []string
	for _, p := range st.GetProcessors() {
		locks := strings.Join(p.GetLocks(), ",")
		if locks == "" {
			locks = "-"
		}
		pid := "-"
		if p.GetPid() > 0 {
			pid = fmt.Sprint(p.GetPid())
		}
		cg := p.GetCgroup()
		if !p.GetConfined() {
			cg = "NONE (unconfined)"
		}
		state := p.GetState()
		if n := p.GetNextTryUnixNano(); n > 0 {
			// A backoff or a failed processor's cool-down: when it starts
			// its plugin again.
			state += ", next try in " + age(time.Unix(0, n).Sub(now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%s\t%s\n", p.GetId(), state,
			age(now.Sub(time.Unix(0, p.GetSinceUnixNano()))), pid, p.GetRunning(), p.GetConcurrent(),
			p.GetDone(), p.GetFailed(), p.GetRestarts(), locks, cg)
		if p.GetLastError() != "" {
			errs = append(errs, fmt.Sprintf("  %s: %s", p.GetId(), firstLines(p.GetLastError(), 3)))
		}
	}
	tw.Flush()
	if len(errs) > 0 {
		fmt.Fprintln(w, "last errors:")
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
	}

	fmt.Fprintln(w, "\nSTAGES")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	preempted := false // the column shows once a run was preempted
	for _, s := range st.GetStages() {
		preempted = preempted || s.GetPreempted() > 0
	}
	head := "STAGE\tRUNNING\tLIMIT\tWAITING\tOLDEST WAIT\tDONE\tFAILED"
	if preempted {
		head += "\tPREEMPTED"
	}
	fmt.Fprintln(tw, head)
	for _, s := range st.GetStages() {
		limit, oldest := "-", "-"
		if s.GetLimit() > 0 {
			limit = fmt.Sprint(s.GetLimit())
		}
		if s.GetWaiting() > 0 {
			oldest = age(time.Duration(s.GetOldestWaitNanos()))
		}
		name := stageName(s.GetStage())
		if s.GetUrgent() {
			name += " (urgent)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%d", name, s.GetRunning(), limit, s.GetWaiting(), oldest, s.GetDone(), s.GetFailed())
		if preempted {
			p := "-"
			if n := s.GetPreempted(); n > 0 {
				p = fmt.Sprintf("%d, %s lost", n, age(time.Duration(s.GetPreemptedWorkNanos())))
			}
			fmt.Fprintf(tw, "\t%s", p)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nRUNNING TASKS (%d)\n", len(st.GetRunning()))
	if len(st.GetRunning()) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TASK\tSTAGE\tPROCESSOR\tSECTOR\tSTATE\tRUNNING FOR\tWAITED")
		for _, t := range st.GetRunning() {
			sector := "-"
			if s := t.GetSector(); s != nil {
				sector = fmt.Sprintf("f0%d/%d", s.GetMinerId(), s.GetSectorNumber())
			}
			state := "running"
			if c := t.GetCancellingSinceUnixNano(); c > 0 {
				// Cancelled, but the plugin's call has not ended: it
				// still holds its slot and locks.
				state = "cancelling for " + age(now.Sub(time.Unix(0, c)))
			}
			if t.GetPreempting() {
				state = "preempting for an urgent task"
			}
			if n := t.GetPreemptions(); n > 0 {
				state += fmt.Sprintf(", preempted %d×", n)
			}
			if d := t.GetDeadlineUnixNano(); d > 0 {
				if left := time.Unix(0, d).Sub(now); left >= 0 {
					state += ", deadline in " + age(left)
				} else {
					state += ", deadline passed " + age(-left) + " ago"
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.GetId(), stageName(t.GetStage()), t.GetProcessor(), sector, state,
				age(now.Sub(time.Unix(0, t.GetStartedUnixNano()))), age(time.Duration(t.GetWaitedNanos())))
		}
		tw.Flush()
	}

	if len(st.GetLocks()) > 0 {
		fmt.Fprintln(w, "\nLOCKS")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LOCK\tHELD\tHELD BY\tWAITING\tSHARE")
		for _, l := range st.GetLocks() {
			var by, waiting, share []string
			for _, hld := range l.GetHolders() {
				h := fmt.Sprintf("%s task %d on %s", stageName(hld.GetStage()), hld.GetTask(), hld.GetProcessor())
				switch {
				case hld.GetPreempting():
					h += " (preempting)"
				case hld.GetCancelling():
					h += " (cancelling)"
				}
				by = append(by, h)
			}
			for _, wt := range l.GetWaiters() {
				waiting = append(waiting, fmt.Sprintf("%s: %d", stageName(wt.GetStage()), wt.GetWaiting()))
			}
			stages := make([]string, 0, len(l.GetShare()))
			for s := range l.GetShare() {
				stages = append(stages, s)
			}
			sort.Strings(stages)
			for _, s := range stages {
				share = append(share, fmt.Sprintf("%s %.0f%%", s, 100*l.GetShare()[s]))
			}
			fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\n", l.GetName(), len(l.GetHolders()), l.GetCapacity(),
				orDash(strings.Join(by, ", ")), orDash(strings.Join(waiting, ", ")), orDash(strings.Join(share, " ")))
		}
		tw.Flush()
	}
}

func stageName(s sealv1.Stage) string {
	if s == sealv1.Stage_STAGE_UNSPECIFIED {
		return "?"
	}
	// sdk.StageName knows every stage of the protocol; one newer than this
	// build shows as its enum number.
	return sdk.StageName(s)
}

// age rounds a duration to what a glance needs: 850ms, 12s, 3m05s, 2h10m.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// firstLines keeps an error (which may quote many lines of plugin stderr)
// to a few lines, indented under its processor.
func firstLines(s string, n int) string {
	// Plugin text: no escape sequence of a plugin's reaches the terminal.
	lines := strings.Split(strings.TrimSpace(termtext.Clean(s)), "\n")
	for i, l := range lines {
		// Plugin stderr arrives tab-indented; tabs break the alignment.
		lines[i] = strings.TrimSpace(l)
	}
	more := ""
	if len(lines) > n {
		more = fmt.Sprintf("\n    … %d more lines (host status -json shows them)", len(lines)-n)
		lines = lines[:n]
	}
	return strings.Join(lines, "\n    ") + more
}
