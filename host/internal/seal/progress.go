package seal

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// Progress counts, per stage, the calls in flight and the calls that
// ended. The driver updates it; a renderer reads it. A nil *Progress
// ignores updates.
type Progress struct {
	mu     sync.Mutex
	total  int
	counts map[config.Stage]*StageCount
	seed   int // sectors between pc2 and c1, waiting for the seed
}

// StageCount is one stage's progress.
type StageCount struct {
	Stage config.Stage
	// InFlight calls are waiting in the host or running.
	InFlight int
	Done     int
	Failed   int
}

// NewProgress tracks a run of total sectors.
func NewProgress(total int) *Progress {
	p := &Progress{total: total, counts: map[config.Stage]*StageCount{}}
	for _, st := range config.SealingStages {
		p.counts[st] = &StageCount{Stage: st}
	}
	return p
}

func (p *Progress) submitted(st config.Stage) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.counts[st].InFlight++
	p.mu.Unlock()
}

func (p *Progress) finished(st config.Stage, ok bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	c := p.counts[st]
	c.InFlight--
	if ok {
		c.Done++
	} else {
		c.Failed++
	}
	p.mu.Unlock()
}

func (p *Progress) seedWait(delta int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.seed += delta
	p.mu.Unlock()
}

// SeedWaiting is how many sectors wait for their seed now.
func (p *Progress) SeedWaiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seed
}

// Snapshot returns the counts in pipeline order.
func (p *Progress) Snapshot() []StageCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]StageCount, 0, len(config.SealingStages))
	for _, st := range config.SealingStages {
		out = append(out, *p.counts[st])
	}
	return out
}

// Total is the number of sectors of the run.
func (p *Progress) Total() int { return p.total }

// Renderer draws progress while a run goes on.
type Renderer struct {
	W        io.Writer
	Progress *Progress
	// Terminal redraws bars in place with ANSI cursor movement; otherwise
	// one plain line is printed per Interval when something changed, which
	// reads well in a log or CI output.
	Terminal bool
	// Width is the terminal's width in columns (80 when 0).
	Width    int
	Interval time.Duration
	// Status, when set, is polled each frame for the host's own count of
	// waiting and running tasks per stage, which splits the driver's "in
	// flight" into the two.
	Status func(ctx context.Context) (*taskv1.StatusResponse, error)
	Now    func() time.Time

	start time.Time
	drawn int    // lines of the last terminal frame
	last  string // last plain line
}

// Run draws until ctx is done, then draws the final frame and returns.
func (r *Renderer) Run(ctx context.Context) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Interval <= 0 {
		r.Interval = 200 * time.Millisecond
	}
	r.start = r.Now()
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		r.Frame(ctx)
		select {
		case <-ctx.Done():
			r.Frame(context.Background())
			return
		case <-t.C:
		}
	}
}

// stageLive is what the host says about a stage, when it says.
type stageLive struct {
	waiting, running int
	known            bool
}

func (r *Renderer) live(ctx context.Context) map[config.Stage]stageLive {
	out := map[config.Stage]stageLive{}
	if r.Status == nil || ctx.Err() != nil {
		return out
	}
	sctx, cancel := context.WithTimeout(ctx, r.Interval)
	defer cancel()
	st, err := r.Status(sctx)
	if err != nil {
		return out
	}
	for _, s := range st.GetStages() {
		if name, ok := stageNames[s.GetStage()]; ok {
			out[name] = stageLive{waiting: int(s.GetWaiting()), running: int(s.GetRunning()), known: true}
		}
	}
	return out
}

var stageNames = map[sealv1.Stage]config.Stage{
	sealv1.Stage_STAGE_TREE_D: config.StageTreeD,
	sealv1.Stage_STAGE_PC1:    config.StagePC1,
	sealv1.Stage_STAGE_PC2:    config.StagePC2,
	sealv1.Stage_STAGE_C1:     config.StageC1,
	sealv1.Stage_STAGE_C2:     config.StageC2,
}

// Progress counts only the sealing stages: a sealing run submits no other.

// Frame draws once.
func (r *Renderer) Frame(ctx context.Context) {
	snap := r.Progress.Snapshot()
	live := r.live(ctx)
	elapsed := r.Now().Sub(r.start).Truncate(100 * time.Millisecond)
	total := r.Progress.Total()
	if !r.Terminal {
		var b strings.Builder
		for i, c := range snap {
			if i > 0 {
				b.WriteString("  ")
			}
			fmt.Fprintf(&b, "%s %d/%d", c.Stage, c.Done, total)
			if c.Failed > 0 {
				fmt.Fprintf(&b, " (%d failed)", c.Failed)
			}
		}
		if n := r.Progress.SeedWaiting(); n > 0 {
			fmt.Fprintf(&b, "  (%d waiting for the seed)", n)
		}
		line := b.String()
		if line != r.last {
			fmt.Fprintf(r.W, "%6.1fs  %s\n", elapsed.Seconds(), line)
			r.last = line
		}
		return
	}
	width := r.Width
	if width <= 0 {
		width = 80
	}
	header := fmt.Sprintf("sealing %d sectors  %v", total, elapsed)
	if n := r.Progress.SeedWaiting(); n > 0 {
		header += fmt.Sprintf("  (%d waiting for the seed)", n)
	}
	header += "   " + legend
	lines := []string{header}
	for _, c := range snap {
		lines = append(lines, barLine(c, live[c.Stage], total, width))
	}
	var b strings.Builder
	if r.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", r.drawn) // back to the first line of the last frame
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[2K")
		b.WriteString(fit(l, width-1))
		b.WriteByte('\n')
	}
	r.drawn = len(lines)
	io.WriteString(r.W, b.String())
}

// fit cuts a line to n columns: a line that wrapped would take two rows
// and the next frame's cursor-up would land one row short.
func fit(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:max(n, 0)])
}

// legend names the bars' marks, on the header line.
const legend = "█ done  ▒ in flight (running or waiting)  ░ not yet"

// barLine is "pc1     [████████░░░░░░░░]  3/8  running 2  waiting 3".
//
// The host's running and waiting counts are its own (other callers' tasks,
// and after an interrupt the cancelled calls still stopping, among them):
// they are cut to this run's calls in flight, so that done, running,
// waiting and failed never add up to more than the sectors of the run.
func barLine(c StageCount, l stageLive, total, width int) string {
	var tail string
	if l.known {
		running := min(l.running, c.InFlight)
		waiting := min(l.waiting, c.InFlight-running)
		tail = fmt.Sprintf("running %d  waiting %d", running, waiting)
	} else {
		tail = fmt.Sprintf("in flight %d", c.InFlight)
	}
	if c.Failed > 0 {
		tail += fmt.Sprintf("  failed %d", c.Failed)
	}
	count := fmt.Sprintf("%*d/%d", len(fmt.Sprint(total)), c.Done, total)
	// name(7) + space + [bar] + 2 spaces + count + 2 spaces + tail
	barWidth := width - 8 - 2 - 2 - len(count) - 2 - len(tail) - 1
	barWidth = max(min(barWidth, 40), 10)
	filled := 0
	if total > 0 {
		filled = c.Done * barWidth / total
	}
	running := 0
	if total > 0 && c.InFlight > 0 {
		running = max(1, c.InFlight*barWidth/total)
		running = min(running, barWidth-filled)
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("▒", running) + strings.Repeat("░", barWidth-filled-running)
	return fmt.Sprintf("%-7s [%s]  %s  %s", c.Stage, bar, count, tail)
}
