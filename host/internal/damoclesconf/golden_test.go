package damoclesconf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenInputs are the TOML files whose import is kept as golden output:
// the seed's two plans and this package's cases.
func goldenInputs(t *testing.T) []string {
	t.Helper()
	local, err := filepath.Glob("testdata/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{seedA, seedB}, local...)
}

// TestGolden compares each import's config (NAME.hcl, absent when the
// import fails) and diagnostics (NAME.diag, as `host import` prints them)
// with testdata/golden. Rewrite with
// go test ./host/internal/damoclesconf -run Golden -args -update, and read
// the diff.
func TestGolden(t *testing.T) {
	for _, in := range goldenInputs(t) {
		name := strings.TrimSuffix(filepath.Base(in), ".toml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Base(in)
			res := Translate(src, Options{File: file})
			var diag bytes.Buffer
			if err := res.Diagnostics.Write(&diag, file, src); err != nil {
				t.Fatal(err)
			}
			diag.WriteString(res.Diagnostics.Summary() + "\n")
			golden(t, filepath.Join("testdata/golden", name+".diag"), diag.Bytes())
			hclPath := filepath.Join("testdata/golden", name+".hcl")
			if res.HCL == nil {
				if *update {
					_ = os.Remove(hclPath)
				} else if _, err := os.Stat(hclPath); err == nil {
					t.Errorf("import failed, but %s expects a config", hclPath)
				}
				return
			}
			golden(t, hclPath, res.HCL)
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden ./host/internal/damoclesconf -args -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (rerun with -args -update if intended):\n%s", path, lineDiff(string(want), string(got)))
	}
}
