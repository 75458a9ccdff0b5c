package plan

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
)

// TestConfigFailedWithMachine: a config with mistakes still gets the machine
// checks of the processors that decoded, and only those: a broken block is
// not checked as something else, and whole-config checks are not guessed.
func TestConfigFailedWithMachine(t *testing.T) {
	m, err := topology.Load(seedJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body string
		want []string
	}{
		{"a sound processor past the last cpu", `
processor "pc2" {
  plugin = "ffi"
  cpuse  = "0"
}
processor "c2" {
  plugin = "ffi"
  cpuset = "200"
}`, []string{"config", "cpu-not-present"}},
		{"a broken processor is not checked", `
processor "c2" {
  plugin = "ffi"
  cpuset = "200"
  locks  = ["nope"]
}`, []string{"unknown-lock"}},
		{"no whole-config guesses", `
limits {
  pc2 = 5
}
processor "pc2" {
  plugin = "ffi"
  cpuset = "0"
  bogus  = 1
}`, []string{"config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.hcl")
			src := "sector_size = \"32GiB\"\nplugin \"ffi\" {\n  path = \"/bin/true\"\n}\n" + tc.body + "\n"
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			sound, diags := config.LoadPartial(path)
			if sound == nil || !diags.HasErrors() {
				t.Fatalf("LoadPartial = %v, %v", sound, diags)
			}
			p := ConfigFailedWithMachine(path, []byte(src), diags, sound, m)
			var got []string
			for _, d := range p.Diagnostics {
				got = append(got, config.CodeOf(d))
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("codes %v, want %v\n%v", got, tc.want, p.Diagnostics)
			}
		})
	}
}
