package topology

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/utils/cpuset"
)

// tiny is a small two-socket machine for the reader's edge cases: cpus 0-3
// are the first threads, 4-7 their siblings; cpus 0,1,4,5 on package and
// node 0.
var tiny = machineSpec{
	name: "tiny", packages: 2, cores: 2, smt: true, perL3: 2, nodePerPackage: true, memPerNode: gib,
	coreID: identity,
	pci: []pciSpec{
		{addr: "0000:01:00.0", vendor: 0x10de, device: 0x2206, class: 0x030000, numaNode: 0, gpu: 0, wantNode: 0},
		nvidiaAudio("0000:01:00.1", 0),
		{addr: "0000:81:00.0", vendor: 0x10de, device: 0x20b0, class: 0x030200, numaNode: 1, gpu: 1, wantNode: 1}, // 3D controller (A100)
	},
}

// edit changes a sysfs tree held in memory.
type edit func(t *testing.T, tree fstest.MapFS)

func put(rel, content string) edit {
	return func(t *testing.T, tree fstest.MapFS) {
		tree[rel] = &fstest.MapFile{Data: []byte(content)}
	}
}

// remove deletes a file or a folder with all it holds.
func remove(rel string) edit {
	return func(t *testing.T, tree fstest.MapFS) {
		found := false
		for name := range tree {
			if name == rel || strings.HasPrefix(name, rel+"/") {
				delete(tree, name)
				found = true
			}
		}
		if !found {
			t.Fatalf("tree has no %s", rel)
		}
	}
}

// rename moves a file or folder.
func rename(from, to string) edit {
	return func(t *testing.T, tree fstest.MapFS) {
		for name, f := range tree {
			if name == from || strings.HasPrefix(name, from+"/") {
				delete(tree, name)
				tree[to+strings.TrimPrefix(name, from)] = f
			}
		}
	}
}

func tinyTree(t *testing.T, edits ...edit) fstest.MapFS {
	t.Helper()
	tree := fstest.MapFS{}
	for name, content := range tiny.files() {
		tree[name] = &fstest.MapFile{Data: []byte(content)}
	}
	for _, e := range edits {
		e(t, tree)
	}
	return tree
}

func readTiny(t *testing.T, edits ...edit) (*Machine, error) {
	t.Helper()
	return FromFS(tinyTree(t, edits...), "tiny")
}

func TestTinyMachine(t *testing.T) {
	m, err := readTiny(t)
	if err != nil {
		t.Fatal(err)
	}
	m.Source = ""
	if want := tiny.want(); !reflect.DeepEqual(m, want) {
		t.Errorf("got %s\nwant %s", dump(m), dump(want))
	}
}

// TestSysfsErrors: bad content is an error that names the file and says
// what was expected.
func TestSysfsErrors(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		want  []string // all must appear in the error
	}{
		{"bad node cpulist", []edit{put("devices/system/node/node0/cpulist", "0-1,x\n")}, []string{"node0/cpulist", "want a cpu list", `"0-1,x"`}},
		{"huge node cpulist", []edit{put("devices/system/node/node0/cpulist", "0-4000000000\n")}, []string{"node0/cpulist", "want a cpu list"}},
		{"missing core_id", []edit{remove("devices/system/cpu/cpu1/topology/core_id")}, []string{"cpu1/topology/core_id", "file does not exist"}},
		{"non-numeric core_id", []edit{put("devices/system/cpu/cpu2/topology/core_id", "two\n")}, []string{"cpu2/topology/core_id", "want an integer", `"two"`}},
		{"non-numeric package", []edit{put("devices/system/cpu/cpu2/topology/physical_package_id", "\n")}, []string{"cpu2/topology/physical_package_id", "want an integer"}},
		{"missing topology folder", []edit{remove("devices/system/cpu/cpu3/topology")}, []string{"cpu3/topology/physical_package_id"}},
		{"bad siblings", []edit{put("devices/system/cpu/cpu0/topology/thread_siblings_list", "0;4\n")}, []string{"cpu0/topology/thread_siblings_list", "want a cpu list"}},
		{"siblings without itself", []edit{put("devices/system/cpu/cpu0/topology/thread_siblings_list", "1,5\n")}, []string{"cpu0/topology/thread_siblings_list", "holding cpu 0 itself"}},
		{"siblings disagree", []edit{put("devices/system/cpu/cpu4/topology/thread_siblings_list", "4\n")}, []string{"cpu0/topology/thread_siblings_list", "names cpu 4 a sibling, but cpu 4's own list is \"4\""}},
		{"sibling on another package", []edit{put("devices/system/cpu/cpu4/topology/physical_package_id", "1\n")}, []string{"cpu0/topology/thread_siblings_list", "names cpu 4 a sibling, but it is on package 1 core 0"}},
		{"bad online", []edit{put("devices/system/cpu/online", "zero\n")}, []string{"devices/system/cpu/online", "want a cpu list"}},
		{"empty online", []edit{put("devices/system/cpu/online", "\n")}, []string{"devices/system/cpu/online", "lists no cpus"}},
		{"bad cache level", []edit{put("devices/system/cpu/cpu0/cache/index3/level", "L3\n")}, []string{"cpu0/cache/index3/level", "want an integer"}},
		{"bad L3 list", []edit{put("devices/system/cpu/cpu0/cache/index3/shared_cpu_list", "0-\n")}, []string{"cpu0/cache/index3/shared_cpu_list", "want a cpu list"}},
		{"L3 lists disagree", []edit{put("devices/system/cpu/cpu0/cache/index3/shared_cpu_list", "0,4\n")}, []string{"cpu 0 is in two different L3 lists"}},
		{"missing meminfo", []edit{remove("devices/system/node/node1/meminfo")}, []string{"node1/meminfo", "file does not exist"}},
		{"meminfo without MemTotal", []edit{put("devices/system/node/node1/meminfo", "Node 1 MemFree: 5 kB\n")}, []string{"node1/meminfo", `no line starting "Node 1 MemTotal:"`}},
		{"meminfo in MB", []edit{put("devices/system/node/node0/meminfo", "Node 0 MemTotal: 1024 MB\n")}, []string{"node0/meminfo:1", "a number and kB"}},
		{"meminfo not a number", []edit{put("devices/system/node/node0/meminfo", "Node 0 MemFree: 1 kB\nNode 0 MemTotal: lots kB\n")}, []string{"node0/meminfo:2", "a number and kB"}},
		{"cpu on two nodes", []edit{put("devices/system/node/node1/cpulist", "1-3,6-7\n")}, []string{"node1/cpulist", "cpu 1 is also in node 0"}},
		{"cpu on no node", []edit{put("devices/system/node/node1/cpulist", "2-3,6\n")}, []string{"cpu 7 is online but in no nodeN/cpulist"}},
		{"bad vendor", []edit{put("bus/pci/devices/0000:01:00.0/vendor", "10de\n")}, []string{"0000:01:00.0/vendor", "hexadecimal"}},
		{"bad class", []edit{put("bus/pci/devices/0000:01:00.0/class", "VGA\n")}, []string{"0000:01:00.0/class", "hexadecimal"}},
		{"bad gpu numa_node", []edit{put("bus/pci/devices/0000:01:00.0/numa_node", "zero\n")}, []string{"0000:01:00.0/numa_node", "want an integer"}},
		{"gpu on a missing node", []edit{put("bus/pci/devices/0000:01:00.0/numa_node", "5\n")}, []string{"0000:01:00.0/numa_node", "node 5 is not among"}},
		{"gpu on a node the kernel lacks", []edit{remove("devices/system/node")}, []string{"0000:81:00.0/numa_node", "node 1 is not among"}},
		{"bad gpu address", []edit{rename("bus/pci/devices/0000:01:00.0", "bus/pci/devices/gpu0")}, []string{`PCI address "gpu0"`, "domain:bus:device.function"}},
		{"L3 list names a cpu without L3", []edit{remove("devices/system/cpu/cpu0/cache/index3")}, []string{"L3 list 0-1,4-5 names cpu 0, which reports no L3"}},
		{"not a sysfs tree", []edit{remove("devices")}, []string{"not a sysfs-like tree", "devices/system/cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := readTiny(t, tt.edits...)
			if err == nil {
				t.Fatalf("no error; read %s", dump(m))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestSysfsOptional: what a real kernel may lack reads sensibly.
func TestSysfsOptional(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		check func(t *testing.T, m *Machine)
	}{
		{"no node folders", []edit{
			// A kernel without NUMA support knows no node for any device.
			remove("devices/system/node"),
			put("bus/pci/devices/0000:01:00.0/numa_node", "-1\n"),
			put("bus/pci/devices/0000:81:00.0/numa_node", "-1\n"),
		}, func(t *testing.T, m *Machine) {
			want := []Node{{ID: 0, CPUs: "0-7"}}
			if !reflect.DeepEqual(m.Nodes, want) {
				t.Errorf("nodes %+v, want %+v", m.Nodes, want)
			}
			for _, c := range m.CPUs {
				if c.Node != 0 {
					t.Errorf("cpu %d on node %d", c.ID, c.Node)
				}
			}
			// With one node there is no doubt where a GPU is.
			for _, g := range m.GPUs {
				if g.Node != 0 {
					t.Errorf("GPU %d on node %d, want 0", g.Index, g.Node)
				}
			}
		}},
		{"no caches", []edit{func(t *testing.T, tree fstest.MapFS) {
			for c := 0; c < 8; c++ {
				remove(fmt.Sprintf("devices/system/cpu/cpu%d/cache", c))(t, tree)
			}
		}}, func(t *testing.T, m *Machine) {
			if len(m.L3) != 0 {
				t.Errorf("L3 groups %v, want none", m.L3)
			}
			for _, c := range m.CPUs {
				if c.L3 != -1 {
					t.Errorf("cpu %d: L3 %d, want -1", c.ID, c.L3)
				}
			}
		}},
		{"no PCI folders", []edit{remove("bus")}, func(t *testing.T, m *Machine) {
			if len(m.GPUs) != 0 {
				t.Errorf("GPUs %v, want none", m.GPUs)
			}
		}},
		{"no online file", []edit{remove("devices/system/cpu/online")}, func(t *testing.T, m *Machine) {
			if got := m.CPUSet().String(); got != "0-7" {
				t.Errorf("cpus %s, want 0-7", got)
			}
		}},
		{"offline cpus", []edit{put("devices/system/cpu/online", "0-5\n")}, func(t *testing.T, m *Machine) {
			if got := m.CPUSet().String(); got != "0-5" {
				t.Errorf("cpus %s, want 0-5", got)
			}
			if got := m.Siblings(2).String(); got != "2" {
				t.Errorf("Siblings(2) = %s: want the offline sibling 6 left out", got)
			}
			if got := m.NodeCPUs(1).String(); got != "2-3" {
				t.Errorf("NodeCPUs(1) = %s, want 2-3", got)
			}
			if got := m.L3[1].CPUs.String(); got != "2-3" {
				t.Errorf("L3 group 1 = %s, want 2-3", got)
			}
		}},
		{"gpu numa_node unknown on two nodes", []edit{put("bus/pci/devices/0000:81:00.0/numa_node", "-1\n")}, func(t *testing.T, m *Machine) {
			if m.GPUs[1].Node != -1 {
				t.Errorf("GPU 1 on node %d, want -1", m.GPUs[1].Node)
			}
		}},
		{"gpu numa_node missing", []edit{remove("bus/pci/devices/0000:81:00.0/numa_node")}, func(t *testing.T, m *Machine) {
			if m.GPUs[1].Node != -1 {
				t.Errorf("GPU 1 on node %d, want -1", m.GPUs[1].Node)
			}
		}},
		{"3D controller listed, audio function not", nil, func(t *testing.T, m *Machine) {
			if len(m.GPUs) != 2 || m.GPUs[1].Address != "0000:81:00.0" {
				t.Errorf("GPUs %+v, want 0000:01:00.0 and the 3D controller 0000:81:00.0", m.GPUs)
			}
		}},
		{"bus order is numeric, not text order", []edit{
			put("bus/pci/devices/10000:00:00.0/vendor", "0x10de\n"), put("bus/pci/devices/10000:00:00.0/class", "0x030000\n"),
			put("bus/pci/devices/10000:00:00.0/device", "0x2206\n"),
			put("bus/pci/devices/ffff:00:00.0/vendor", "0x10de\n"), put("bus/pci/devices/ffff:00:00.0/class", "0x030000\n"),
			put("bus/pci/devices/ffff:00:00.0/device", "0x2206\n"),
		}, func(t *testing.T, m *Machine) {
			var got []string
			for _, g := range m.GPUs {
				got = append(got, g.Address)
			}
			want := []string{"0000:01:00.0", "0000:81:00.0", "ffff:00:00.0", "10000:00:00.0"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GPU order %v, want %v", got, want)
			}
		}},
		{"meminfo with other lines first", []edit{put("devices/system/node/node0/meminfo", "Node 0 MemFree: 1 kB\nNode 0 MemTotal:  2048 kB\n")}, func(t *testing.T, m *Machine) {
			if got := m.NodeMemory(0); got != 2048*1024 {
				t.Errorf("NodeMemory(0) = %d, want %d", got, 2048*1024)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := readTiny(t, tt.edits...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

// TestLive reads this machine: it must work wherever the tests run, and
// agree with the kernel's own count of online cpus.
func TestLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sysfs is Linux only")
	}
	m, err := Live()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	online, err := cpuset.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !m.CPUSet().Equals(online) {
		t.Errorf("live cpus %s, kernel says %s", m.CPUSet(), online)
	}
	if m.Source != "live" || len(m.Nodes) == 0 {
		t.Errorf("source %q, %d nodes", m.Source, len(m.Nodes))
	}
	for _, n := range m.Nodes {
		if !m.NodeCPUs(n.ID).IsEmpty() && n.MemoryBytes == 0 {
			t.Errorf("node %d has cpus but no memory", n.ID)
		}
	}
	t.Logf("live: %d cpus, %d nodes, %d L3 groups, %d GPUs", m.CPUSet().Size(), len(m.Nodes), len(m.L3), len(m.GPUs))
}

func TestLoad(t *testing.T) {
	tests := []struct {
		spec    string
		source  string
		wantErr string
	}{
		{spec: sysRoot("seed"), source: sysRoot("seed")},
		{spec: filepath.Join(machinesDir, "seed"), source: filepath.Join(machinesDir, "seed")}, // the folder holding sys/
		{spec: jsonPath("seed"), source: jsonPath("seed")},
		{spec: "", source: "live"},
		{spec: filepath.Join(machinesDir, "nope"), wantErr: "no such file or folder; want a folder laid out like /sys or a JSON file"},
		{spec: machinesDir, wantErr: "not a sysfs-like tree"},
		{spec: "doc.go", wantErr: "doc.go:1:1: invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			m, err := Load(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Source != tt.source {
				t.Errorf("source %q, want %q", m.Source, tt.source)
			}
		})
	}
}

// FuzzSysfsFile puts arbitrary content in one of the files the reader
// parses. It must never panic, and every inconsistency must be caught by the
// reader's own checks with a message naming the file, not only by the final
// Validate.
func FuzzSysfsFile(f *testing.F) {
	files := []string{
		"devices/system/cpu/online",
		"devices/system/cpu/cpu0/topology/core_id",
		"devices/system/cpu/cpu0/topology/physical_package_id",
		"devices/system/cpu/cpu0/topology/thread_siblings_list",
		"devices/system/cpu/cpu4/topology/thread_siblings_list",
		"devices/system/cpu/cpu0/cache/index3/shared_cpu_list",
		"devices/system/cpu/cpu0/cache/index3/level",
		"devices/system/node/node0/cpulist",
		"devices/system/node/node1/meminfo",
		"bus/pci/devices/0000:01:00.0/class",
		"bus/pci/devices/0000:01:00.0/numa_node",
	}
	tree := tinyTree(&testing.T{})
	for i, name := range files {
		f.Add(uint8(i), string(tree[name].Data))
	}
	f.Add(uint8(0), "0-3\n")
	f.Add(uint8(3), "0,4-5\n")
	f.Add(uint8(4), "4\n")
	f.Add(uint8(5), "0-1,4-6\n")
	f.Add(uint8(7), "0-1,4\n")
	f.Add(uint8(8), "Node 1 MemTotal: 18446744073709551615 kB\n")
	f.Add(uint8(9), "0x030200\n")
	f.Add(uint8(10), "-2\n")
	f.Fuzz(func(t *testing.T, which uint8, content string) {
		name := files[int(which)%len(files)]
		m, err := readTiny(t, put(name, content))
		if err != nil {
			if strings.Contains(err.Error(), errUncaught) {
				t.Fatalf("%s = %q: only Validate caught it: %v", name, content, err)
			}
			return
		}
		var b bytes.Buffer
		if err := WriteJSON(&b, m); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeJSON(b.Bytes()); err != nil {
			t.Fatalf("%s = %q: machine does not read back: %v", name, content, err)
		}
	})
}
