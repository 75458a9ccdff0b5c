package topology

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/utils/cpuset"
)

// Live reads the machine this process runs on from /sys.
func Live() (*Machine, error) {
	m, synthetic, err := fromSysfs(os.DirFS("/sys"), "/sys")
	if err != nil {
		return nil, err
	}
	m.Source = "live"
	// A kernel without NUMA support has no node folder, so the one node
	// we made up knows no memory; /proc/meminfo does.
	if synthetic {
		if b, err := os.ReadFile("/proc/meminfo"); err == nil {
			if total, err := parseMemTotal(string(b), "/proc/meminfo", "MemTotal:"); err == nil {
				m.Nodes[0].MemoryBytes = total
			}
		}
	}
	return m, nil
}

// Load reads a machine from where an operator points: "" means the live
// machine, a folder means a tree laid out like /sys (a folder holding a
// "sys" folder is accepted too), and a file means the JSON that WriteJSON
// writes.
func Load(spec string) (*Machine, error) {
	if spec == "" {
		return Live()
	}
	fi, err := os.Stat(spec)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("topology %s: no such file or folder; want a folder laid out like /sys or a JSON file written by `host topology -json`", spec)
	}
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	if !fi.IsDir() {
		return FromJSON(spec)
	}
	cpuDir := filepath.Join("devices", "system", "cpu")
	if !isDir(filepath.Join(spec, cpuDir)) && isDir(filepath.Join(spec, "sys", cpuDir)) {
		m, err := FromSysfs(filepath.Join(spec, "sys"))
		if err != nil {
			return nil, err
		}
		m.Source = spec
		return m, nil
	}
	return FromSysfs(spec)
}

// FromSysfs reads a machine from root, a tree laid out like /sys:
//
//	devices/system/cpu/online
//	devices/system/cpu/cpuN/topology/{physical_package_id,core_id,thread_siblings_list}
//	devices/system/cpu/cpuN/cache/indexM/{level,type,shared_cpu_list}
//	devices/system/node/nodeN/{cpulist,meminfo}
//	bus/pci/devices/ADDRESS/{vendor,device,class,numa_node}
//
// Only online cpus are read. What a real kernel may lack is optional: the
// cache folders (then no cpu has an L3), the node folders (a kernel without
// NUMA support: one node 0 holding every cpu, memory unknown) and the PCI
// folders (no GPUs). A file that is there but holds something unexpected is
// an error naming the file and what was expected.
func FromSysfs(root string) (*Machine, error) {
	m, _, err := fromSysfs(os.DirFS(root), root)
	return m, err
}

// FromFS is FromSysfs for a tree in fsys, its root at ".", such as an
// fstest.MapFS a test builds in memory. Errors and Machine.Source name
// files below source.
func FromFS(fsys fs.FS, source string) (*Machine, error) {
	m, _, err := fromSysfs(fsys, source)
	return m, err
}

// sysfs reads files of a sysfs-like tree and turns bad content into errors
// that name the file.
type sysfs struct {
	fsys fs.FS
	root string // what errors call the tree's root
}

// path is what errors call a file.
func (s sysfs) path(rel ...string) string {
	return filepath.Join(append([]string{s.root}, rel...)...)
}

func (s sysfs) read(rel ...string) (string, error) {
	b, err := fs.ReadFile(s.fsys, path.Join(rel...))
	if err != nil {
		return "", s.fsErr(err, rel)
	}
	return strings.TrimSpace(string(b)), nil
}

// fsErr renames the fs.FS-relative path in err to the one the operator
// gave, keeping errors.Is(err, fs.ErrNotExist) working.
func (s sysfs) fsErr(err error, rel []string) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, fs.ErrNotExist) {
		// One wording whether the tree is on disk or in memory.
		return &fs.PathError{Op: "read", Path: s.path(rel...), Err: fs.ErrNotExist}
	}
	return &fs.PathError{Op: pe.Op, Path: s.path(rel...), Err: pe.Err}
}

func (s sysfs) readDir(rel ...string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(s.fsys, path.Join(rel...))
	if err != nil {
		return nil, s.fsErr(err, rel)
	}
	return ents, nil
}

func (s sysfs) isDir(rel ...string) bool {
	fi, err := fs.Stat(s.fsys, path.Join(rel...))
	return err == nil && fi.IsDir()
}

func (s sysfs) int(rel ...string) (int, error) {
	v, err := s.read(rel...)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer, got %q", s.path(rel...), v)
	}
	return n, nil
}

func (s sysfs) cpus(rel ...string) (cpuset.CPUSet, error) {
	v, err := s.read(rel...)
	if err != nil {
		return cpuset.CPUSet{}, err
	}
	set, err := parseCPUList(v)
	if err != nil {
		return cpuset.CPUSet{}, fmt.Errorf("%s: want a cpu list like 0-3,8, got %q", s.path(rel...), v)
	}
	return set, nil
}

func (s sysfs) hex(rel ...string) (uint64, error) {
	v, err := s.read(rel...)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 32)
	if err != nil || !strings.HasPrefix(v, "0x") {
		return 0, fmt.Errorf("%s: want a hexadecimal number like 0x10de, got %q", s.path(rel...), v)
	}
	return n, nil
}

var (
	cpuDirRE   = regexp.MustCompile(`^cpu([0-9]+)$`)
	nodeDirRE  = regexp.MustCompile(`^node([0-9]+)$`)
	indexDirRE = regexp.MustCompile(`^index[0-9]+$`)
)

// errUncaught marks an inconsistency that only Validate found.
const errUncaught = "the tree is inconsistent"

// fromSysfs also reports whether the node list was made up because the tree
// has no node folders.
func fromSysfs(fsys fs.FS, root string) (*Machine, bool, error) {
	s := sysfs{fsys: fsys, root: root}
	if !s.isDir("devices", "system", "cpu") {
		return nil, false, fmt.Errorf("topology %s: not a sysfs-like tree: no folder devices/system/cpu", root)
	}
	online, err := s.online()
	if err != nil {
		return nil, false, err
	}
	m := &Machine{Source: root, CPUs: []CPU{}, Nodes: []Node{}, L3: []L3Group{}, GPUs: []GPU{}}
	l3sets := map[int]cpuset.CPUSet{} // cpu -> its L3's cpus
	for _, id := range online.List() {
		c, l3, err := s.cpu(id, online)
		if err != nil {
			return nil, false, err
		}
		m.CPUs = append(m.CPUs, c)
		if l3 != nil {
			l3sets[id] = *l3
		}
	}
	if err := s.checkSiblings(m); err != nil {
		return nil, false, err
	}
	synthetic, err := s.nodes(m, online)
	if err != nil {
		return nil, false, err
	}
	if err := groupL3(m, l3sets); err != nil {
		return nil, false, fmt.Errorf("topology %s: %w", root, err)
	}
	if err := s.gpus(m); err != nil {
		return nil, false, err
	}
	if err := m.Validate(); err != nil {
		// The reader's own checks should make this unreachable (the fuzz
		// test holds it to that); if the tree is inconsistent in a way
		// they miss, say so rather than hand the planner a machine its
		// methods cannot trust.
		return nil, false, fmt.Errorf("topology %s: %s: %w", root, errUncaught, err)
	}
	return m, synthetic, nil
}

// online is the set of cpus the kernel runs. Without an online file (some
// container views of /sys) every cpuN folder with a topology folder counts.
func (s sysfs) online() (cpuset.CPUSet, error) {
	set, err := s.cpus("devices", "system", "cpu", "online")
	if err == nil {
		if set.IsEmpty() {
			return set, fmt.Errorf("%s: lists no cpus", s.path("devices", "system", "cpu", "online"))
		}
		return set, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return set, err
	}
	ents, err := s.readDir("devices", "system", "cpu")
	if err != nil {
		return set, err
	}
	var ids []int
	for _, e := range ents {
		if mm := cpuDirRE.FindStringSubmatch(e.Name()); mm != nil && s.isDir("devices", "system", "cpu", e.Name(), "topology") {
			n, _ := strconv.Atoi(mm[1])
			ids = append(ids, n)
		}
	}
	if len(ids) == 0 {
		return set, fmt.Errorf("%s: no online file and no cpuN/topology folders", s.path("devices", "system", "cpu"))
	}
	return cpuset.New(ids...), nil
}

// cpu reads one cpu's topology and, when it has one, its L3's cpus.
func (s sysfs) cpu(id int, online cpuset.CPUSet) (CPU, *cpuset.CPUSet, error) {
	dir := []string{"devices", "system", "cpu", "cpu" + strconv.Itoa(id)}
	at := func(rel ...string) []string { return append(append([]string{}, dir...), rel...) }
	c := CPU{ID: id, L3: -1}
	var err error
	if c.Package, err = s.int(at("topology", "physical_package_id")...); err != nil {
		return c, nil, err
	}
	if c.Core, err = s.int(at("topology", "core_id")...); err != nil {
		return c, nil, err
	}
	sib, err := s.cpus(at("topology", "thread_siblings_list")...)
	if err != nil {
		return c, nil, err
	}
	if !sib.Contains(id) {
		return c, nil, fmt.Errorf("%s: want a list holding cpu %d itself, got %q", s.path(at("topology", "thread_siblings_list")...), id, sib.String())
	}
	c.Siblings = sib.Intersection(online).String()

	ents, err := s.readDir(at("cache")...)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil, nil
	}
	if err != nil {
		return c, nil, err
	}
	for _, e := range ents {
		if !indexDirRE.MatchString(e.Name()) {
			continue
		}
		level, err := s.int(at("cache", e.Name(), "level")...)
		if err != nil {
			return c, nil, err
		}
		if level != 3 {
			continue
		}
		typ, err := s.read(at("cache", e.Name(), "type")...)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return c, nil, err
		}
		if typ == "Instruction" {
			continue
		}
		shared, err := s.cpus(at("cache", e.Name(), "shared_cpu_list")...)
		if err != nil {
			return c, nil, err
		}
		if !shared.Contains(id) {
			return c, nil, fmt.Errorf("%s: want a list holding cpu %d itself, got %q", s.path(at("cache", e.Name(), "shared_cpu_list")...), id, shared.String())
		}
		shared = shared.Intersection(online)
		return c, &shared, nil
	}
	return c, nil, nil
}

// checkSiblings holds the cpus of a core to one story: each names the same
// sibling list and the same (package, core id). A tree that disagrees
// would make Cores depend on which cpu is asked.
func (s sysfs) checkSiblings(m *Machine) error {
	byID := map[int]CPU{}
	for _, c := range m.CPUs {
		byID[c.ID] = c
	}
	for _, c := range m.CPUs {
		sib, _ := parseCPUList(c.Siblings)
		for _, o := range sib.List() {
			other := byID[o]
			file := s.path("devices", "system", "cpu", "cpu"+strconv.Itoa(c.ID), "topology", "thread_siblings_list")
			if other.Siblings != c.Siblings {
				return fmt.Errorf("%s: names cpu %d a sibling, but cpu %d's own list is %q, not %q", file, o, o, other.Siblings, c.Siblings)
			}
			if other.Package != c.Package || other.Core != c.Core {
				return fmt.Errorf("%s: names cpu %d a sibling, but it is on package %d core %d, not package %d core %d", file, o, other.Package, other.Core, c.Package, c.Core)
			}
		}
	}
	return nil
}

// nodes fills m.Nodes and each cpu's node.
func (s sysfs) nodes(m *Machine, online cpuset.CPUSet) (synthetic bool, err error) {
	ents, err := s.readDir("devices", "system", "node")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	var ids []int
	for _, e := range ents {
		if mm := nodeDirRE.FindStringSubmatch(e.Name()); mm != nil {
			n, _ := strconv.Atoi(mm[1])
			ids = append(ids, n)
		}
	}
	sort.Ints(ids)
	if len(ids) == 0 {
		m.Nodes = []Node{{ID: 0, CPUs: online.String()}}
		for i := range m.CPUs {
			m.CPUs[i].Node = 0
		}
		return true, nil
	}
	nodeOf := map[int]int{}
	for _, id := range ids {
		dir := "node" + strconv.Itoa(id)
		set, err := s.cpus("devices", "system", "node", dir, "cpulist")
		if err != nil {
			return false, err
		}
		set = set.Intersection(online)
		for _, c := range set.List() {
			if other, dup := nodeOf[c]; dup {
				return false, fmt.Errorf("%s: cpu %d is also in node %d's cpulist", s.path("devices", "system", "node", dir, "cpulist"), c, other)
			}
			nodeOf[c] = id
		}
		b, err := s.read("devices", "system", "node", dir, "meminfo")
		if err != nil {
			return false, err
		}
		mem, err := parseMemTotal(b, s.path("devices", "system", "node", dir, "meminfo"), fmt.Sprintf("Node %d MemTotal:", id))
		if err != nil {
			return false, err
		}
		m.Nodes = append(m.Nodes, Node{ID: id, CPUs: set.String(), MemoryBytes: mem})
	}
	for i := range m.CPUs {
		n, ok := nodeOf[m.CPUs[i].ID]
		if !ok {
			return false, fmt.Errorf("%s: cpu %d is online but in no nodeN/cpulist", s.path("devices", "system", "node"), m.CPUs[i].ID)
		}
		m.CPUs[i].Node = n
	}
	return false, nil
}

// parseMemTotal finds the line of a meminfo file starting with prefix
// ("Node 0 MemTotal:" in a node's meminfo, "MemTotal:" in /proc/meminfo)
// and returns its kB value in bytes; path names the file in errors.
func parseMemTotal(content, path, prefix string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(content))
	for line := 1; sc.Scan(); line++ {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), prefix)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%s:%d: want %q followed by a number and kB, got %q", path, line, prefix, sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil || kb > (1<<64-1)/1024 {
			return 0, fmt.Errorf("%s:%d: want %q followed by a number and kB, got %q", path, line, prefix, sc.Text())
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no line starting %q", path, prefix)
}

// groupL3 turns each cpu's L3 cpu list into numbered groups, ordered by
// their lowest cpu so that numbering does not depend on folder order.
func groupL3(m *Machine, sets map[int]cpuset.CPUSet) error {
	byKey := map[string]cpuset.CPUSet{}
	for _, set := range sets {
		byKey[set.String()] = set
	}
	groups := make([]cpuset.CPUSet, 0, len(byKey))
	for _, set := range byKey {
		groups = append(groups, set)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].List()[0] < groups[j].List()[0] })
	index := map[int]int{} // cpu -> group
	for i, g := range groups {
		for _, c := range g.List() {
			if prev, dup := index[c]; dup {
				return fmt.Errorf("cpu %d is in two different L3 lists, %s and %s", c, groups[prev], g)
			}
			index[c] = i
		}
	}
	for _, g := range groups {
		for _, c := range g.List() {
			if _, ok := sets[c]; !ok {
				return fmt.Errorf("L3 list %s names cpu %d, which reports no L3 of its own", g, c)
			}
		}
	}
	nodeOf := map[int]int{}
	for _, c := range m.CPUs {
		nodeOf[c.ID] = c.Node
	}
	for i, g := range groups {
		node := nodeOf[g.List()[0]]
		for _, c := range g.List() {
			if nodeOf[c] != node {
				node = -1
			}
		}
		m.L3 = append(m.L3, L3Group{Index: i, Node: node, CPUs: g})
	}
	for i := range m.CPUs {
		set, ok := sets[m.CPUs[i].ID]
		if !ok {
			continue
		}
		m.CPUs[i].L3 = index[set.List()[0]]
	}
	return nil
}

// NVIDIA is the PCI vendor id of NVIDIA.
const nvidiaVendor = 0x10de

// gpus lists NVIDIA display (0x0300xx) and 3D (0x0302xx) controllers in
// PCI bus order. Other NVIDIA functions (the HDMI audio function of a card)
// and other vendors' display controllers (a BMC's) are not GPUs to us.
func (s sysfs) gpus(m *Machine) error {
	dir := []string{"bus", "pci", "devices"}
	ents, err := s.readDir(dir...)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	type found struct {
		addr pciAddress
		gpu  GPU
	}
	var list []found
	for _, e := range ents {
		at := func(f string) []string { return append(append([]string{}, dir...), e.Name(), f) }
		vendor, err := s.hex(at("vendor")...)
		if err != nil {
			return err
		}
		if vendor != nvidiaVendor {
			continue
		}
		class, err := s.hex(at("class")...)
		if err != nil {
			return err
		}
		if class>>8 != 0x0300 && class>>8 != 0x0302 {
			continue
		}
		addr, err := parsePCIAddress(e.Name())
		if err != nil {
			return fmt.Errorf("%s: %w", s.path(dir...), err)
		}
		device, err := s.hex(at("device")...)
		if err != nil {
			return err
		}
		node, err := s.int(at("numa_node")...)
		if errors.Is(err, fs.ErrNotExist) {
			node = -1
		} else if err != nil {
			return err
		}
		if node < -1 {
			return fmt.Errorf("%s: want a node number or -1, got %d", s.path(at("numa_node")...), node)
		}
		// A kernel reports -1 when the firmware says nothing; with one
		// node there is nothing it could have said.
		if node == -1 && len(m.Nodes) == 1 {
			node = m.Nodes[0].ID
		}
		if node >= 0 && !m.HasNode(node) {
			return fmt.Errorf("%s: node %d is not among the machine's nodes", s.path(at("numa_node")...), node)
		}
		list = append(list, found{addr, GPU{Address: e.Name(), Device: fmt.Sprintf("0x%04x", device), Node: node}})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].addr.less(list[j].addr) })
	for i, f := range list {
		f.gpu.Index = i
		m.GPUs = append(m.GPUs, f.gpu)
	}
	return nil
}

// pciAddress is domain:bus:device.function, compared as numbers: a domain
// may be longer than four digits (VMD), so text order is not bus order.
type pciAddress [4]uint64

var pciAddressRE = regexp.MustCompile(`^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$`)

func parsePCIAddress(s string) (pciAddress, error) {
	mm := pciAddressRE.FindStringSubmatch(s)
	if mm == nil {
		return pciAddress{}, fmt.Errorf("PCI address %q: want domain:bus:device.function like 0000:01:00.0", s)
	}
	var a pciAddress
	for i := range a {
		a[i], _ = strconv.ParseUint(mm[i+1], 16, 64)
	}
	return a, nil
}

func (a pciAddress) less(b pciAddress) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
