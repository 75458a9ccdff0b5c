package topology

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/utils/cpuset"
)

// textWidth is the width WriteText wraps L3 groups at: a terminal's
// default, so that output pasted into an issue or a chat stays intact.
const textWidth = 80

// ANSI styles; colour only ever marks what plain text already says.
const (
	ansiBold  = "\x1b[1m"
	ansiCyan  = "\x1b[36m"
	ansiGreen = "\x1b[32m"
	ansiDim   = "\x1b[2m"
	ansiReset = "\x1b[0m"
)

// WriteText writes m for a person to read at a glance: a summary line, then
// per NUMA node its memory, cpus and packages, its L3 groups side by side
// and the GPUs attached to it. With color it adds ANSI colours for a
// terminal; the text is the same without.
func WriteText(w io.Writer, m *Machine, color bool) error {
	p := &printer{color: color}
	if m.Source != "" {
		p.printf("machine %s\n", m.Source)
	}
	all := m.CPUSet()
	cores := m.Cores(all)
	smt := "SMT off"
	if m.SMT() {
		smt = fmt.Sprintf("SMT on, %d threads per core", maxThreads(m, cores))
	}
	p.printf("%s, %s on %s (%s)\n", plural(len(m.Packages()), "package"), plural(all.Size(), "cpu"), plural(len(cores), "core"), smt)
	l3 := plural(len(m.L3), "L3 group")
	if n, ok := coresPerL3(m); ok {
		// What multicore SDR sizes its units by (cores per group).
		l3 += fmt.Sprintf(" of %s", plural(n, "core"))
	}
	p.printf("%s, %s, %s\n", plural(len(m.Nodes), "NUMA node"), l3, plural(len(m.GPUs), "NVIDIA GPU"))

	labelWidth, listWidth := 0, 0
	for _, g := range m.L3 {
		labelWidth = max(labelWidth, len(fmt.Sprint(g.Index)))
		listWidth = max(listWidth, len(g.CPUs.String()))
	}
	for _, n := range m.Nodes {
		p.printf("\n")
		mem := "memory unknown"
		if n.MemoryBytes > 0 {
			mem = FormatBytes(n.MemoryBytes)
		}
		cpus := m.NodeCPUs(n.ID)
		pkgs := packagesOf(m, cpus)
		p.style(ansiBold, fmt.Sprintf("node %d", n.ID))
		if cpus.IsEmpty() {
			p.printf("  %s  no cpus\n", mem)
		} else {
			p.printf("  %s  cpus %s  %s\n", mem, cpus, pkgs)
		}
		noL3 := cpuset.New()
		for _, c := range m.CPUs {
			if c.Node == n.ID && c.L3 < 0 {
				noL3 = noL3.Union(cpuset.New(c.ID))
			}
		}
		p.l3Rows(m.L3GroupsOn(n.ID), labelWidth, listWidth)
		if !noL3.IsEmpty() {
			p.printf("  no L3 reported for cpus %s\n", noL3)
		}
		for _, g := range m.GPUs {
			if g.Node == n.ID {
				p.gpu(g)
			}
		}
	}
	if spanning := m.L3GroupsOn(-1); len(spanning) > 0 {
		p.printf("\n")
		p.style(ansiBold, "L3 groups spanning nodes")
		p.printf("\n")
		p.l3Rows(spanning, labelWidth, listWidth)
	}
	var lost []GPU
	for _, g := range m.GPUs {
		if g.Node < 0 {
			lost = append(lost, g)
		}
	}
	if len(lost) > 0 {
		p.printf("\n")
		p.style(ansiBold, "GPUs on no known NUMA node")
		p.printf("\n")
		for _, g := range lost {
			p.gpu(g)
		}
	}
	_, err := io.WriteString(w, p.sb.String())
	return err
}

// printer gathers the text so that the layout code need not check an error
// on every write.
type printer struct {
	sb    strings.Builder
	color bool
}

func (p *printer) printf(format string, args ...any) {
	fmt.Fprintf(&p.sb, format, args...)
}

func (p *printer) style(code, s string) {
	if p.color {
		p.sb.WriteString(code + s + ansiReset)
		return
	}
	p.sb.WriteString(s)
}

// l3Rows writes groups as equal-width cells, as many a line as fit.
func (p *printer) l3Rows(groups []L3Group, labelWidth, listWidth int) {
	const indent, gap = 2, 2
	cell := len("L3 : ") + labelWidth + listWidth
	perLine := max(1, (textWidth-indent+gap)/(cell+gap))
	for i, g := range groups {
		switch {
		case i%perLine == 0:
			p.printf("%*s", indent, "")
		default:
			p.printf("%*s", gap, "")
		}
		p.style(ansiCyan, fmt.Sprintf("L3 %*d:", labelWidth, g.Index))
		list := g.CPUs.String()
		if i%perLine == perLine-1 || i == len(groups)-1 {
			p.printf(" %s\n", list)
		} else {
			p.printf(" %-*s", listWidth, list)
		}
	}
}

func (p *printer) gpu(g GPU) {
	p.printf("  ")
	p.style(ansiGreen, fmt.Sprintf("GPU %d", g.Index))
	p.printf(": %s  ", g.Address)
	p.style(ansiDim, "device "+g.Device)
	p.printf("\n")
}

func packagesOf(m *Machine, cpus cpuset.CPUSet) string {
	seen := map[int]bool{}
	var ids []int
	for _, c := range m.CPUs {
		if cpus.Contains(c.ID) && !seen[c.Package] {
			seen[c.Package] = true
			ids = append(ids, c.Package)
		}
	}
	sort.Ints(ids)
	if len(ids) == 1 {
		return fmt.Sprintf("package %d", ids[0])
	}
	return "packages " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ids)), ","), "[]")
}

// coresPerL3 returns the number of cores in every L3 group, when all groups
// have the same.
func coresPerL3(m *Machine) (int, bool) {
	n := -1
	for _, g := range m.L3 {
		c := len(m.Cores(g.CPUs))
		if n >= 0 && c != n {
			return 0, false
		}
		n = c
	}
	return n, n > 0
}

func maxThreads(m *Machine, cores []cpuset.CPUSet) int {
	n := 1
	for _, c := range cores {
		n = max(n, c.Size())
	}
	return n
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// FormatBytes prints a size the way operators write it: whole TiB or GiB
// when exact, else one decimal.
func FormatBytes(b uint64) string {
	units := []struct {
		name string
		size uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if b >= u.size {
			if b%u.size == 0 {
				return fmt.Sprintf("%d %s", b/u.size, u.name)
			}
			return fmt.Sprintf("%.1f %s", float64(b)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%d B", b)
}
