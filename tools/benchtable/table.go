package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"
)

// measurements maps a benchmark key to its values by unit, one value per
// run (-count).
type measurements map[string]map[string][]float64

// parse reads `go test -bench` output. Syntax errors (lines that look like
// results but are not) are returned with their position; everything that
// is not a result line (PASS, logs) is ignored, as benchfmt does.
func parse(r io.Reader, name string) (measurements, error) {
	m := measurements{}
	br := benchfmt.NewReader(r, name)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, rec
		case *benchfmt.Result:
			key := benchKey(rec.GetConfig("pkg"), rec.Name)
			if m[key] == nil {
				m[key] = map[string][]float64{}
			}
			for _, v := range rec.Values {
				// Keyed as printed, so rows name the unit the benchmark
				// reported: benchfmt tidies ns/op to sec/op and keeps
				// the original in Orig* (empty when it changed nothing).
				unit, val := v.Unit, v.Value
				if v.OrigUnit != "" {
					unit, val = v.OrigUnit, v.OrigValue
				}
				m[key][unit] = append(m[key][unit], val)
			}
		}
	}
	if err := br.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// benchKey is "<pkg base>.<name>" without "Benchmark" and the GOMAXPROCS
// suffix: "arbiter.AcquireRelease/waiters=2".
func benchKey(pkg string, n benchfmt.Name) string {
	base, parts := n.Parts()
	var b strings.Builder
	b.WriteString(path.Base(pkg))
	b.WriteByte('.')
	b.Write(bytes.TrimPrefix(base, []byte("Benchmark")))
	for _, p := range parts {
		if p[0] == '/' {
			b.Write(p)
		}
	}
	return b.String()
}

// value is the median of the runs of ref, and whether there were any.
func (m measurements) value(r ref) (float64, bool) {
	vs := m[r.bench][r.unit]
	if len(vs) == 0 {
		return 0, false
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// line is a computed row.
type line struct {
	row
	numV, denV float64
	ok         bool
	ratio      float64
}

func compute(m measurements, rs []row) []line {
	out := make([]line, len(rs))
	for i, r := range rs {
		l := line{row: r}
		var okN, okD bool
		l.numV, okN = m.value(r.num)
		l.denV, okD = m.value(r.den)
		l.ok = okN && okD && l.denV > 0
		if l.ok {
			l.ratio = l.numV / l.denV
		}
		out[i] = l
	}
	return out
}

// write prints the table; it returns how many rows had no data and how
// many missed their target.
func write(w io.Writer, m measurements, ls []line) (missing, over int, err error) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURED\tVALUE\tBASELINE (same run)\tVALUE\tRATIO\tTARGET")
	for _, l := range ls {
		target := "-"
		if l.target > 0 {
			target = fmt.Sprintf("< %g", l.target)
		}
		if !l.ok {
			missing++
			fmt.Fprintf(tw, "%s\tnot run\t%s\t\t-\t%s\n", l.what, l.baseline, target)
			continue
		}
		num, den := formatValue(l.numV, l.num.unit), formatValue(l.denV, l.den.unit)
		if l.extra != nil {
			if v, ok := m.value(*l.extra); ok {
				num += fmt.Sprintf(" (%.0f MB/s)", v)
			}
		}
		if l.extraBase != nil {
			if v, ok := m.value(*l.extraBase); ok {
				den += fmt.Sprintf(" (%.0f MB/s)", v)
			}
		}
		mark := ""
		if l.target > 0 && l.ratio >= l.target {
			over++
			mark = "  OVER"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s%s\n", l.what, num, l.baseline, den, formatRatio(l.ratio), target, mark)
	}
	return missing, over, tw.Flush()
}

// formatValue prints a per-op time ("ns/op", "plain-ns/op") or memory
// ("B/op": bytes allocated) in a readable unit.
func formatValue(v float64, unit string) string {
	if unit == "B/op" {
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.3g MB", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.3g kB", v/1e3)
		}
		return fmt.Sprintf("%.0f B", v)
	}
	if !strings.HasSuffix(unit, "ns/op") {
		return fmt.Sprintf("%.4g %s", v, unit)
	}
	d := v // nanoseconds
	switch {
	case d >= 1e9:
		return fmt.Sprintf("%.3g s", d/1e9)
	case d >= 1e6:
		return fmt.Sprintf("%.3g ms", d/1e6)
	case d >= 1e3:
		return fmt.Sprintf("%.3g µs", d/1e3)
	default:
		return fmt.Sprintf("%.3g ns", d)
	}
}

func formatRatio(r float64) string {
	switch {
	case math.IsInf(r, 0) || math.IsNaN(r):
		return "-"
	case r >= 100:
		return fmt.Sprintf("%.0fx", r)
	case r >= 10:
		return fmt.Sprintf("%.1fx", r)
	case r < 0.1:
		return fmt.Sprintf("%.2gx", r)
	default:
		return fmt.Sprintf("%.2fx", r)
	}
}
