package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, and must
// return either a config (with no errors) or error diagnostics (with no
// config). Every error points into the file. A config satisfies the
// invariants the rest of the program relies on.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.hcl")
	seeds = append(seeds, realConfigs...)
	for _, path := range seeds {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"\x00\xff",
		head,
		head + proc("pc1", `cpuset = "0-3"`, `concurrent = 2`, `locks = ["gpu1", "gpu2"]`),
		head + proc("pc2") + proc("pc2") + proc("c2"),
		head + `processor "pc1" { plugin = "ffi" }`,
		`sector_size = "32GiB"` + "\nlimits { pc1 = 1e400 }\n",
		`sector_size = "32GiB"` + "\narbiter { weights = { c2 = 1e-400 } }\n",
		`sector_size = "${"32"}GiB"`,
		`sector_size = <<EOT` + "\n32GiB\nEOT\n",
		head + proc("pc1", `env = { for k in ["a"] : k => k }`),
		head + proc("pc1", `locks = [for l in ["gpu1"] : l]`),
		head + proc("pc1", `memory_limit = 1.5`),
		head + "simulation {\n  sealing_threads = 18\n  wait_seed = \"80m\"\n  durations = { pc1 = \"320m\" }\n}\n",
		head + "simulation {\n  post {\n    window_post_every = \"30m\"\n    window_post_partitions = 2\n    winning_post_per_day = 0.5\n  }\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := Parse(src, "fuzz.hcl")
		if diags.HasErrors() {
			if cfg != nil {
				t.Fatal("config returned with errors")
			}
			for _, d := range diags {
				checkSubject(t, d, src)
				if CodeOf(d) == "" {
					t.Fatalf("diagnostic without code: %s", d.Summary)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no errors")
		}
		checkInvariants(t, cfg)
	})
}

func checkSubject(t *testing.T, d *hcl.Diagnostic, src []byte) {
	t.Helper()
	if d.Subject == nil {
		t.Fatalf("error without Subject: %s: %s", d.Summary, d.Detail)
	}
	r := d.Subject
	if r.Filename != "fuzz.hcl" || r.Start.Byte < 0 || r.End.Byte > len(src)+1 || r.Start.Byte > r.End.Byte || r.Start.Line < 1 {
		t.Fatalf("subject %#v out of the file (len %d): %s", r, len(src), d.Summary)
	}
}

func checkInvariants(t *testing.T, cfg *Config) {
	t.Helper()
	okSize := false
	for _, s := range SectorSizes {
		okSize = okSize || s == cfg.SectorSize
	}
	if !okSize {
		t.Fatalf("sector size %v", cfg.SectorSize)
	}
	plugins := map[string]bool{}
	for _, p := range cfg.Plugins {
		if plugins[p.Name] {
			t.Fatalf("plugin %q twice", p.Name)
		}
		plugins[p.Name] = true
		if !filepath.IsAbs(p.Path) {
			t.Fatalf("plugin path %q not absolute", p.Path)
		}
		if p.SHA256 != "" && (len(p.SHA256) != 64 || strings.ToLower(p.SHA256) != p.SHA256) {
			t.Fatalf("sha256 %q", p.SHA256)
		}
	}
	locks := map[string]bool{}
	for _, l := range cfg.Locks {
		if locks[l.Name] || l.Capacity < 1 {
			t.Fatalf("lock %+v duplicated or without capacity", l)
		}
		locks[l.Name] = true
	}
	ids := map[string]bool{}
	next := map[Stage]int{}
	for _, p := range cfg.Processors {
		if ids[p.ID] {
			t.Fatalf("id %q twice", p.ID)
		}
		ids[p.ID] = true
		if want := fmt.Sprintf("%s.%d", p.Stage, next[p.Stage]); p.ID != want || p.Index != next[p.Stage] {
			t.Fatalf("id %q index %d, want %q", p.ID, p.Index, want)
		}
		next[p.Stage]++
		if !plugins[p.Plugin] {
			t.Fatalf("%s uses undeclared plugin %q", p.ID, p.Plugin)
		}
		seen := map[string]bool{}
		for _, l := range p.Locks {
			if !locks[l] || seen[l] {
				t.Fatalf("%s: lock %q undeclared or repeated", p.ID, l)
			}
			seen[l] = true
		}
		if len(p.LockRanges) != len(p.Locks) || len(p.EnvRanges) != len(p.Env) {
			t.Fatalf("%s: ranges out of step with values", p.ID)
		}
		if p.Concurrent < 1 || (p.NUMAPreferred != nil && *p.NUMAPreferred < 0) {
			t.Fatalf("%s: concurrent %d numa %v", p.ID, p.Concurrent, p.NUMAPreferred)
		}
		if p.HasCPUs == p.CPUs.IsEmpty() {
			t.Fatalf("%s: HasCPUs %v with cpus %q", p.ID, p.HasCPUs, p.CPUs)
		}
		for k := range p.Env {
			if !envNameRE.MatchString(k) {
				t.Fatalf("%s: env name %q", p.ID, k)
			}
		}
		if p.Timeout < 0 {
			t.Fatalf("%s: timeout %v", p.ID, p.Timeout)
		}
	}
	for st, n := range cfg.Limits {
		if !isStage(st) || n < 1 {
			t.Fatalf("limit %s = %d", st, n)
		}
	}
	for st, w := range cfg.Arbiter.Weights {
		if !isStage(st) || !(w > 0) {
			t.Fatalf("weight %s = %v", st, w)
		}
	}
	for st, d := range cfg.Stagger {
		if !isStage(st) || d < 0 {
			t.Fatalf("stagger %s = %v", st, d)
		}
	}
	if s := cfg.Simulation; s != nil {
		if s.SealingThreads < 0 || s.WaitSeed < 0 {
			t.Fatalf("simulation %+v", s)
		}
		if p := s.Post; p != nil && (p.WindowEvery <= 0 || p.WindowDeadline <= 0 || p.WindowPartitions < 0 ||
			!(p.WinningPerDay >= 0 && p.WinningPerDay <= EpochsPerDay) || p.WinningDeadline <= 0) {
			t.Fatalf("post %+v", *p)
		}
	}
	switch cfg.Arbiter.Policy {
	case PolicyFair, PolicyFIFO, PolicyGreedy:
	default:
		t.Fatalf("policy %q", cfg.Arbiter.Policy)
	}
}

func isStage(s Stage) bool {
	for _, x := range Stages {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzParseCPUs checks ParseCPUs never panics and that its canonical
// printing round-trips: String() reparses to the same set and prints the
// same again.
func FuzzParseCPUs(f *testing.F) {
	for _, s := range []string{
		"", "0", "0-41", "0-41\n", "2,5,8,11,50-53", "3,1,2", "0-3,2-5", " 0-3 , 8 ",
		"14,17,20,23,26,29,32,35,42-47,62,65,68,71,74,77,80,83,90-95",
		"0-41,", "41-0", "a", "-5", "5-", "1-2-3", "8191", "8192", "0-7:2/4", "+1", "0-8191",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCPUs(s)
		if err != nil {
			if !set.IsEmpty() {
				t.Fatalf("error %v with non-empty set %s", err, set)
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		for _, c := range set.List() {
			if c < 0 || c > MaxCPU {
				t.Fatalf("cpu %d out of range from %q", c, s)
			}
		}
		canon := set.String()
		again, err := ParseCPUs(canon)
		if err != nil {
			t.Fatalf("canonical %q of %q does not reparse: %v", canon, s, err)
		}
		if !again.Equals(set) || again.String() != canon {
			t.Fatalf("round trip of %q: %q -> %q", s, canon, again.String())
		}
	})
}
