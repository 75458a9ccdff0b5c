package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Paths are relative to this package so that golden output, which names
// the config and machine as given, is the same on every checkout.
const (
	root        = "../../../"
	seedJSON    = root + "testdata/machines/seed.json"
	seedSysfs   = root + "testdata/machines/seed"
	configHCL   = root + "config.hcl"
	planAHCL    = root + "examples/plan-a.hcl"
	verbatimA   = root + "testdata/configs/seed-plan-a-verbatim.hcl"
	verbatimB   = root + "testdata/configs/seed-plan-b-verbatim.hcl"
	zen3JSON    = root + "testdata/machines/zen3-7543.json"
	intelJSON   = root + "testdata/machines/intel-w2295.json"
	seedSpareOK = "38,41,86,89"
)

// load plans a config file on a machine with the real loaders, failing the
// test on any config error.
func load(t *testing.T, cfgPath, machinePath string) *Plan {
	t.Helper()
	cfg, diags := config.Load(cfgPath)
	if diags.HasErrors() {
		var b bytes.Buffer
		_ = config.WriteDiagnostics(&b, cfgPath, cfg.Source, diags, false)
		t.Fatalf("config %s: %s", cfgPath, b.String())
	}
	m, err := topology.Load(machinePath)
	if err != nil {
		t.Fatal(err)
	}
	p := Build(cfg, m)
	p.AddConfigDiagnostics(diags)
	return p
}

func codes(p *Plan) map[string]int {
	out := map[string]int{}
	for _, d := range p.Diagnostics {
		out[config.CodeOf(d)]++
	}
	return out
}

// TestSeedReading is the acceptance check of issue 2: on the seed machine,
// config.hcl (Plan B) and Plan A reproduce the seed document's own reading.
func TestSeedReading(t *testing.T) {
	for _, c := range []struct{ name, cfg, machine string }{
		{"config.hcl/json", configHCL, seedJSON},
		{"config.hcl/sysfs", configHCL, seedSysfs},
		{"plan-a/json", planAHCL, seedJSON},
		{"plan-a/sysfs", planAHCL, seedSysfs},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := load(t, c.cfg, c.machine)
			if got := p.Spare.String(); got != seedSpareOK {
				t.Errorf("spare cpus = %q, want %q", got, seedSpareOK)
			}
			if p.HasErrors() {
				t.Errorf("errors: %v", p.Diagnostics)
			}
			if n := codes(p)[string(config.CodeCPUOverlap)]; n != 0 {
				t.Errorf("%d cpu-overlap warnings, want none: %v", n, p.Diagnostics)
			}
			for _, pr := range p.Processors {
				if pr.Stage == config.StagePC1 && (pr.SDR == nil || len(pr.SDR.Units) != 14 || pr.SDR.Unbound() != 0) {
					t.Errorf("%s: want 14 bound SDR units, got %+v", pr.ID, pr.SDR)
				}
			}
		})
	}
}

func TestVerbatimSeedConfigsRaiseObsoleteEnv(t *testing.T) {
	for _, path := range []string{verbatimA, verbatimB} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			p := load(t, path, seedJSON)
			c := codes(p)
			// Two pc1 with FIL_PROOFS_MAXIMIZE_CACHING and every pc2 with
			// FIL_PROOFS_USE_GPU_COLUMN_BUILDER.
			want := 2 + len(p.processorsOf(config.StagePC2))
			if c[string(config.CodeObsoleteEnv)] != want {
				t.Errorf("obsolete-env %d times, want %d: %v", c[string(config.CodeObsoleteEnv)], want, p.Diagnostics)
			}
			if p.HasErrors() || p.Spare.String() != seedSpareOK {
				t.Errorf("errors %v, spare %q", p.HasErrors(), p.Spare.String())
			}
		})
	}
}

func (p *Plan) processorsOf(st config.Stage) []Processor {
	var out []Processor
	for _, pr := range p.Processors {
		if pr.Stage == st {
			out = append(out, pr)
		}
	}
	return out
}

// TestSysfsAndJSONAgree plans one config on the seed machine read both ways.
func TestSysfsAndJSONAgree(t *testing.T) {
	var out [2]bytes.Buffer
	for i, m := range []string{seedJSON, seedSysfs} {
		p := load(t, configHCL, m)
		p.Machine = "seed"
		if err := p.WriteJSON(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	if out[0].String() != out[1].String() {
		t.Errorf("plans differ between %s and %s", seedJSON, seedSysfs)
	}
}

func TestGolden(t *testing.T) {
	for _, c := range []struct{ name, cfg, machine string }{
		{"seed-config", configHCL, seedJSON},
		{"seed-plan-a", planAHCL, seedJSON},
		{"seed-plan-b-verbatim", verbatimB, seedJSON},
		{"zen3-7543", "testdata/zen3-7543.hcl", zen3JSON},
		{"intel-w2295", "testdata/intel-w2295.hcl", intelJSON},
		{"seed-config-on-zen3", configHCL, zen3JSON},
		{"seed-post-urgent", root + "examples/post-urgent.hcl", seedJSON},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := load(t, c.cfg, c.machine)
			var text, js bytes.Buffer
			if err := p.WriteText(&text, false); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".txt", text.Bytes())
			golden(t, c.name+".json", js.Bytes())
			plan, _, _ := strings.Cut(text.String(), "\nDiagnostics\n")
			for i, l := range strings.Split(plan, "\n") {
				if len(l) > width {
					t.Errorf("line %d is %d columns, more than %d: %q", i+1, len(l), width, l)
				}
				if strings.Contains(l, "\x1b[") {
					t.Errorf("line %d has ANSI escapes without colour", i+1)
				}
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update after checking the change):\n%s", path, diffLines(string(want), string(got)))
	}
}

// diffLines shows the first differing lines, enough to see what changed.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + itoa(i+1) + "\n  want: " + wl + "\n  got:  " + gl + "\n")
			if shown++; shown == 5 {
				break
			}
		}
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }
