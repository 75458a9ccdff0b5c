package topology

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/utils/cpuset"
)

var update = flag.Bool("update", false, "rewrite testdata/machines and the golden files from the descriptions in the tests")

// machinesDir is the repository's testdata/machines, shared with the
// planner's tests.
const machinesDir = "../../../testdata/machines"

const (
	gib = uint64(1) << 30
	tib = uint64(1) << 40
)

// machineSpec is a compact description of a test machine. write lays it out
// as a sysfs tree and want builds the Machine directly from it, without the
// reader, so that comparing the two tests the reader.
type machineSpec struct {
	name     string
	packages int
	cores    int // per package
	smt      bool
	perL3    int // cores per L3 group; 0: no L3 reported
	// nodePerPackage puts each package on its own node; otherwise all
	// cpus are on node 0.
	nodePerPackage bool
	noNodeDirs     bool // a kernel without NUMA support
	memPerNode     uint64
	// coreID maps a core's position in its package to the kernel's
	// core_id, which on real parts has gaps and repeats across packages.
	coreID func(core int) int
	pci    []pciSpec
}

type pciSpec struct {
	addr                  string
	vendor, device, class uint32
	numaNode              int // as the kernel writes it
	// gpu is the index the reader must give it, or -1 when it is not an
	// NVIDIA GPU; wantNode the node it must report.
	gpu, wantNode int
}

// cpuOf numbers cpus as Linux does on x86: first thread of every core of
// every package, then the second threads.
func (s machineSpec) cpuOf(pkg, core, thread int) int {
	return thread*s.packages*s.cores + pkg*s.cores + core
}

func (s machineSpec) threads() int {
	if s.smt {
		return 2
	}
	return 1
}

func (s machineSpec) ncpu() int { return s.packages * s.cores * s.threads() }

func (s machineSpec) siblings(pkg, core int) cpuset.CPUSet {
	var ids []int
	for t := 0; t < s.threads(); t++ {
		ids = append(ids, s.cpuOf(pkg, core, t))
	}
	return cpuset.New(ids...)
}

func (s machineSpec) l3Set(pkg, core int) cpuset.CPUSet {
	first := core / s.perL3 * s.perL3
	set := cpuset.New()
	for c := first; c < first+s.perL3 && c < s.cores; c++ {
		set = set.Union(s.siblings(pkg, c))
	}
	return set
}

func (s machineSpec) nodeOf(pkg int) int {
	if s.nodePerPackage {
		return pkg
	}
	return 0
}

func (s machineSpec) nodes() []int {
	if s.nodePerPackage {
		var ids []int
		for p := 0; p < s.packages; p++ {
			ids = append(ids, p)
		}
		return ids
	}
	return []int{0}
}

func (s machineSpec) nodeCPUs(node int) cpuset.CPUSet {
	set := cpuset.New()
	for p := 0; p < s.packages; p++ {
		if s.nodeOf(p) != node {
			continue
		}
		for c := 0; c < s.cores; c++ {
			set = set.Union(s.siblings(p, c))
		}
	}
	return set
}

// want builds the machine the reader must return for the spec.
func (s machineSpec) want() *Machine {
	m := &Machine{CPUs: []CPU{}, Nodes: []Node{}, L3: []L3Group{}, GPUs: []GPU{}}
	l3index := map[string]int{}
	if s.perL3 > 0 {
		// Groups in order of lowest cpu: package by package, since the
		// first threads come first.
		for p := 0; p < s.packages; p++ {
			for c := 0; c < s.cores; c += s.perL3 {
				set := s.l3Set(p, c)
				l3index[set.String()] = len(m.L3)
				m.L3 = append(m.L3, L3Group{Index: len(m.L3), Node: s.nodeOf(p), CPUs: set})
			}
		}
	}
	for p := 0; p < s.packages; p++ {
		for c := 0; c < s.cores; c++ {
			for t := 0; t < s.threads(); t++ {
				l3 := -1
				if s.perL3 > 0 {
					l3 = l3index[s.l3Set(p, c).String()]
				}
				m.CPUs = append(m.CPUs, CPU{ID: s.cpuOf(p, c, t), Package: p, Core: s.coreID(c), Node: s.nodeOf(p), L3: l3, Siblings: s.siblings(p, c).String()})
			}
		}
	}
	sort.Slice(m.CPUs, func(i, j int) bool { return m.CPUs[i].ID < m.CPUs[j].ID })
	for _, n := range s.nodes() {
		mem := s.memPerNode
		if s.noNodeDirs {
			mem = 0
		}
		m.Nodes = append(m.Nodes, Node{ID: n, CPUs: s.nodeCPUs(n).String(), MemoryBytes: mem})
	}
	for _, d := range s.pci {
		if d.gpu >= 0 {
			m.GPUs = append(m.GPUs, GPU{Index: d.gpu, Address: d.addr, Device: fmt.Sprintf("0x%04x", d.device), Node: d.wantNode})
		}
	}
	sort.Slice(m.GPUs, func(i, j int) bool { return m.GPUs[i].Index < m.GPUs[j].Index })
	return m
}

// write lays the spec out below root.
func (s machineSpec) write(root string) error {
	for name, content := range s.files() {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// files returns the sysfs tree of the spec, path to content, as the kernel
// would lay it out, with the trailing newlines and neighbouring files a real
// tree has.
func (s machineSpec) files() map[string]string {
	files := map[string]string{}
	all := fmt.Sprintf("0-%d", s.ncpu()-1)
	cpuDir := "devices/system/cpu"
	files[cpuDir+"/online"] = all
	files[cpuDir+"/possible"] = all
	files[cpuDir+"/present"] = all
	files[cpuDir+"/offline"] = ""
	for p := 0; p < s.packages; p++ {
		pkgSet := cpuset.New()
		for c := 0; c < s.cores; c++ {
			pkgSet = pkgSet.Union(s.siblings(p, c))
		}
		for c := 0; c < s.cores; c++ {
			sib := s.siblings(p, c).String()
			for t := 0; t < s.threads(); t++ {
				dir := fmt.Sprintf("%s/cpu%d", cpuDir, s.cpuOf(p, c, t))
				files[dir+"/topology/physical_package_id"] = fmt.Sprint(p)
				files[dir+"/topology/die_id"] = fmt.Sprint(p)
				files[dir+"/topology/core_id"] = fmt.Sprint(s.coreID(c))
				files[dir+"/topology/thread_siblings_list"] = sib
				files[dir+"/topology/core_cpus_list"] = sib
				files[dir+"/topology/package_cpus_list"] = pkgSet.String()
				files[dir+"/topology/core_siblings_list"] = pkgSet.String()
				cache := []struct {
					level  int
					typ    string
					shared string
				}{{1, "Data", sib}, {1, "Instruction", sib}, {2, "Unified", sib}}
				if s.perL3 > 0 {
					cache = append(cache, struct {
						level  int
						typ    string
						shared string
					}{3, "Unified", s.l3Set(p, c).String()})
				}
				for i, ci := range cache {
					idx := fmt.Sprintf("%s/cache/index%d", dir, i)
					files[idx+"/level"] = fmt.Sprint(ci.level)
					files[idx+"/type"] = ci.typ
					files[idx+"/shared_cpu_list"] = ci.shared
				}
			}
		}
	}
	if !s.noNodeDirs {
		var ids []string
		for _, n := range s.nodes() {
			ids = append(ids, fmt.Sprint(n))
			dir := fmt.Sprintf("devices/system/node/node%d", n)
			files[dir+"/cpulist"] = s.nodeCPUs(n).String()
			kb := s.memPerNode / 1024
			files[dir+"/meminfo"] = fmt.Sprintf("Node %d MemTotal:       %d kB\nNode %d MemFree:        %d kB\nNode %d MemUsed:        %d kB",
				n, kb, n, kb-kb/16, n, kb/16)
		}
		files["devices/system/node/online"] = strings.Join(ids, ",")
		files["devices/system/node/possible"] = strings.Join(ids, ",")
	}
	for _, d := range s.pci {
		dir := "bus/pci/devices/" + d.addr
		files[dir+"/vendor"] = fmt.Sprintf("0x%04x", d.vendor)
		files[dir+"/device"] = fmt.Sprintf("0x%04x", d.device)
		files[dir+"/class"] = fmt.Sprintf("0x%06x", d.class)
		files[dir+"/numa_node"] = fmt.Sprint(d.numaNode)
	}
	for name, content := range files {
		files[name] = content + "\n"
	}
	return files
}

func identity(core int) int { return core }

// PCI devices common to the machines.
func hostBridge(addr string, node int) pciSpec {
	return pciSpec{addr: addr, vendor: 0x1022, device: 0x1480, class: 0x060000, numaNode: node, gpu: -1}
}

// nvidiaAudio is the HDMI audio function every NVIDIA card has: vendor
// 0x10de but not a GPU.
func nvidiaAudio(addr string, node int) pciSpec {
	return pciSpec{addr: addr, vendor: 0x10de, device: 0x1aef, class: 0x040300, numaNode: node, gpu: -1}
}

// testMachines are the machines in testdata/machines.
var testMachines = []machineSpec{
	{
		// The seed document's box: 2 × EPYC 7642 (48 cores, 3 per L3),
		// SMT off, 2 × RTX 3080.
		name: "seed", packages: 2, cores: 48, perL3: 3, nodePerPackage: true, memPerNode: tib,
		// Zen 2 numbers cores with a gap per CCX of 4 where one is fused
		// off, and starts again on the second package.
		coreID: func(c int) int { return c/3*4 + c%3 },
		pci: []pciSpec{
			hostBridge("0000:00:00.0", 0),
			{addr: "0000:01:00.0", vendor: 0x10de, device: 0x2206, class: 0x030000, numaNode: 0, gpu: 0, wantNode: 0},
			nvidiaAudio("0000:01:00.1", 0),
			{addr: "0000:02:00.0", vendor: 0x144d, device: 0xa808, class: 0x010802, numaNode: 0, gpu: -1}, // NVMe
			hostBridge("0000:80:00.0", 1),
			{addr: "0000:81:00.0", vendor: 0x10de, device: 0x2206, class: 0x030000, numaNode: 1, gpu: 1, wantNode: 1},
			nvidiaAudio("0000:81:00.1", 1),
		},
	},
	{
		// 1 × EPYC 7543: 32 cores, SMT on, 8 cores per L3, one node;
		// the kernel reports the GPU's node as -1 (one node: it is 0).
		name: "zen3-7543", packages: 1, cores: 32, smt: true, perL3: 8, memPerNode: 512 * gib,
		coreID: identity,
		pci: []pciSpec{
			hostBridge("0000:00:00.0", -1),
			{addr: "0000:41:00.0", vendor: 0x10de, device: 0x2231, class: 0x030000, numaNode: -1, gpu: 0, wantNode: 0}, // RTX A5000
			nvidiaAudio("0000:41:00.1", -1),
		},
	},
	{
		// 1 × Xeon W-2295: 18 cores on a mesh, one L3, SMT on; a BMC's
		// ASPEED display controller beside the NVIDIA card.
		name: "intel-w2295", packages: 1, cores: 18, smt: true, perL3: 18, memPerNode: 256 * gib,
		coreID: func(c int) int { return []int{0, 1, 2, 3, 4, 8, 9, 10, 11, 16, 17, 18, 19, 20, 24, 25, 26, 27}[c] },
		pci: []pciSpec{
			{addr: "0000:00:00.0", vendor: 0x8086, device: 0x2020, class: 0x060000, numaNode: 0, gpu: -1},
			{addr: "0000:03:00.0", vendor: 0x1a03, device: 0x2000, class: 0x030000, numaNode: 0, gpu: -1},             // ASPEED
			{addr: "0000:65:00.0", vendor: 0x10de, device: 0x24b0, class: 0x030000, numaNode: 0, gpu: 0, wantNode: 0}, // RTX A4000
			nvidiaAudio("0000:65:00.1", 0),
		},
	},
}

func sysRoot(name string) string  { return filepath.Join(machinesDir, name, "sys") }
func jsonPath(name string) string { return filepath.Join(machinesDir, name+".json") }

// TestMachinesGenerated regenerates every test machine into a temporary
// folder and compares it with testdata/machines, so the committed trees
// cannot drift from their descriptions; with -update it rewrites them.
func TestMachinesGenerated(t *testing.T) {
	for _, spec := range testMachines {
		t.Run(spec.name, func(t *testing.T) {
			var js bytes.Buffer
			if err := WriteJSON(&js, spec.want()); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.RemoveAll(filepath.Join(machinesDir, spec.name)); err != nil {
					t.Fatal(err)
				}
				if err := spec.write(sysRoot(spec.name)); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(jsonPath(spec.name), js.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(jsonPath(spec.name))
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, js.Bytes()) {
				t.Errorf("%s differs from its description; run go test -update", jsonPath(spec.name))
			}
			want := spec.files()
			have, err := readTree(sysRoot(spec.name))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(have, want) {
				t.Errorf("%s differs from its description; run go test -update", sysRoot(spec.name))
			}
		})
	}
}

func readTree(root string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	return files, err
}

// TestSysfsMatchesJSON reads every test machine both ways and from its
// description: the three must agree.
func TestSysfsMatchesJSON(t *testing.T) {
	for _, spec := range testMachines {
		t.Run(spec.name, func(t *testing.T) {
			fromTree, err := FromSysfs(sysRoot(spec.name))
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, err := FromJSON(jsonPath(spec.name))
			if err != nil {
				t.Fatal(err)
			}
			if fromTree.Source != sysRoot(spec.name) || fromJSON.Source != jsonPath(spec.name) {
				t.Errorf("sources %q, %q: want the paths read", fromTree.Source, fromJSON.Source)
			}
			fromTree.Source, fromJSON.Source = "", ""
			if !reflect.DeepEqual(fromTree, fromJSON) {
				t.Errorf("FromSysfs and FromJSON differ:\n%s\n%s", dump(fromTree), dump(fromJSON))
			}
			if want := spec.want(); !reflect.DeepEqual(fromTree, want) {
				t.Errorf("FromSysfs differs from the description:\n got %s\nwant %s", dump(fromTree), dump(want))
			}
		})
	}
}

// TestJSONRoundTrip: what WriteJSON writes, FromJSON reads back to the same
// machine, and writing that gives the same bytes.
func TestJSONRoundTrip(t *testing.T) {
	for _, spec := range testMachines {
		t.Run(spec.name, func(t *testing.T) {
			orig, err := os.ReadFile(jsonPath(spec.name))
			if err != nil {
				t.Fatal(err)
			}
			m, err := FromJSON(jsonPath(spec.name))
			if err != nil {
				t.Fatal(err)
			}
			m.Source = ""
			var out bytes.Buffer
			if err := WriteJSON(&out, m); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), orig) {
				t.Errorf("rewritten JSON differs from %s", jsonPath(spec.name))
			}
			back, err := DecodeJSON(out.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Errorf("decoded machine differs:\n%s\n%s", dump(back), dump(m))
			}
		})
	}
}

func dump(m *Machine) string {
	var b bytes.Buffer
	_ = WriteJSON(&b, m)
	return b.String()
}
