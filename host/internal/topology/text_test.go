package topology

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is meant)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestWriteTextGolden(t *testing.T) {
	// A two-node machine with what the test machines lack: an L3 shared by
	// two nodes (as with Intel sub-NUMA clustering), cpus without L3, a GPU
	// on no known node, and a node without cpus (memory only, as CXL).
	odd, err := readTiny(t,
		put("devices/system/node/node0/cpulist", "0,4\n"),
		put("devices/system/node/node1/cpulist", "1-3,5-7\n"),
		remove("devices/system/cpu/cpu2/cache/index3"), remove("devices/system/cpu/cpu6/cache/index3"),
		remove("devices/system/cpu/cpu3/cache/index3"), remove("devices/system/cpu/cpu7/cache/index3"),
		put("devices/system/node/node2/cpulist", "\n"),
		put("devices/system/node/node2/meminfo", "Node 2 MemTotal: 268435456 kB\n"),
		put("bus/pci/devices/0000:81:00.0/numa_node", "-1\n"),
	)
	if err != nil {
		t.Fatal(err)
	}
	odd.Source = "tiny, edited"
	tests := []struct {
		name  string
		m     func() (*Machine, error)
		color bool
	}{
		{"seed", func() (*Machine, error) { return FromSysfs(sysRoot("seed")) }, false},
		{"seed-color", func() (*Machine, error) { return FromSysfs(sysRoot("seed")) }, true},
		{"zen3-7543", func() (*Machine, error) { return FromJSON(jsonPath("zen3-7543")) }, false},
		{"intel-w2295", func() (*Machine, error) { return FromSysfs(sysRoot("intel-w2295")) }, false},
		{"odd", func() (*Machine, error) { return odd, nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.m()
			if err != nil {
				t.Fatal(err)
			}
			if m != odd {
				// Golden files should not depend on how the test reached
				// the machine.
				m.Source = "testdata/machines/" + strings.TrimSuffix(tt.name, "-color")
			}
			var b bytes.Buffer
			if err := WriteText(&b, m, tt.color); err != nil {
				t.Fatal(err)
			}
			if !tt.color && bytes.Contains(b.Bytes(), []byte("\x1b[")) {
				t.Errorf("plain text holds ANSI codes")
			}
			if tt.color && !bytes.Contains(b.Bytes(), []byte("\x1b[")) {
				t.Errorf("colour text holds no ANSI codes")
			}
			for i, line := range strings.Split(b.String(), "\n") {
				if !tt.color && len(line) > textWidth {
					t.Errorf("line %d is %d wide, over %d: %q", i+1, len(line), textWidth, line)
				}
			}
			golden(t, tt.name+".txt", b.Bytes())
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1 << 10, "1 KiB"},
		{1 << 30, "1 GiB"},
		{512 << 30, "512 GiB"},
		{1 << 40, "1 TiB"},
		{3 << 39, "1.5 TiB"},
		{5859540 << 10, "5.6 GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatBytes(tt.in); got != tt.want {
				t.Errorf("FormatBytes(%d) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
