package topology

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestJSONErrors: a bad topology file is refused with its place and what is
// wrong, never read as a half-empty machine.
func TestJSONErrors(t *testing.T) {
	seed, err := os.ReadFile(jsonPath("seed"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) string {
		if !bytes.Contains(seed, []byte(old)) {
			t.Fatalf("seed JSON lacks %q", old)
		}
		return strings.Replace(string(seed), old, new, 1)
	}
	tests := []struct {
		name, json string
		want       []string
	}{
		{"empty", "", []string{"empty file, want a JSON object"}},
		{"syntax", "{\n  \"cpus\": [,]\n}", []string{":2:12:", "invalid character ','"}},
		{"unknown field", edit(`"memory_bytes":1099511627776}`, `"memory_bytes":1099511627776,"memroy":1}`), []string{":101:56:", `unknown field "memroy"`}},
		{"wrong type", edit(`{"id":0,"package":0`, `{"id":"0","package":0`), []string{":3:", "cannot unmarshal string"}},
		{"trailing data", string(seed) + "{}", []string{"want one JSON object"}},
		{"no cpus", `{"cpus":[],"nodes":[],"l3_groups":[],"gpus":[]}`, []string{"machine has no cpus"}},
		{"cpus out of order", edit(`{"id":1,"package":0,"core":1`, `{"id":0,"package":0,"core":1`), []string{"want ids in increasing order"}},
		{"cpu on a missing node", edit(`{"id":0,"package":0,"core":0,"node":0`, `{"id":0,"package":0,"core":0,"node":2`), []string{"cpu 0: node 2 is not among the nodes"}},
		{"node list disagrees", edit(`"cpus":"0-47"`, `"cpus":"1-47"`), []string{"cpu 0: says node 0, but node 0's cpus \"1-47\" do not hold it"}},
		{"node list bad", edit(`"cpus":"0-47"`, `"cpus":"0-47x"`), []string{"node 0: cpus \"0-47x\": want a cpu list"}},
		{"node with foreign cpus", edit(`"cpus":"0-47"`, `"cpus":"0-47,200"`), []string{"node 0: cpus 200 are not among"}},
		{"siblings bad", edit(`"siblings":"5"`, `"siblings":"5,"`), []string{"cpu 5: siblings \"5,\""}},
		{"siblings without itself", edit(`"siblings":"5"`, `"siblings":"6"`), []string{"cpu 5: siblings \"6\": want a list holding the cpu itself"}},
		{"siblings on another package", edit(`"siblings":"5"`, `"siblings":"5,53"`), []string{"cpu 5: sibling 53 is on package 1"}},
		{"l3 index out of range", edit(`"l3":0,`, `"l3":32,`), []string{"cpu 0: l3 32: want -1 or the index"}},
		{"l3 cpus disagree", edit(`{"index":0,"node":0,"cpus":"0-2"}`, `{"index":0,"node":0,"cpus":"0-3"}`), []string{"l3 group 0: cpus 0-3, but the cpus naming it are 0-2"}},
		{"l3 bad list", edit(`{"index":0,"node":0,"cpus":"0-2"}`, `{"index":0,"node":0,"cpus":"zero"}`), []string{"l3 group 0: cpus \"zero\""}},
		{"l3 wrong node", edit(`{"index":0,"node":0,"cpus":"0-2"}`, `{"index":0,"node":1,"cpus":"0-2"}`), []string{"l3 group 0: node 1, but its cpus are on node 0"}},
		{"l3 misnumbered", edit(`{"index":1,"node":0`, `{"index":2,"node":0`), []string{"l3_groups[1]: index 2, want 1"}},
		{"gpu misnumbered", edit(`{"index":1,"pci_address"`, `{"index":0,"pci_address"`), []string{"gpus[1]: index 0, want 1"}},
		{"gpu out of bus order", edit(`"0000:81:00.0"`, `"0000:00:00.0"`), []string{"want GPUs in PCI bus order"}},
		{"gpu bad address", edit(`"0000:81:00.0"`, `"81:00.0"`), []string{`PCI address "81:00.0"`}},
		{"gpu on a missing node", edit(`"device_id":"0x2206","node":1`, `"device_id":"0x2206","node":3`), []string{"gpu 1: node 3 is not among the nodes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "machine.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := FromJSON(path)
			if err == nil {
				t.Fatalf("no error; read %s", dump(m))
			}
			if !strings.HasPrefix(err.Error(), "topology "+path) {
				t.Errorf("error %q does not start with the file name", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// FuzzDecodeJSON: any input is refused with an error or read as a machine
// that passes Validate, writes, and reads back the same.
func FuzzDecodeJSON(f *testing.F) {
	for _, spec := range testMachines {
		b, err := os.ReadFile(jsonPath(spec.name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"cpus":[{"id":0,"package":0,"core":0,"node":0,"l3":-1,"siblings":"0"}],"nodes":[{"id":0,"cpus":"0","memory_bytes":1}],"l3_groups":[],"gpus":[]}`))
	f.Add([]byte(`{"cpus":[{"id":0,"siblings":"0-4000000000"}]}`))
	f.Add([]byte(`{"l3_groups":[{"index":0,"node":0,"cpus":""}]}`))
	f.Add([]byte(`null`))
	// Every cpu claiming 65536 siblings: expanded once per cpu, it took the
	// fuzzer from thousands of execs a second to one every few seconds.
	f.Add([]byte(`{"cpus":[{"id":0,"node":0,"l3":-1,"siblings":"0-65535"},{"id":1,"node":0,"l3":-1,"siblings":"0-65535"}],"nodes":[{"id":0,"cpus":"0-65535","memory_bytes":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeJSON(b)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteJSON(&out, m); err != nil {
			t.Fatal(err)
		}
		back, err := DecodeJSON(out.Bytes())
		if err != nil {
			t.Fatalf("written machine does not read back: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip differs:\n%s", out.Bytes())
		}
		for _, c := range m.CPUs {
			_ = m.Cores(m.Siblings(c.ID))
		}
		if err := WriteText(io.Discard, m, true); err != nil {
			t.Fatal(err)
		}
	})
}
