package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/sealhost/sealhost/host/internal/config"
	"k8s.io/utils/cpuset"
)

func TestSDRUnits(t *testing.T) {
	tests := []struct {
		name       string
		m          machineSpec
		cpus       string
		producers  string
		concurrent int
		units      []string // every unit, in hand-out order
		busy       string
	}{
		{"seed: 1 producer, one 2-core unit per 3-core group", seedSpec, "0-8", "1", 3,
			[]string{"0-1", "3-4", "6-7"}, "0-1,3-4,6-7"},
		{"seed: fewer tasks than units use the first units", seedSpec, "0-8", "1", 2,
			[]string{"0-1", "3-4", "6-7"}, "0-1,3-4"},
		{"seed: default 3 producers fit nothing; unbound on the cpuset", seedSpec, "0-8", "", 1,
			nil, "0-8"},
		{"zen3: one unit per group first, then a second", zen3Spec, "0-15", "1", 4,
			[]string{"0-1", "8-9", "2-3", "10-11", "4-5", "12-13", "6-7", "14-15"}, "0-3,8-11,32-35,40-43"},
		{"zen3: second threads only still cover the cores", zen3Spec, "32-39", "3", 2,
			[]string{"32-35", "36-39"}, "0-7,32-39"},
		{"one shared L3: consecutive units", singleL3, "0-8,18-26", "2", 3,
			[]string{"0-2", "3-5", "6-8"}, "0-8,18-26"},
		{"more tasks than units: the whole cpuset is busy", seedSpec, "0-5", "1", 3,
			[]string{"0-1", "3-4"}, "0-5"},
		{"cpuset inside one L3 group", seedSpec, "0-1", "1", 1,
			[]string{"0-1"}, "0-1"},
		{"machine without L3 information", machineSpec{nodes: 1, coresPerNode: 8, l3Cores: 8, noL3: true, nodeMem: gib}, "0-7", "3", 2,
			[]string{"0-3", "4-7"}, "0-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env("FIL_PROOFS_USE_MULTICORE_SDR", "1")
			if tt.producers != "" {
				e = env("FIL_PROOFS_USE_MULTICORE_SDR", "1", "FIL_PROOFS_MULTICORE_SDR_PRODUCERS", tt.producers)
			}
			p := Build(cfg("32GiB", nil, nil, proc(config.StagePC1, tt.cpus, e, conc(tt.concurrent))), tt.m.build())
			pr := p.Processors[0]
			if pr.SDR == nil {
				t.Fatalf("no SDR model; diagnostics %v", p.Diagnostics)
			}
			var units []string
			for _, u := range pr.SDR.Units {
				units = append(units, u.String())
			}
			if strings.Join(units, " ") != strings.Join(tt.units, " ") {
				t.Errorf("units %v, want %v", units, tt.units)
			}
			if got := pr.Busy.String(); got != tt.busy {
				t.Errorf("busy %q, want %q", got, tt.busy)
			}
			for i, tk := range pr.SDR.Tasks {
				if i < len(tt.units) && (tk.Unit != i || tk.CPUs.String() != tt.units[i]) {
					t.Errorf("task %d: unit %d cpus %s, want unit %d cpus %s", i, tk.Unit, tk.CPUs, i, tt.units[i])
				}
				if i >= len(tt.units) && tk.Unit != -1 {
					t.Errorf("task %d has unit %d, want unbound", i, tk.Unit)
				}
			}
		})
	}
}

func TestSpareAndCPUMap(t *testing.T) {
	p := Build(planB(), seedSpec.build())
	if got := p.Spare.String(); got != "38,41,86,89" {
		t.Fatalf("spare %q", got)
	}
	if len(p.CPUs) != 96 {
		t.Fatalf("%d cpus in the map, want 96", len(p.CPUs))
	}
	for _, c := range p.CPUs {
		if c.Spare != p.Spare.Contains(c.CPU) || c.Spare != (len(c.Processors) == 0) {
			t.Errorf("cpu %d: spare %v with processors %v", c.CPU, c.Spare, c.Processors)
		}
	}
	if got := p.CPUs[2].Processors; strings.Join(got, ",") != "pc2.0,c2.0" {
		t.Errorf("cpu 2 used by %v, want pc2.0,c2.0", got)
	}
	if got := p.CPUs[50]; got.NUMA != 1 || got.L3 != 16 {
		t.Errorf("cpu 50: node %d L3 %d, want 1 and 16", got.NUMA, got.L3)
	}
}

func TestMemoryAttribution(t *testing.T) {
	c := cfg("32GiB", nil, nil,
		proc(config.StagePC1, "0-41", numa(1), conc(2)), // preferred node wins over where its cpus are
		proc(config.StagePC1, "40-55", conc(4)),         // 8 cpus on each node: split in half
		proc(config.StagePC2, "", conc(5)),              // not counted
	)
	p := Build(c, seedSpec.build())
	want := map[int]uint64{0: 2 * 64 * gib, 1: 2*64*gib + 2*64*gib}
	for _, m := range p.Memory {
		if m.NeedBytes != want[m.NUMA] {
			t.Errorf("node %d needs %d GiB, want %d GiB", m.NUMA, m.NeedBytes/gib, want[m.NUMA]/gib)
		}
		if m.HaveBytes != seedSpec.nodeMem {
			t.Errorf("node %d has %d", m.NUMA, m.HaveBytes)
		}
	}
}

func TestPC1TaskBytes(t *testing.T) {
	for _, tt := range []struct{ sector, want uint64 }{{32 << 30, 64 << 30}, {64 << 30, 128 << 30}, {2 << 10, 4 << 10}} {
		if got := PC1TaskBytes(tt.sector); got != tt.want {
			t.Errorf("PC1TaskBytes(%d) = %d, want %d", tt.sector, got, tt.want)
		}
	}
}

// TestConfigDiagnostics: the "config" code comes from package config; a
// config that does not decode becomes a plan of diagnostics only, and the
// plan's own reference checks do not repeat the config's.
func TestConfigDiagnostics(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		codes []string // distinct codes in order
	}{
		{"clean", "sector_size = \"32GiB\"\n", nil},
		{"unknown attribute", "sector_size = \"32GiB\"\nbogus = 1\n", []string{"config"}},
		{"syntax", "sector_size = \"32GiB\n", []string{"config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := config.Parse([]byte(tt.src), "t.hcl")
			p := ConfigFailed("t.hcl", []byte(tt.src), diags)
			var b bytes.Buffer
			if err := p.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			var out struct {
				Diagnostics []struct {
					Severity, Code string
					Range          *string
				}
			}
			if err := json.Unmarshal(b.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range out.Diagnostics {
				if len(got) == 0 || got[len(got)-1] != d.Code {
					got = append(got, d.Code)
				}
				if d.Severity != "error" || d.Range == nil || !strings.HasPrefix(*d.Range, "t.hcl:") {
					t.Errorf("diagnostic %+v: want an error with a t.hcl range", d)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.codes, ",") {
				t.Errorf("codes %v, want %v", got, tt.codes)
			}
		})
	}

	// The same unknown lock reported by config and by plan is shown once.
	c := cfg("32GiB", nil, nil, proc(config.StageC2, "", locks("gpu3")))
	p := Build(c, seedSpec.build())
	p.AddConfigDiagnostics(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown lock", Extra: config.CodeUnknownLock}})
	if n := codes(p)[string(config.CodeUnknownLock)]; n != 1 {
		t.Errorf("%d unknown-lock diagnostics after merging, want 1", n)
	}
}

// TestJSONSchema checks the fields docs/plan-json.md promises, by type.
func TestJSONSchema(t *testing.T) {
	c := planB()
	c.Limits[config.StageC1] = 1 // a diagnostic without a range
	p := Build(c, seedSpec.build())
	var b bytes.Buffer
	if err := p.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"":            {"sector_size", "processors", "cpus", "spare_cpus", "locks", "memory", "diagnostics"},
		"processors":  {"id", "stage", "plugin", "cpus", "busy_cpus", "numa_preferred", "concurrent", "locks", "env"},
		"cpus":        {"cpu", "numa", "l3", "processors", "spare"},
		"locks":       {"name", "capacity", "processors"},
		"memory":      {"numa", "need_bytes", "have_bytes"},
		"diagnostics": {"severity", "code", "summary", "detail", "range"},
	}
	for _, k := range want[""] {
		if _, ok := top[k]; !ok {
			t.Errorf("top-level %q missing", k)
		}
	}
	for arr, keys := range want {
		if arr == "" {
			continue
		}
		items, _ := top[arr].([]any)
		if len(items) == 0 {
			t.Errorf("%s is empty", arr)
			continue
		}
		for _, it := range items {
			obj := it.(map[string]any)
			for _, k := range keys {
				if _, ok := obj[k]; !ok {
					t.Errorf("%s item lacks %q: %v", arr, k, obj)
				}
			}
		}
	}
	procs := top["processors"].([]any)
	if v := procs[0].(map[string]any)["numa_preferred"]; v != float64(0) {
		t.Errorf("pc1.0 numa_preferred = %v, want 0", v)
	}
	if v := procs[2].(map[string]any)["numa_preferred"]; v != nil {
		t.Errorf("pc2.0 numa_preferred = %v, want null", v)
	}
	d := top["diagnostics"].([]any)[0].(map[string]any)
	if d["code"] != "limit-unreachable" || d["range"] != nil || d["severity"] != "warning" {
		t.Errorf("diagnostic %v: want limit-unreachable warning with null range", d)
	}
	if top["spare_cpus"] != "38,41,86,89" {
		t.Errorf("spare_cpus %v", top["spare_cpus"])
	}
	// Cpu lists are canonical.
	for _, it := range procs {
		for _, k := range []string{"cpus", "busy_cpus"} {
			s := it.(map[string]any)[k].(string)
			if set, err := cpuset.Parse(s); err != nil || set.String() != s {
				t.Errorf("%s %q is not a canonical cpu list", k, s)
			}
		}
	}
}

// TestTextColour: colour only when asked, and the same text under it.
func TestTextColour(t *testing.T) {
	p := Build(planB(), seedSpec.build())
	var plain, col bytes.Buffer
	if err := p.WriteText(&plain, false); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteText(&col, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("escape codes without colour")
	}
	if !strings.Contains(col.String(), "\x1b[") {
		t.Error("no escape codes with colour")
	}
	stripped := ansi.ReplaceAllString(col.String(), "")
	if stripped != plain.String() {
		t.Errorf("coloured text differs from plain text once escapes are removed")
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestDegenerateInputs: Build never panics, even on nothing.
func TestDegenerateInputs(t *testing.T) {
	for name, p := range map[string]*Plan{
		"nil config and machine": Build(nil, nil),
		"plan B on no machine":   Build(planB(), nil),
		"no processors":          Build(cfg("32GiB", nil, nil), seedSpec.build()),
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := p.WriteText(&b, false); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
		})
	}
	if p := Build(planB(), nil); codes(p)[string(config.CodeCPUNotPresent)] != 6 {
		t.Errorf("plan B on no machine: want cpu-not-present for all 6 processors, got %v", p.Diagnostics)
	}
}

// TestManyOverlapsReportedOncePerProcessor: a config of many processors on
// one cpu gets one cpu-overlap warning per processor (not one per pair),
// capped with a count; a few get one per pair.
func TestManyOverlapsReportedOncePerProcessor(t *testing.T) {
	for _, tc := range []struct {
		n        int
		warnings int // cpu-overlap diagnostics
		wants    string
	}{
		{3, 3, "Processors c1.0 and c1.1 both keep cpus 0 busy"},
		// 55 pairs: past maxPairWarnings, one warning per processor.
		{11, 10, "Processor c1.10 keeps cpus 0 busy, as do c1.0, c1.1, c1.2, c1.3, c1.4 and 5 more"},
		// Capped: the first MaxDiagnostics, then a count.
		{2000, config.MaxDiagnostics, "Processor c1.6 keeps cpus 0 busy, as do c1.0, c1.1, c1.2, c1.3, c1.4 and 1 more"},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			var procs []config.Processor
			for range tc.n {
				procs = append(procs, proc(config.StageC1, "0"))
			}
			p := Build(cfg("32GiB", nil, nil, procs...), seedSpec.build())
			n, text := 0, ""
			for _, d := range p.Diagnostics {
				if config.CodeOf(d) == string(config.CodeCPUOverlap) {
					n++
					text += d.Detail + "\n"
				}
			}
			if n != tc.warnings || !strings.Contains(text, tc.wants) {
				t.Fatalf("%d cpu-overlap warnings, want %d, one containing %q:\n%s", n, tc.warnings, tc.wants, text)
			}
		})
	}
}

// BenchmarkPlan2000Processors: `host plan` on 2000 processors sharing one
// cpu (target: well under 1 s and 100 MB; it took minutes and 2 GB with a
// warning per pair).
func BenchmarkPlan2000Processors(b *testing.B) {
	var procs []config.Processor
	for range 2000 {
		procs = append(procs, proc(config.StageC1, "0"))
	}
	c, m := cfg("32GiB", nil, nil, procs...), seedSpec.build()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Build(c, m)
	}
}

// BenchmarkPlan2000ProcessorsConfig: `host validate` of a 200 KB config
// file declaring 2000 processors on cpu 0 — parse, plan, render the
// diagnostics (target: well under 1 s and 100 MB).
func BenchmarkPlan2000ProcessorsConfig(b *testing.B) {
	var src strings.Builder
	src.WriteString("sector_size = \"32GiB\"\nplugin \"p\" {\n  path = \"/usr/local/bin/sealhost-plugin\"\n}\n")
	for range 2000 {
		src.WriteString("processor \"c1\" {\n  plugin = \"p\"\n  cpuset = \"0\"\n  # a comment, as operators write them: this one pads\n}\n")
	}
	text := []byte(src.String())
	if len(text) < 190_000 || len(text) > 210_000 {
		b.Fatalf("the config is %d bytes, want about 200 KB", len(text))
	}
	m := seedSpec.build()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, diags := config.Parse(text, "big.hcl")
		if c == nil || diags.HasErrors() {
			b.Fatalf("the config does not parse: %v", diags)
		}
		p := Build(c, m)
		var out bytes.Buffer
		if err := config.WriteDiagnostics(&out, "big.hcl", text, p.Diagnostics, false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPluginNotRunnable: on the live machine each used plugin's path must
// be a regular executable file whose arguments exec accepts; planning for
// another machine (-topology) does not look at this machine's files.
func TestPluginNotRunnable(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "plugin")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o644)
	loop := filepath.Join(dir, "loop")
	os.Symlink(loop, loop)
	for _, tc := range []struct {
		name, path string
		args       []string
		live       bool
		want       string // "" when no plugin-not-runnable
	}{
		{"executable", exe, nil, true, ""},
		{"missing", filepath.Join(dir, "gone"), nil, true, "no such file or directory"},
		{"a folder", dir, nil, true, "is not a regular file"},
		{"not executable", plain, nil, true, "is not executable (mode -rw-r--r--)"},
		{"link loop", loop, nil, true, "too many levels of symbolic links"},
		{"argument too long", exe, []string{strings.Repeat("x", 200<<10)}, true, "args[0] is 204800 bytes"},
		{"arguments too long together", exe, []string{strings.Repeat("x", 100<<10), strings.Repeat("y", 100<<10), strings.Repeat("z", 100<<10),
			strings.Repeat("x", 100<<10), strings.Repeat("y", 100<<10), strings.Repeat("z", 100<<10), strings.Repeat("x", 100<<10),
			strings.Repeat("y", 100<<10), strings.Repeat("z", 100<<10), strings.Repeat("x", 100<<10), strings.Repeat("y", 100<<10)}, true, "arguments add up to"},
		{"missing, but planned for another machine", filepath.Join(dir, "gone"), nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg("32GiB", nil, nil, proc(config.StageC2, "0"))
			c.Plugins[0].Path, c.Plugins[0].Args = tc.path, tc.args
			m := seedSpec.build()
			if tc.live {
				m.Source = "live"
			}
			var got []string
			for _, d := range Build(c, m).Diagnostics {
				if config.CodeOf(d) == string(config.CodePluginNotRunnable) {
					got = append(got, d.Detail)
				}
			}
			if tc.want == "" && len(got) != 0 || tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)) {
				t.Fatalf("plugin-not-runnable = %q, want %q", got, tc.want)
			}
		})
	}
}
