package plan

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sealhost/sealhost/host/internal/config"
	"k8s.io/utils/cpuset"
)

// width is the line length the text form is laid out for.
const width = 100

// ANSI styles; used only when WriteText is asked for colour.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiSpare = "\x1b[1;32m"
)

// palette colours processors in the core map, by position.
var palette = []string{"\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[34m", "\x1b[31m", "\x1b[96m", "\x1b[93m", "\x1b[95m", "\x1b[94m"}

type textWriter struct {
	w     *bufio.Writer
	color bool
}

func (t *textWriter) style(s, code string) string {
	if !t.color || code == "" {
		return s
	}
	return code + s + ansiReset
}

func (t *textWriter) line(format string, args ...any) {
	fmt.Fprintf(t.w, format+"\n", args...)
}

func (t *textWriter) heading(s string) {
	t.line("")
	t.line("%s", t.style(s, ansiBold))
}

// WriteText writes the plan for a person: processors, the core map by NUMA
// node and L3 group, the pc1 SDR units, locks, GPUs, memory and then the
// diagnostics with their source lines. With color it adds ANSI colour;
// without, the output is plain and stable (the golden tests rely on it).
func (p *Plan) WriteText(w io.Writer, color bool) error {
	t := &textWriter{w: bufio.NewWriter(w), color: color}
	if len(p.Processors) > 0 || p.m != nil && len(p.m.cpus) > 0 {
		p.writeSummary(t)
		p.writeProcessors(t)
		p.writeCoreMap(t)
		p.writeSDR(t)
		p.writeLocks(t)
		p.writeGPUs(t)
		p.writeMemory(t)
		t.heading("Diagnostics")
	}
	if err := t.w.Flush(); err != nil {
		return err
	}
	return p.WriteDiagnostics(w, color)
}

// WriteDiagnostics writes only the diagnostics (with source lines) and a
// closing count line, as `host validate` shows them.
func (p *Plan) WriteDiagnostics(w io.Writer, color bool) error {
	if err := config.WriteDiagnostics(w, p.ConfigFile, p.src, p.Diagnostics, color); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, p.CountLine())
	return err
}

// CountLine summarises the diagnostics: "ok", "ok, 2 warnings",
// "1 error, 2 warnings".
func (p *Plan) CountLine() string {
	e, wn := p.Counts()
	ws := plural(wn, "warning")
	if e == 0 {
		if wn == 0 {
			return "ok: no problems found"
		}
		return "ok: " + ws
	}
	if wn == 0 {
		return plural(e, "error")
	}
	return plural(e, "error") + ", " + ws
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return strconv.Itoa(n) + " " + s + "s"
}

func (p *Plan) writeSummary(t *textWriter) {
	t.line("%s", t.style(fmt.Sprintf("Plan of %s on %s", orDash(p.ConfigFile), orDash(p.Machine)), ansiBold))
	t.line("  sector size %s; %s; %s on %s, %s; %s",
		orDash(p.SectorSize), plural(len(p.Processors), "processor"), plural(len(p.m.cpus), "cpu"),
		plural(len(p.m.nodes), "NUMA node"), plural(len(p.m.l3), "L3 group"), plural(len(p.m.gpus), "GPU"))
	t.line("  spare cpus %s (%d)", orDash(p.Spare.String()), p.Spare.Size())
	for _, l := range wrap("  serves ", "         ", p.ServedBy(), "; ") {
		t.line("%s", l)
	}
}

// ServedBy says which processors serve each stage (config.ServedBy).
func (p *Plan) ServedBy() []string {
	var procs []config.Processor
	for _, pr := range p.Processors {
		procs = append(procs, config.Processor{Stage: pr.Stage, ID: pr.ID})
	}
	if s := config.ServedBy(procs); len(s) > 0 {
		return s
	}
	return []string{"no stage"}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// table lays rows out in columns; after is called after each data row to
// print detail lines under it (columns stay aligned across them).
func (t *textWriter) table(indent string, rows [][]string, right map[int]bool, after func(i int)) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			if len(c) > widths[i] {
				widths[i] = len(c)
			}
		}
	}
	for ri, r := range rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len(c))
			if right[i] {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		s := b.String()
		if ri == 0 {
			s = t.style(s, ansiBold)
		}
		t.line("%s", s)
		if ri > 0 && after != nil {
			after(ri - 1)
		}
	}
}

// wrap joins items with sep into lines no longer than width, the first
// starting with first and the rest with indent.
func wrap(first, indent string, items []string, sep string) []string {
	var lines []string
	cur := first
	empty := true
	for i, it := range items {
		piece := it
		if i < len(items)-1 {
			piece += sep
		}
		if !empty && len(cur)+len(strings.TrimRight(piece, " ")) > width {
			lines = append(lines, strings.TrimRight(cur, " "))
			cur = indent
		}
		cur += piece
		empty = false
	}
	return append(lines, strings.TrimRight(cur, " "))
}

// cpuList wraps a canonical cpu list at its commas.
func cpuList(first, indent string, s cpuset.CPUSet) []string {
	if s.Size() == 0 {
		return []string{first + "-"}
	}
	return wrap(first, indent, strings.Split(s.String(), ","), ",")
}

func (p *Plan) writeProcessors(t *textWriter) {
	t.heading("Processors")
	if len(p.Processors) == 0 {
		t.line("  none")
		return
	}
	rows := [][]string{{"KEY", "ID", "STAGE", "PLUGIN", "CONCURRENT", "NUMA", "LOCKS", "GPUS"}}
	for _, pr := range p.Processors {
		numa := "-"
		if pr.NUMAPreferred != nil {
			numa = strconv.Itoa(*pr.NUMAPreferred)
		}
		gpus := "-"
		if pr.UsesGPU {
			gpus = intList(pr.GPUs)
		}
		rows = append(rows, []string{string(pr.Key), pr.ID, string(pr.Stage), pr.Plugin,
			strconv.Itoa(pr.Concurrent), numa, orDash(strings.Join(pr.Locks, ",")), gpus})
	}
	const sub = "       "
	t.table("  ", rows, map[int]bool{4: true}, func(i int) {
		pr := p.Processors[i]
		label := "cpus "
		if !pr.Configured {
			label = "cpus (all) "
		}
		for _, l := range cpuList(sub+label, sub+"     ", pr.CPUs) {
			t.line("%s", l)
		}
		if !pr.Busy.Equals(pr.CPUs) {
			for _, l := range cpuList(sub+"busy ", sub+"     ", pr.Busy) {
				t.line("%s", l)
			}
		}
		if len(pr.Env) > 0 {
			keys := make([]string, 0, len(pr.Env))
			for k := range pr.Env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+pr.Env[k])
			}
			for _, l := range wrap(sub+"env  ", sub+"     ", kv, " ") {
				t.line("%s", l)
			}
		}
	})
}

func intList(s []int) string {
	if len(s) == 0 {
		return "none"
	}
	var out []string
	for _, n := range s {
		out = append(out, strconv.Itoa(n))
	}
	return strings.Join(out, ",")
}

// writeCoreMap draws every cpu as its number followed by the keys of the
// processors whose busy set holds it ('.' when spare), boxed by L3 group and
// listed by NUMA node. Groups flow side by side up to the line width; a group
// wider than a line wraps inside its box.
func (p *Plan) writeCoreMap(t *textWriter) {
	t.heading("Core map")
	t.line("  Each cpu shows its number and the KEY of every processor keeping it busy; . is spare.")
	if len(p.Processors) > 0 {
		var legend []string
		for _, pr := range p.Processors {
			legend = append(legend, string(pr.Key)+" "+pr.ID)
		}
		for _, l := range wrap("  ", "  ", legend, "  ") {
			t.line("%s", l)
		}
	}
	users := map[int][]int{} // cpu -> processor positions
	for _, c := range p.CPUs {
		for _, id := range c.Processors {
			for i, pr := range p.Processors {
				if pr.ID == id {
					users[c.CPU] = append(users[c.CPU], i)
				}
			}
		}
	}
	numW, keyW := 1, 1
	for _, c := range p.CPUs {
		if n := len(strconv.Itoa(c.CPU)); n > numW {
			numW = n
		}
		if n := len(users[c.CPU]); n > keyW {
			keyW = n
		}
	}
	if keyW > 3 {
		keyW = 3 // more than three users show as two keys and '+'
	}
	lw := 1
	for _, g := range p.m.l3 {
		if n := len(strconv.Itoa(g.index)); n > lw {
			lw = n
		}
	}
	cell := func(cpu int) (plain, styled string) {
		num := fmt.Sprintf("%*d", numW, cpu)
		u := users[cpu]
		if len(u) == 0 {
			s := num + "." + strings.Repeat(" ", keyW-1)
			return s, t.style(num+".", ansiSpare) + strings.Repeat(" ", keyW-1)
		}
		// The whole cell takes the colour of its first user, so regions
		// of one processor stand out; the keys say who else shares it.
		var k strings.Builder
		for i, pi := range u {
			if i == keyW-1 && len(u) > keyW {
				k.WriteByte('+')
				break
			}
			k.WriteByte(p.Processors[pi].Key)
		}
		pad := strings.Repeat(" ", keyW-k.Len())
		return num + k.String() + pad, t.style(num+k.String(), palette[u[0]%len(palette)]) + pad
	}
	const indent = "    "
	for _, nd := range p.m.nodes {
		t.line("  node %d  cpus %s  %s", nd.id, orDash(nd.cpus.String()), config.HumanSize(nd.memory))
		var line strings.Builder // styled
		lineLen := 0
		flush := func() {
			if lineLen > 0 {
				t.line("%s", strings.TrimRight(line.String(), " "))
			}
			line.Reset()
			lineLen = 0
		}
		for _, g := range p.m.l3 {
			cpus := g.cpus.Intersection(nd.cpus).List()
			if len(cpus) == 0 {
				continue
			}
			label := fmt.Sprintf("L3 %*s [", lw, l3Name(g.index))
			cellW := numW + keyW
			avail := width - len(indent)
			boxLen := len(label) + len(cpus)*(cellW+1)
			if lineLen > 0 && lineLen+2+boxLen > avail {
				flush()
			}
			// A group too wide for a line is cut into rows of equal
			// length, so an SMT group shows one thread per core a row.
			perRow := len(cpus)
			if boxLen > avail {
				fit := (avail - len(label)) / (cellW + 1)
				if fit < 1 {
					fit = 1
				}
				rows := (len(cpus) + fit - 1) / fit
				perRow = (len(cpus) + rows - 1) / rows
			}
			if lineLen > 0 {
				line.WriteString("  ")
				lineLen += 2
			} else {
				line.WriteString(indent)
			}
			line.WriteString(label)
			lineLen += len(label)
			start := lineLen
			for i, c := range cpus {
				_, styled := cell(c)
				if i > 0 {
					if i%perRow == 0 {
						flush()
						line.WriteString(indent + strings.Repeat(" ", start))
						lineLen = start
					} else {
						line.WriteString(" ")
						lineLen++
					}
				}
				line.WriteString(styled)
				lineLen += cellW
			}
			line.WriteString("]")
			lineLen++
		}
		flush()
	}
}

func l3Name(i int) string {
	if i < 0 {
		return "-"
	}
	return strconv.Itoa(i)
}

func (p *Plan) writeSDR(t *textWriter) {
	var pc1 []Processor
	for _, pr := range p.Processors {
		if pr.Stage == config.StagePC1 {
			pc1 = append(pc1, pr)
		}
	}
	if len(pc1) == 0 {
		return
	}
	t.heading("pc1 multicore SDR")
	for _, pr := range pc1 {
		s := pr.SDR
		if s == nil {
			t.line("  %s  no unit model: multicore SDR is off or cannot start; each task runs unbound on %s",
				pr.ID, orDash(pr.CPUs.String()))
			continue
		}
		t.line("  %s  units of %d cores (%s + main); %s of %d cores; %s; %s",
			pr.ID, s.UnitCores, plural(s.Producers, "producer"), plural(len(s.Groups), "L3 group"),
			s.GroupCores, plural(len(s.Units), "unit"), plural(len(s.Tasks), "task"))
		var items []string
		w := 0
		iw := len(strconv.Itoa(len(s.Tasks) - 1))
		for _, tk := range s.Tasks {
			it := fmt.Sprintf("%*d: %s", iw, tk.Index, tk.CPUs.String())
			if tk.Unit < 0 {
				it = fmt.Sprintf("%*d: unbound", iw, tk.Index)
			}
			items = append(items, it)
			if len(it) > w {
				w = len(it)
			}
		}
		for i := range items {
			items[i] += strings.Repeat(" ", w-len(items[i]))
		}
		for _, l := range wrap("    task ", "         ", items, "  ") {
			t.line("%s", l)
		}
		if free := pr.CPUs.Difference(pr.Busy); free.Size() > 0 {
			for _, l := range cpuList("    idle in its cpuset ", "                       ", free) {
				t.line("%s", l)
			}
		}
	}
}

func (p *Plan) writeLocks(t *textWriter) {
	if len(p.Locks) == 0 {
		return
	}
	t.heading("Locks")
	preempt := false
	for _, l := range p.Locks {
		preempt = preempt || l.Preempt || len(l.PreemptFor) > 0
	}
	head := []string{"LOCK", "CAPACITY", "HELD BY"}
	if preempt {
		head = append(head, "PREEMPTED AFTER")
	}
	rows := [][]string{head}
	for _, l := range p.Locks {
		row := []string{l.Name, strconv.Itoa(l.Capacity), orDash(strings.Join(l.Processors, ", "))}
		if preempt {
			var after []string
			if l.Preempt {
				after = append(after, l.PreemptAfter.String())
			}
			stages := slices.Sorted(maps.Keys(l.PreemptFor))
			for _, st := range stages {
				after = append(after, st+" "+l.PreemptFor[st].String())
			}
			row = append(row, orDash(strings.Join(after, ", ")))
		}
		rows = append(rows, row)
	}
	t.table("  ", rows, map[int]bool{1: true}, nil)
	if len(p.Urgent) > 0 {
		t.line("  Urgent (granted first, by deadline): %s.", strings.Join(p.Urgent, ", "))
		t.line("  At most %d urgent tasks in a row take a lock that sealing waits for.", p.UrgentBurst)
		if preempt {
			t.line("  Past PREEMPTED AFTER, an urgent wait cancels the lock's newest")
			t.line("  sealing task, which is requeued (its work is lost).")
		}
	}
}

func (p *Plan) writeGPUs(t *textWriter) {
	if len(p.GPUs) == 0 {
		return
	}
	t.heading("GPUs")
	t.line("  Indices are in PCI bus order; CUDA uses that order only with CUDA_DEVICE_ORDER=PCI_BUS_ID.")
	rows := [][]string{{"GPU", "NODE", "PCI", "USED BY"}}
	for _, g := range p.GPUs {
		rows = append(rows, []string{strconv.Itoa(g.Index), strconv.Itoa(g.NUMA), orDash(g.Address), orDash(strings.Join(g.Processors, ", "))})
	}
	t.table("  ", rows, nil, nil)
}

func (p *Plan) writeMemory(t *textWriter) {
	if len(p.Memory) == 0 {
		return
	}
	t.heading("Memory")
	t.line("  pc1 needs %s a task for %s sectors; other stages are not counted.", config.HumanSize(p.PC1TaskBytes), orDash(p.SectorSize))
	rows := [][]string{{"NODE", "NEED", "HAVE", "PC1"}}
	for _, m := range p.Memory {
		var parts []string
		for _, n := range m.Needs {
			parts = append(parts, n.Processor+" "+config.HumanSize(n.Bytes))
		}
		need := config.HumanSize(m.NeedBytes)
		if m.NeedBytes > m.HaveBytes {
			need += " (over)"
		}
		rows = append(rows, []string{strconv.Itoa(m.NUMA), need, config.HumanSize(m.HaveBytes), orDash(strings.Join(parts, ", "))})
	}
	t.table("  ", rows, map[int]bool{1: true, 2: true}, nil)
}
