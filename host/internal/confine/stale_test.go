//go:build linux

package confine

import (
	"fmt"
	"testing"
)

func TestParseInstanceDir(t *testing.T) {
	for _, tc := range []struct {
		name     string
		instance string
		pid      int
		start    uint64
		ok       bool
	}{
		{"cfg-3fa2@1234.98765", "cfg-3fa2", 1234, 98765, true},
		{"a@b@7.1", "a@b", 7, 1, true},
		{"x@1.0", "x", 1, 0, true},
		{"@1.2", "", 0, 0, false},
		{"x@1", "", 0, 0, false},
		{"x@0.5", "", 0, 0, false},
		{"x@-3.5", "", 0, 0, false},
		{"x@1.y", "", 0, 0, false},
		{"x@1.2.3", "", 0, 0, false},
		{"x@01.2", "", 0, 0, false},
		{"x@1.+2", "", 0, 0, false},
		{".probe-77", "", 0, 0, false},
		{"plain", "", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, pid, start, ok := parseInstanceDir(tc.name)
			if ok != tc.ok || ok && (inst != tc.instance || pid != tc.pid || start != tc.start) {
				t.Errorf("parseInstanceDir(%q) = %q, %d, %d, %v; want %q, %d, %d, %v",
					tc.name, inst, pid, start, ok, tc.instance, tc.pid, tc.start, tc.ok)
			}
		})
	}
}

// FuzzParseInstanceDir: whatever a directory is called, parsing never
// panics, and a name it accepts is exactly the one NewManager would print.
func FuzzParseInstanceDir(f *testing.F) {
	for _, s := range []string{"cfg@1.2", "a@b@7.1", "@1.2", "x@1", "x@01.2", "x@1.+2", "x@1.99999999999999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		inst, pid, start, ok := parseInstanceDir(name)
		if !ok {
			return
		}
		if back := fmt.Sprintf("%s@%d.%d", inst, pid, start); back != name {
			t.Errorf("parseInstanceDir(%q) = %q %d %d, which prints as %q", name, inst, pid, start, back)
		}
	})
}
