package damoclesconf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/topology"
)

// Paths are relative to this package.
const (
	root     = "../../../"
	seedJSON = root + "testdata/machines/seed.json"
	seedA    = root + "testdata/damocles/seed-plan-a.toml"
	seedB    = root + "testdata/damocles/seed-plan-b.toml"
)

// planOf plans a config file on the seed machine, failing on any config
// error.
func planOf(t *testing.T, path string) *plan.Plan {
	t.Helper()
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		var b bytes.Buffer
		_ = config.WriteDiagnostics(&b, path, nil, diags, false)
		t.Fatalf("%s does not load:\n%s", path, b.String())
	}
	m, err := topology.Load(seedJSON)
	if err != nil {
		t.Fatal(err)
	}
	p := plan.Build(cfg, m)
	p.AddConfigDiagnostics(diags)
	return p
}

func importTo(t *testing.T, tomlPath string) string {
	t.Helper()
	src, err := os.ReadFile(tomlPath)
	if err != nil {
		t.Fatal(err)
	}
	res := Translate(src, Options{File: filepath.Base(tomlPath)})
	if res.Diagnostics.HasErrors() {
		var b bytes.Buffer
		_ = res.Diagnostics.Write(&b, tomlPath, src)
		t.Fatalf("import of %s failed:\n%s", tomlPath, b.String())
	}
	out := filepath.Join(t.TempDir(), "imported.hcl")
	if err := os.WriteFile(out, res.HCL, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSeedPlansImportToTheRepoConfigs is the acceptance check of issue 16
// item 3: the seed document's two TOML plans, imported, plan on the seed
// machine exactly as the hand-written configs do — the same text (but for
// the file name in its first line), the same JSON (but for "config").
func TestSeedPlansImportToTheRepoConfigs(t *testing.T) {
	for _, tc := range []struct{ toml, hcl string }{
		{seedB, root + "config.hcl"},
		{seedA, root + "examples/plan-a.hcl"},
	} {
		t.Run(filepath.Base(tc.toml), func(t *testing.T) {
			imported := planOf(t, importTo(t, tc.toml))
			want := planOf(t, tc.hcl)

			if got := imported.Spare.String(); got != "38,41,86,89" {
				t.Errorf("spare cpus %s, want the seed's 38,41,86,89", got)
			}
			if imported.HasErrors() || len(imported.Diagnostics) > 0 {
				t.Errorf("imported config has plan diagnostics: %v", imported.Diagnostics)
			}

			gotText, wantText := planText(t, imported), planText(t, want)
			if gotText != wantText {
				t.Errorf("plan text differs from %s's:\n%s", tc.hcl, lineDiff(wantText, gotText))
			}
			gotJSON, wantJSON := planJSON(t, imported), planJSON(t, want)
			if !reflect.DeepEqual(gotJSON, wantJSON) {
				for k := range wantJSON {
					if !reflect.DeepEqual(gotJSON[k], wantJSON[k]) {
						t.Errorf("plan JSON field %q differs:\n got %v\nwant %v", k, gotJSON[k], wantJSON[k])
					}
				}
			}
		})
	}
}

// planText is the text plan without its first line, which names the file.
func planText(t *testing.T, p *plan.Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(b.String(), "\n")
	return rest
}

func planJSON(t *testing.T, p *plan.Plan) map[string]any {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "config")
	return m
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

// TestSeedBehaviourChangesAtTheirLines: every setting of the seed's TOML
// that sealhost treats differently is reported at the line that sets it.
// The expected lines are found in the TOML itself, not in the output.
func TestSeedBehaviourChangesAtTheirLines(t *testing.T) {
	for _, path := range []string{seedA, seedB} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			res := Translate(src, Options{File: filepath.Base(path)})
			have := map[Code]map[int]bool{}
			for _, d := range res.Diagnostics {
				if have[d.Code] == nil {
					have[d.Code] = map[int]bool{}
				}
				have[d.Code][d.Pos.Line] = true
			}
			want := map[Code][]int{}
			procs, locks := 0, 0
			for i, line := range strings.Split(string(src), "\n") {
				n := i + 1
				for _, v := range []string{"FIL_PROOFS_MAXIMIZE_CACHING", "FIL_PROOFS_USE_GPU_COLUMN_BUILDER"} {
					if strings.Contains(line, v) {
						want[CodeObsoleteEnv] = append(want[CodeObsoleteEnv], n)
					}
				}
				if strings.HasPrefix(line, "cgroup.cpuset") || strings.HasPrefix(line, "numa_preferred") {
					want[CodeHostOwned] = append(want[CodeHostOwned], n)
				}
				if strings.HasPrefix(line, "[[processors.pc2]]") || strings.HasPrefix(line, "[[processors.c2]]") {
					// no concurrent: damocles' bound is written out
					want[CodeConcurrent] = append(want[CodeConcurrent], n)
				}
				if strings.HasPrefix(line, "[[processors.") {
					procs++
				}
				if strings.HasPrefix(line, "gpu") {
					want[CodeSharedLock] = append(want[CodeSharedLock], n)
					locks++
				}
			}
			for code, lines := range want {
				for _, n := range lines {
					if !have[code][n] {
						t.Errorf("no %s diagnostic at line %d:\n%s", code, n, diagText(res.Diagnostics, path, src))
					}
				}
			}
			if got := len(res.Diagnostics); got != len(want[CodeObsoleteEnv])+len(want[CodeHostOwned])+len(want[CodeConcurrent])+locks+1 {
				t.Errorf("%d diagnostics, want those above and the sector size (%d processors):\n%s", got, procs, diagText(res.Diagnostics, path, src))
			}
			if !have[CodeSectorSize][0] {
				t.Errorf("the assumed sector size is not reported")
			}
		})
	}
}

func diagText(ds Diagnostics, file string, src []byte) string {
	var b bytes.Buffer
	_ = ds.Write(&b, file, src)
	return b.String()
}
