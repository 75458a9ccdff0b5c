package topology

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/utils/cpuset"
)

// FromJSON reads a machine from the JSON that WriteJSON writes, so that a
// plan can be made on a laptop for a box in the rack. Unknown fields are
// errors (a misspelt field would otherwise read as zero), and the machine
// must pass Validate. Source is set to path.
func FromJSON(path string) (*Machine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	m, err := DecodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("topology %s%w", path, err)
	}
	m.Source = path
	return m, nil
}

// DecodeJSON is FromJSON for bytes already in memory. Its errors start with
// ":line:col: " or ": " so that a caller can put a file name in front.
func DecodeJSON(b []byte) (*Machine, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Machine
	if err := dec.Decode(&m); err != nil {
		return nil, jsonError(b, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf(": want one JSON object, found more after it")
	}
	if m.CPUs == nil {
		m.CPUs = []CPU{}
	}
	if m.Nodes == nil {
		m.Nodes = []Node{}
	}
	if m.L3 == nil {
		m.L3 = []L3Group{}
	}
	if m.GPUs == nil {
		m.GPUs = []GPU{}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf(": %w", err)
	}
	return &m, nil
}

// jsonError places a decoding error at its line and column.
func jsonError(b []byte, dec *json.Decoder, err error) error {
	offset := dec.InputOffset()
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bad byte itself; point at it.
		offset = max(syn.Offset-1, 0)
	case errors.As(err, &typ):
		offset = typ.Offset
	case errors.Is(err, io.EOF):
		return fmt.Errorf(": empty file, want a JSON object as written by `host topology -json`")
	default:
		// encoding/json reports an unknown field only by name, after
		// its value; point at the key itself.
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if at := bytes.LastIndex(b[:min(int(offset), len(b))], []byte(name)); at >= 0 {
				offset = int64(at)
			}
		}
	}
	line, col := 1, 1
	for _, c := range b[:min(int(offset), len(b))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf(":%d:%d: %v", line, col, err)
}

// WriteJSON writes m as JSON ending in a newline, one cpu, node, L3 group
// or GPU a line so that a person can read and diff it. Reading it back with
// FromJSON gives the same machine (bar Source), and writing that again gives
// the same bytes.
func WriteJSON(w io.Writer, m *Machine) error {
	var b bytes.Buffer
	b.WriteString("{\n")
	if m.Source != "" {
		s, err := json.Marshal(m.Source)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  \"source\": %s,\n", s)
	}
	lists := []struct {
		key   string
		items []any
	}{
		{"cpus", anySlice(m.CPUs)},
		{"nodes", anySlice(m.Nodes)},
		{"l3_groups", anySlice(m.L3)},
		{"gpus", anySlice(m.GPUs)},
	}
	for i, l := range lists {
		// Empty lists are written as [] rather than null so that a
		// reader need not tell the two apart.
		fmt.Fprintf(&b, "  %q: [", l.key)
		for j, item := range l.items {
			line, err := json.Marshal(item)
			if err != nil {
				return err
			}
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n    ")
			b.Write(line)
		}
		if len(l.items) > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString("]")
		if i < len(lists)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	_, err := w.Write(b.Bytes())
	return err
}

func anySlice[T any](s []T) []any {
	out := make([]any, len(s))
	for i := range s {
		out[i] = s[i]
	}
	return out
}

// Validate checks that m is consistent, which the methods of Machine rely
// on: cpus sorted and unique; every cpu on exactly one listed node and in
// the L3 group it names; sibling lists that hold the cpu itself and name
// only cpus of the same (package, core); L3 groups numbered in order of
// their lowest cpu; GPUs numbered in PCI bus order on known nodes.
func (m *Machine) Validate() error {
	if len(m.CPUs) == 0 {
		return errors.New("machine has no cpus")
	}
	byID := map[int]CPU{}
	for i, c := range m.CPUs {
		if c.ID < 0 {
			return fmt.Errorf("cpu %d: want a non-negative id", c.ID)
		}
		if i > 0 && c.ID <= m.CPUs[i-1].ID {
			return fmt.Errorf("cpus: want ids in increasing order without repeats, got %d after %d", c.ID, m.CPUs[i-1].ID)
		}
		byID[c.ID] = c
	}
	all := m.CPUSet()

	nodes := map[int]cpuset.CPUSet{}
	covered := cpuset.New()
	for i, n := range m.Nodes {
		if n.ID < 0 || (i > 0 && n.ID <= m.Nodes[i-1].ID) {
			return fmt.Errorf("node %d: want non-negative ids in increasing order without repeats", n.ID)
		}
		set, err := parseCPUListMax(n.CPUs, len(m.CPUs))
		if err != nil {
			return fmt.Errorf("node %d: cpus %q: want a cpu list like 0-47 of the machine's %d cpus: %v", n.ID, n.CPUs, len(m.CPUs), err)
		}
		if !set.IsSubsetOf(all) {
			return fmt.Errorf("node %d: cpus %s are not among the machine's cpus", n.ID, set.Difference(all))
		}
		if both := covered.Intersection(set); !both.IsEmpty() {
			return fmt.Errorf("node %d: cpus %s are on another node too", n.ID, both)
		}
		covered = covered.Union(set)
		nodes[n.ID] = set
	}
	for _, c := range m.CPUs {
		set, ok := nodes[c.Node]
		if !ok {
			return fmt.Errorf("cpu %d: node %d is not among the nodes", c.ID, c.Node)
		}
		if !set.Contains(c.ID) {
			return fmt.Errorf("cpu %d: says node %d, but node %d's cpus %q do not hold it", c.ID, c.Node, c.Node, set.String())
		}
		sib, err := parseCPUListMax(c.Siblings, maxSiblings)
		if err != nil {
			return fmt.Errorf("cpu %d: siblings %q: want a cpu list like 0,48: %v", c.ID, c.Siblings, err)
		}
		if !sib.Contains(c.ID) {
			return fmt.Errorf("cpu %d: siblings %q: want a list holding the cpu itself", c.ID, c.Siblings)
		}
		for _, s := range sib.List() {
			o, ok := byID[s]
			if !ok {
				return fmt.Errorf("cpu %d: sibling %d is not among the machine's cpus", c.ID, s)
			}
			if o.Package != c.Package || o.Core != c.Core || o.Siblings != c.Siblings {
				return fmt.Errorf("cpu %d: sibling %d is on package %d core %d with siblings %q, want package %d core %d with siblings %q",
					c.ID, s, o.Package, o.Core, o.Siblings, c.Package, c.Core, c.Siblings)
			}
		}
		if c.L3 < -1 || c.L3 >= len(m.L3) {
			return fmt.Errorf("cpu %d: l3 %d: want -1 or the index of one of the %d l3_groups", c.ID, c.L3, len(m.L3))
		}
	}

	for i, g := range m.L3 {
		if g.Index != i {
			return fmt.Errorf("l3_groups[%d]: index %d, want %d", i, g.Index, i)
		}
		if g.CPUs.IsEmpty() {
			return fmt.Errorf("l3 group %d: no cpus", i)
		}
		if i > 0 && g.CPUs.List()[0] <= m.L3[i-1].CPUs.List()[0] {
			return fmt.Errorf("l3 group %d: want groups ordered by their lowest cpu", i)
		}
		var members []int
		node := -2
		for _, c := range m.CPUs {
			if c.L3 != i {
				continue
			}
			members = append(members, c.ID)
			switch {
			case node == -2:
				node = c.Node
			case node != c.Node:
				node = -1
			}
		}
		if want := cpuset.New(members...); !want.Equals(g.CPUs) {
			return fmt.Errorf("l3 group %d: cpus %s, but the cpus naming it are %s", i, g.CPUs, want)
		}
		if g.Node != node {
			return fmt.Errorf("l3 group %d: node %d, but its cpus are on node %d (-1: several)", i, g.Node, node)
		}
	}

	for i, g := range m.GPUs {
		if g.Index != i {
			return fmt.Errorf("gpus[%d]: index %d, want %d", i, g.Index, i)
		}
		a, err := parsePCIAddress(g.Address)
		if err != nil {
			return fmt.Errorf("gpu %d: %v", i, err)
		}
		if i > 0 {
			prev, _ := parsePCIAddress(m.GPUs[i-1].Address)
			if !prev.less(a) {
				return fmt.Errorf("gpu %d: address %s does not follow %s: want GPUs in PCI bus order", i, g.Address, m.GPUs[i-1].Address)
			}
		}
		if g.Node != -1 && !m.HasNode(g.Node) {
			return fmt.Errorf("gpu %d: node %d is not among the nodes (use -1 for unknown)", i, g.Node)
		}
	}
	return nil
}
