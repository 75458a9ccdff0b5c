package damoclesconf

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
)

// FuzzTranslate: on any input the import returns either errors and no
// config, or a config that package config decodes without an error; it
// never panics, every diagnostic points inside the file, and the same input
// gives the same output.
func FuzzTranslate(f *testing.F) {
	for _, in := range []string{seedA, seedB, "testdata/everything.toml", "testdata/bad-values.toml", "testdata/not-toml.toml"} {
		src, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"[processors]\npc2 = [ { cgroup = { cpuset = \"2,5\" }, locks = [\"a\", \"a\"] } ]\n",
		"[[processors.c2]]\nbin = \"x\\n}\\nplugin \\\"y\\\" {\"\nargs = [\"${a}\"]\n",
		"[[processors.pc1]]\n[processors.pc1.cgroup]\ncpuset = \"0-3\"\n[[processors.pc1]]\nenvs.\"A\" = \"b\"\n",
		"[processors.ext_locks]\n\"\" = 1\n[[processors.pc2]]\nlocks = [\"\"]\n",
		"[processors.limitation.staggered]\npc1 = \"1y 2M 3w\"\n[[processors.pc1]]\n",
		"a.b.c = 1\n[a]\n",
		"[[processors.pc2]]\nconcurrent = 9223372036854775807\nnuma_preferred = 4294967296\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		res := Translate(src, Options{File: "f.toml"})
		lines := bytes.Count(src, []byte("\n")) + 1
		for _, d := range res.Diagnostics {
			if d.Code == CodeInternal {
				t.Fatalf("written config does not load: %s", d.Detail)
			}
			if d.Pos.Line < 0 || d.Pos.Line > lines {
				t.Fatalf("diagnostic at line %d of a %d-line file: %+v", d.Pos.Line, lines, d)
			}
			if d.Summary == "" || d.Detail == "" || d.Code == "" {
				t.Fatalf("diagnostic without summary, detail or code: %+v", d)
			}
		}
		if res.Diagnostics.HasErrors() != (res.HCL == nil) {
			t.Fatalf("errors %v but config written %v", res.Diagnostics.HasErrors(), res.HCL != nil)
		}
		if res.HCL != nil {
			if _, cd := config.Parse(res.HCL, "f.hcl"); cd.HasErrors() {
				t.Fatalf("written config does not load: %v\n%s", cd, res.HCL)
			}
		}
		again := Translate(src, Options{File: "f.toml"})
		if !bytes.Equal(again.HCL, res.HCL) || len(again.Diagnostics) != len(res.Diagnostics) {
			t.Fatal("two imports of one input differ")
		}
		var b strings.Builder
		if err := res.Diagnostics.Write(&b, "f.toml", src); err != nil {
			t.Fatal(err)
		}
	})
}
