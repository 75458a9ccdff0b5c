package simulate

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// stageColours are fixed so the same stage has the same colour in every
// chart (and in every run an operator compares).
var stageColours = map[string]string{
	"tree_d":       "#8c564b",
	"pc1":          "#1f77b4",
	"pc2":          "#ff7f0e",
	StageWaitSeed:  "#7f7f7f",
	"c1":           "#9467bd",
	"c2":           "#d62728",
	"window_post":  "#2ca02c",
	"winning_post": "#bcbd22",
}

func colour(stage string) string {
	if c, ok := stageColours[stage]; ok {
		return c
	}
	return "#000000"
}

// SVG layout, in pixels.
const (
	svgWidth   = 1100
	plotLeft   = 70
	plotRight  = 930 // legend to the right of this
	lockBand   = 46
	lockGap    = 24
	backlogH   = 260
	axisSpace  = 42
	titleSpace = 56
)

// WriteSVG draws r as a self-contained SVG: one band per lock showing which
// stage held it over time (a stage that never gets the lock shows as a
// colour that never appears), then each queued stage's backlog over time
// (a stage being starved shows as a line that climbs). The x axis is in
// hours. title names the run.
//
// Over a long run one bar per timeline step would be a pixel wide, so the
// lock bands average the steps into bars at least minBarPx wide (12 h each
// over 30 days), and say so. Grid lines stay inside the plot frames, never
// through a caption, and the backlog's zero sits a few pixels above the
// frame so a stage that never queues (pc1, usually) still shows its line.
func WriteSVG(w io.Writer, r *Result, title string) error {
	_, queued := r.activeStages()
	locks := r.lockNames()
	totalMin := float64(r.Minutes)
	if totalMin <= 0 {
		totalMin = 1
	}
	x := func(minute float64) float64 {
		return plotLeft + (plotRight-plotLeft)*minute/totalMin
	}
	hours := totalMin / 60
	xTick := niceHours(hours)
	// vgrid draws the hour grid inside [y0, y1] only.
	vgrid := func(b *strings.Builder, y0, y1 float64) {
		for h := xTick; h < hours-1e-9; h += xTick {
			xx := x(h * 60)
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", xx, y0, xx, y1)
		}
	}
	bucket := barSteps(r, float64(plotRight-plotLeft)/totalMin)

	height := titleSpace + len(locks)*(lockBand+lockGap) + 30 + backlogH + axisSpace + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", plotLeft, html.EscapeString(title))
	sub := fmt.Sprintf("policy %s · %s · %d sealing threads · %d finished (%.1f/day)", r.Policy, span(r.Minutes), r.SealingThreads, r.Finished, r.SectorsPerDay)
	if r.Bound != nil {
		by := r.Bound.Binding[0]
		if n := len(r.Bound.Binding) - 1; n > 0 {
			by += fmt.Sprintf(" and %d more", n)
		}
		sub += fmt.Sprintf(" · %.1f%% of the bound %.1f/day set by %s", 100*r.Bound.Achieved, r.Bound.SectorsPerDay, by)
	}
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#444">%s</text>`+"\n", plotLeft, html.EscapeString(sub))

	y := float64(titleSpace)
	// Lock holder bands: for each bar, the mean fraction of the lock's
	// capacity each stage held, stacked from the bottom.
	// The lock bands stack the pipeline's stages, then PoSt's.
	var holders []string
	for _, p := range r.Pipeline {
		holders = append(holders, p.Stage)
	}
	holders = append(holders, r.postStages()...)
	for _, name := range locks {
		l := r.Locks[name]
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y+lockBand/2+4, html.EscapeString(name))
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="#f2f2f2" stroke="#999"/>`+"\n",
			plotLeft, y, plotRight-plotLeft, lockBand)
		for k := 1; k < len(r.Timeline) && k < len(r.Held); k += bucket {
			end := min(k+bucket, len(r.Timeline), len(r.Held))
			x0, x1 := x(float64(r.Timeline[k-1].Minute)), x(float64(r.Timeline[end-1].Minute))
			base := y + lockBand
			for _, st := range holders {
				var f float64
				for j := k; j < end; j++ {
					f += r.Held[j][name][st]
				}
				f /= float64(end - k)
				if f <= 0 {
					continue
				}
				h := f * lockBand
				fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`+"\n",
					x0, base-h, math.Max(x1-x0-0.5, 0.5), h, colour(st))
				base -= h
			}
		}
		vgrid(&b, y, y+lockBand)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#444" font-size="11">lock %s: busy %.3f · share of busy time: %s · idle while a task waited %s min</text>`+"\n",
			plotLeft, y+lockBand+14, html.EscapeString(name), l.BusyFraction, shareText(l.Share), trimFloat(l.IdleWhileWaitingMinutes))
		y += lockBand + lockGap
	}

	// Backlog chart.
	y += 12
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold">tasks waiting for a processor</text>`+"\n", plotLeft, y)
	y += 10
	top, bottom := y, y+backlogH
	maxWait := 1
	for _, p := range r.Timeline {
		for _, s := range queued {
			maxWait = max(maxWait, p.Waiting[s])
		}
	}
	yTick := niceStep(float64(maxWait), 6)
	yMax := math.Ceil(float64(maxWait)/yTick) * yTick
	const zeroLift = 5 // px between the frame and the zero line
	yOf := func(v float64) float64 { return bottom - zeroLift - (bottom-zeroLift-top-4)*v/yMax }
	fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", plotLeft, top, plotRight-plotLeft, backlogH)
	for v := 0.0; v <= yMax+1e-9; v += yTick {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", plotLeft, yOf(v), plotRight, yOf(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, yOf(v)+4, trimFloat(v))
	}
	vgrid(&b, top, bottom)
	// Drawn last, widest first, and each stage lifted lineGap px above
	// the one before, so lines with equal values (all at zero, often) lie
	// side by side instead of on top of each other.
	const lineGap = 2
	for i, s := range queued {
		var pts []string
		for _, p := range r.Timeline {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(p.Minute)), yOf(float64(p.Waiting[s]))-float64(lineGap*i)))
		}
		width := 1.5 + 1.5*float64(len(queued)-1-i)/float64(max(len(queued)-1, 1))
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round" points="%s"/>`+"\n", colour(s), width, strings.Join(pts, " "))
	}

	// Time axis in hours, below the backlog frame.
	for h := 0.0; h <= hours+1e-9; h += xTick {
		xx := x(h * 60)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`+"\n", xx, bottom, xx, bottom+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xx, bottom+17, trimFloat(h))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="middle">hours</text>`+"\n", (plotLeft+plotRight)/2, bottom+34)

	// Legend.
	ly := top + 4
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold">stage</text>`+"\n", plotRight+8, ly)
	ly += 14
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#666" font-size="11">(backlog mean, max)</text>`+"\n", plotRight+8, ly)
	for _, p := range r.Pipeline {
		if p.Mode != Dispatched {
			continue
		}
		ly += 18
		label := p.Stage
		if st := r.Stages[p.Stage]; st != nil {
			label = fmt.Sprintf("%s (%s, %d)", p.Stage, trimFloat(st.BacklogMean), st.BacklogMax)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="14" height="10" fill="%s"/>`+"\n", plotRight+8, ly-9, colour(p.Stage))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%s</text>`+"\n", plotRight+28, ly, html.EscapeString(label))
	}
	for _, name := range r.postStages() {
		ly += 18
		label := fmt.Sprintf("%s (missed %d)", name, r.PoSt[name].Missed)
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="14" height="10" fill="%s"/>`+"\n", plotRight+8, ly-9, colour(name))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%s</text>`+"\n", plotRight+28, ly, html.EscapeString(label))
	}
	ly += 26
	barText := fmt.Sprintf("one bar per %s", span(bucket*r.StepMinutes))
	for _, line := range []string{"lock bands: mean share", "each stage held,", barText, "backlog: tasks queued", "at each step's end,", "lines 2 px apart"} {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#666" font-size="11">%s</text>`+"\n", plotRight+8, ly, line)
		ly += 14
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// minBarPx is the narrowest lock-band bar drawn.
const minBarPx = 10

// barSteps is how many timeline steps one lock-band bar averages: the
// fewest, from a list of round spans, that make a bar minBarPx wide.
func barSteps(r *Result, pxPerMinute float64) int {
	step := max(r.StepMinutes, 1)
	for _, m := range []int{step, 60, 120, 180, 360, 720, 1440, 2880, 10080} {
		if m < step || m%step != 0 {
			continue
		}
		if float64(m)*pxPerMinute >= minBarPx {
			return m / step
		}
	}
	return max(10080/step, 1)
}

func shareText(share map[string]float64) string {
	var parts []string
	for _, st := range []string{"tree_d", "pc1", "pc2", "c1", "c2"} {
		if v, ok := share[st]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", st, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// niceStep returns a 1, 2 or 5 × 10^k step giving at most about n ticks up
// to v.
func niceStep(v float64, n int) float64 {
	raw := v / float64(n)
	if raw <= 1 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// niceHours picks an hour tick so the axis has about a dozen labels.
func niceHours(h float64) float64 {
	for _, t := range []float64{0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 120, 168, 336, 720} {
		if h/t <= 15 {
			return t
		}
	}
	return 720
}
