package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"k8s.io/utils/cpuset"
)

// head is a valid start that the error cases extend.
const head = `sector_size = "32GiB"
plugin "ffi" {
  path = "bin/plugins/ffi"
}
lock "gpu1" {}
lock "gpu2" {}
`

// proc wraps attribute lines in a valid processor block.
func proc(stage string, lines ...string) string {
	return "processor \"" + stage + "\" {\n  plugin = \"ffi\"\n  " + strings.Join(lines, "\n  ") + "\n}\n"
}

// markedLine is the 1-based line of src that ends with the marker "#!".
func markedLine(t *testing.T, src string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), "#!") {
			return i + 1
		}
	}
	t.Fatalf("no line marked #! in:\n%s", src)
	return 0
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		code   Code
		phrase string
		line   int // 0: the line marked #!
	}{
		// Unknown names.
		{"unknown root attribute", head + "confin = false #!\n", CodeConfig, `Did you mean "confine"?`, 0},
		{"unknown root block", head + "procesor \"pc1\" { #!\n}\n", CodeConfig, `Did you mean "processor"?`, 0},
		{"unknown processor attribute", head + proc("pc1", `cpu_set = "0-3" #!`), CodeConfig, `Did you mean "cpuset"?`, 0},
		{"unknown plugin attribute", head + "plugin \"x\" {\n  path = \"x\"\n  argz = [] #!\n}\n", CodeConfig, `Did you mean "args"?`, 0},
		{"env written as a block", head + proc("pc1", `env { #!`, `A = "1"`, `}`), CodeConfig, "use the equals sign", 0},
		{"unknown lock attribute", head + "lock \"l\" {\n  count = 1 #!\n}\n", CodeConfig, `"count" is not expected here. Arguments allowed here: capacity.`, 0},
		{"unknown block in processor", head + proc("pc1", "cgroup { #!", "}"), CodeConfig, "Blocks are not allowed here.", 0},
		{"unknown attribute lists allowed", head + proc("pc1", "bin = \"x\" #!"), CodeConfig, "Arguments allowed here: plugin, cpuset, numa_preferred, concurrent, locks, env, inherit_env, memory_limit, timeout.", 0},
		{"missing processor label", head + "processor { #!\n}\n", CodeConfig, "Missing stage for processor", 0},
		{"extra lock label", head + "lock \"a\" \"b\" {} #!\n", CodeConfig, "Extraneous label for lock", 0},
		{"block inside limits", head + "limits {\n  pc1 { #!\n  }\n}\n", CodeConfig, "Blocks are not allowed here", 0},

		// Wrong types.
		{"concurrent as string", head + proc("pc1", `concurrent = "14" #!`), CodeConfig, `concurrent must be a whole number (without quotes), not the string "14"`, 0},
		{"concurrent fractional", head + proc("pc1", `concurrent = 1.5 #!`), CodeConfig, "must be a whole number, not 1.5", 0},
		{"concurrent huge", head + proc("pc1", `concurrent = 1e20 #!`), CodeConfig, "concurrent must be 1 or more", 0},
		{"inherit_env as string", head + proc("pc1", `inherit_env = "yes" #!`), CodeConfig, "inherit_env must be true or false", 0},
		{"confine as number", head + "confine = 0 #!\n", CodeConfig, "confine must be true or false", 0},
		{"locks as string", head + proc("pc2", `locks = "gpu1" #!`), CodeConfig, "must be a list in brackets", 0},
		{"locks element number", head + proc("pc2", `locks = [1] #!`), CodeConfig, "locks must be a string", 0},
		{"env as string", head + proc("pc1", `env = "A=1" #!`), CodeConfig, "env must be a map in braces", 0},
		{"env value list", head + proc("pc1", `env = { A = ["1"] } #!`), CodeConfig, "env.A must be a string, not a list", 0},
		{"cpuset as number", head + proc("pc1", `cpuset = 3 #!`), CodeConfig, "cpuset must be a string", 0},
		{"plugin null", head + "processor \"pc1\" {\n  plugin = null #!\n}\n", CodeConfig, "must be a string (in double quotes), not null", 0},
		{"sector_size number", "sector_size = 32 #!\n", CodeConfig, "sector_size must be a string", 0},
		{"variable reference", head + proc("pc1", `cpuset = var.cpus #!`), CodeConfig, "Variables not allowed", 0},
		{"function call", head + proc("pc1", `concurrent = max(1, 2) #!`), CodeConfig, "Function calls not allowed", 0},
		{"env computed", head + proc("pc1", `env = { for k in ["A"] : k => "1" } #!`), CodeConfig, "must be written out entry by entry", 0},
		{"locks computed", head + proc("pc2", `locks = [for l in ["gpu1"] : l] #!`), CodeConfig, "must be written out element by element", 0},
		{"weight as string", head + "arbiter {\n  weights = { c2 = \"2\" } #!\n}\n", CodeConfig, `weights.c2 must be a number (without quotes), not the string "2"`, 0},
		{"memory_limit as bool", head + proc("pc1", `memory_limit = true #!`), CodeConfig, `memory_limit must be a size like "900GiB", not the bool true`, 0},
		{"env value null", head + proc("pc1", `env = { A = null } #!`), CodeConfig, "env.A must be a string, not null", 0},
		{"policy as number", head + "arbiter {\n  policy = 1 #!\n}\n", CodeConfig, "policy must be a string (in double quotes), not the number 1", 0},
		{"plugin missing none declared", "sector_size = \"32GiB\"\nprocessor \"pc1\" { #!\n}\n", CodeConfig, "declare one first with a plugin block", 0},
		{"weights as list", head + "arbiter {\n  weights = [1] #!\n}\n", CodeConfig, "weights must be a map", 0},

		// Sizes.
		{"decimal unit", head + proc("pc1", `memory_limit = "900GB" #!`), CodeConfig, "did you mean 900GiB?", 0},
		{"size without number", head + proc("pc1", `memory_limit = "lots" #!`), CodeConfig, `"lots" is not a size`, 0},
		{"size overflow", head + proc("pc1", `memory_limit = "99999999999TiB" #!`), CodeConfig, "too large", 0},
		{"size zero", head + proc("pc1", `memory_limit = "0GiB" #!`), CodeConfig, "limit of 0 would kill", 0},
		{"size negative number", head + proc("pc1", `memory_limit = -5 #!`), CodeConfig, "whole number of bytes", 0},
		{"sector size unsupported", "sector_size = \"16GiB\" #!\n", CodeConfig, "is not a size the proofs support", 0},
		{"sector size decimal unit", "sector_size = \"32GB\" #!\n", CodeConfig, "did you mean 32GiB?", 0},
		{"sector size missing", "plugin \"ffi\" {\n  path = \"x\"\n}\n", CodeConfig, `sector_size = "32GiB"`, 1},

		// Durations.
		{"duration words", head + proc("pc1", `timeout = "6 hours" #!`), CodeConfig, `"6 hours" is not a duration`, 0},
		{"duration negative", head + proc("pc1", `timeout = "-1h" #!`), CodeConfig, "is negative", 0},
		{"timeout zero", head + proc("pc1", `timeout = "0s" #!`), CodeConfig, "must be more than 0", 0},
		{"stagger bad", head + "stagger {\n  pc1 = \"30\" #!\n}\n", CodeConfig, `stagger.pc1: "30" is not a duration`, 0},
		{"wait_seed bad", head + "simulation {\n  wait_seed = \"80 min\" #!\n}\n", CodeConfig, "wait_seed", 0},
		{"durations value bad", head + "simulation {\n  durations = { pc1 = \"5x\" } #!\n}\n", CodeConfig, "durations.pc1", 0},

		// Duplicates.
		{"duplicate plugin", head + "plugin \"ffi\" { #!\n  path = \"y\"\n}\n", CodeConfig, `A plugin named "ffi" is already declared at`, 0},
		{"duplicate lock", head + "lock \"gpu1\" { #!\n}\n", CodeConfig, `A lock named "gpu1" is already declared`, 0},
		{"duplicate limits block", head + "limits {\n  pc1 = 1\n}\nlimits { #!\n  pc2 = 1\n}\n", CodeConfig, "only one limits block", 0},
		{"duplicate arbiter block", head + "arbiter {}\narbiter {} #!\n", CodeConfig, "Duplicate arbiter block", 0},
		{"duplicate attribute", head + proc("pc1", "concurrent = 1", "concurrent = 2 #!"), CodeConfig, "Attribute redefined", 0},
		{"duplicate limits entry", head + "limits {\n  pc1 = 1\n  pc1 = 2 #!\n}\n", CodeConfig, "Attribute redefined", 0},
		{"duplicate env key", head + proc("pc1", `env = { A = "1", A = "2" } #!`), CodeConfig, `env sets "A" twice`, 0},
		{"duplicate weights key", head + "arbiter {\n  weights = { c2 = 1, \"c2\" = 2 } #!\n}\n", CodeConfig, `weights sets "c2" twice`, 0},
		{"lock listed twice", head + proc("pc2", `locks = ["gpu1", "gpu1"] #!`), CodeConfig, `lists lock "gpu1" twice`, 0},

		// Unknown stages.
		{"processor stage", head + "processor \"pc3\" { #!\n  plugin = \"ffi\"\n}\n", CodeConfig, `"pc3" is not a stage. Did you mean`, 0},
		{"processor stage case", head + "processor \"PC1\" { #!\n  plugin = \"ffi\"\n}\n", CodeConfig, "Stages are tree_d, pc1, pc2, c1, c2, snap_encode, snap_prove, window_post, winning_post, unseal, add_pieces", 0},
		{"limits stage", head + "limits {\n  pc3 = 2 #!\n}\n", CodeConfig, `limits: "pc3" is not a stage`, 0},
		{"stagger stage", head + "stagger {\n  treed = \"1m\" #!\n}\n", CodeConfig, `Did you mean "tree_d"?`, 0},
		{"weights stage", head + "arbiter {\n  weights = { c3 = 1 } #!\n}\n", CodeConfig, `weights: "c3" is not a stage`, 0},
		{"durations stage", head + "simulation {\n  durations = { wait = \"1m\" } #!\n}\n", CodeConfig, `durations: "wait" is not a stage`, 0},

		// Ranges of numbers.
		{"concurrent zero", head + proc("pc1", "concurrent = 0 #!"), CodeConfig, "concurrent must be 1 or more, not 0", 0},
		{"capacity zero", head + "lock \"l\" {\n  capacity = 0 #!\n}\n", CodeConfig, "capacity must be 1 or more", 0},
		{"limit zero", head + "limits {\n  pc1 = 0 #!\n}\n", CodeConfig, "limits.pc1 must be 1 or more", 0},
		{"weight zero", head + "arbiter {\n  weights = { c2 = 0 } #!\n}\n", CodeConfig, "weights.c2 must be more than 0, not 0", 0},
		{"weight negative", head + "arbiter {\n  weights = { c2 = -2.5 } #!\n}\n", CodeConfig, "weights.c2 must be more than 0, not -2.5", 0},
		{"numa negative", head + proc("pc1", "numa_preferred = -1 #!"), CodeConfig, "numa_preferred must be 0 or more", 0},
		{"sealing_threads zero", head + "simulation {\n  sealing_threads = 0 #!\n}\n", CodeConfig, "sealing_threads must be 1 or more", 0},
		{"policy unknown", head + "arbiter {\n  policy = \"fiar\" #!\n}\n", CodeConfig, `Did you mean "fair"?`, 0},
		{"urgent stage unknown", head + "arbiter {\n  urgent = [\"winning_pots\"] #!\n}\n", CodeConfig, `urgent: "winning_pots" is not a stage. Did you mean "winning_post"?`, 0},
		{"urgent stage twice", head + "arbiter {\n  urgent = [\"window_post\", \"window_post\"] #!\n}\n", CodeConfig, `urgent lists "window_post" twice`, 0},
		{"urgent not a list", head + "arbiter {\n  urgent = \"window_post\" #!\n}\n", CodeConfig, "urgent must be a list", 0},
		{"urgent burst zero", head + "arbiter {\n  urgent = [\"window_post\"]\n  urgent_burst = 0 #!\n}\n", CodeConfig, "urgent_burst must be 1 or more, not 0", 0},
		{"preempt without urgent", head + "arbiter {\n  preempt = { gpu1 = \"30s\" } #!\n}\n", CodeConfig, "urgent names no stage", 0},
		{"preempt unknown lock", head + "arbiter {\n  urgent = [\"window_post\"]\n  preempt = { gpu3 = \"30s\" } #!\n}\n", CodeUnknownLock, `preempt names lock "gpu3"`, 0},
		{"preempt for a fair stage", head + "arbiter {\n  urgent = [\"window_post\"]\n  preempt = { gpu1 = { c2 = \"1s\" } } #!\n}\n", CodeConfig, "names c2, which urgent does not list", 0},
		{"preempt for an unknown stage", head + "arbiter {\n  urgent = [\"window_post\"]\n  preempt = { gpu1 = { winning_pots = \"1s\" } } #!\n}\n", CodeConfig, `Did you mean "winning_post"?`, 0},
		{"preempt bad duration", head + "arbiter {\n  urgent = [\"window_post\"]\n  preempt = { gpu1 = \"soon\" } #!\n}\n", CodeConfig, "preempt.gpu1", 0},

		// The simulation's post block.
		{"post unknown attribute", head + "simulation {\n  post {\n    window_post_evry = \"30m\" #!\n  }\n}\n", CodeConfig, `Did you mean "window_post_every"?`, 0},
		{"post every zero", head + "simulation {\n  post {\n    window_post_every = \"0s\" #!\n  }\n}\n", CodeConfig, "window_post_every must be more than 0", 0},
		{"post deadline bad", head + "simulation {\n  post {\n    winning_post_deadline = \"25 s\" #!\n  }\n}\n", CodeConfig, "winning_post_deadline", 0},
		{"post partitions negative", head + "simulation {\n  post {\n    window_post_partitions = -1 #!\n  }\n}\n", CodeConfig, "window_post_partitions must be 0 or more", 0},
		{"post wins too many", head + "simulation {\n  post {\n    winning_post_per_day = 3000 #!\n  }\n}\n", CodeConfig, "between 0 and 2880", 0},
		{"post wins as string", head + "simulation {\n  post {\n    winning_post_per_day = \"10\" #!\n  }\n}\n", CodeConfig, `winning_post_per_day must be a number (without quotes), not the string "10"`, 0},
		{"post twice", head + "simulation {\n  post {}\n  post {} #!\n}\n", CodeConfig, "only one post block", 0},
		{"post as attribute", head + "simulation {\n  post = {} #!\n}\n", CodeConfig, "", 0},

		// Plugin and names.
		{"sha256 short", head + "plugin \"p\" {\n  path = \"p\"\n  sha256 = \"abc\" #!\n}\n", CodeConfig, "64 hexadecimal digits, got 3", 0},
		{"sha256 not hex", head + "plugin \"p\" {\n  path = \"p\"\n  sha256 = \"" + strings.Repeat("g", 64) + "\" #!\n}\n", CodeConfig, "64 hexadecimal digits", 0},
		{"plugin path missing", head + "plugin \"p\" { #!\n}\n", CodeConfig, `Add path = "bin/plugins/p"`, 0},
		{"plugin path empty", head + "plugin \"p\" {\n  path = \"\" #!\n}\n", CodeConfig, "empty path", 0},
		{"processor plugin missing", head + "processor \"pc1\" { #!\n}\n", CodeConfig, `Add plugin = "NAME"`, 0},
		{"lock name with space", head + "lock \"gpu 3\" {} #!\n", CodeConfig, `lock name "gpu 3" is not usable`, 0},
		{"env name dash", head + proc("pc1", `env = { "A-B" = "1" } #!`), CodeConfig, `"A-B" is not a usable variable name`, 0},
		{"env name digit", head + proc("pc1", `env = { "1A" = "1" } #!`), CodeConfig, "not starting with a digit", 0},

		// cpusets.
		{"cpuset trailing comma", head + proc("pc1", `cpuset = "0-41," #!`), CodeConfig, "empty element", 0},
		{"cpuset backwards", head + proc("pc1", `cpuset = "41-0" #!`), CodeConfig, "runs backwards", 0},
		{"cpuset letters", head + proc("pc1", `cpuset = "a-b" #!`), CodeConfig, `"a" is not a cpu number`, 0},
		{"cpuset too big", head + proc("pc1", `cpuset = "0-99999" #!`), CodeConfig, "out of range", 0},
		{"cpuset stride", head + proc("pc1", `cpuset = "0-7:2/4" #!`), CodeConfig, "stride syntax", 0},
		{"cpuset empty", head + proc("pc1", `cpuset = "" #!`), CodeConfig, "empty cpuset", 0},

		// References inside the file.
		{"unknown plugin", head + "processor \"pc1\" {\n  plugin = \"fii\" #!\n}\n", CodeUnknownPlugin, `Did you mean "ffi"? Declare it with ` + "`plugin \"fii\"", 0},
		{"unknown plugin lists declared", head + "processor \"pc1\" {\n  plugin = \"zzz\" #!\n}\n", CodeUnknownPlugin, "declared plugins: ffi", 0},
		{"unknown lock", head + proc("pc2", `locks = ["gpu3"] #!`), CodeUnknownLock, "Declare it with `lock \"gpu3\" { capacity = 1 }` or fix the name; declared locks: gpu1, gpu2", 0},
		{"unknown lock none declared", "sector_size = \"32GiB\"\nplugin \"ffi\" {\n  path = \"x\"\n}\n" + proc("c2", `locks = ["gpu1"] #!`), CodeUnknownLock, "no locks are declared", 0},

		// Syntax.
		{"unclosed block", head + "processor \"pc1\" { #!\n  plugin = \"ffi\"\n", CodeConfig, "Unclosed configuration block", 0},
		{"unterminated string", head + proc("pc1", `cpuset = "0-3 #!`), CodeConfig, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := tt.line
			if line == 0 {
				line = markedLine(t, tt.src)
			}
			cfg, diags := Parse([]byte(tt.src), "test.hcl")
			if cfg != nil {
				t.Errorf("got a config despite errors")
			}
			if !diags.HasErrors() {
				t.Fatalf("no error; want %s at line %d", tt.code, line)
			}
			var found bool
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without Subject: %s: %s", d.Summary, d.Detail)
					continue
				}
				if CodeOf(d) == string(tt.code) && d.Subject.Start.Line == line &&
					strings.Contains(d.Summary+" "+d.Detail, tt.phrase) {
					found = true
				}
			}
			if !found {
				var buf bytes.Buffer
				_ = WriteDiagnostics(&buf, "test.hcl", []byte(tt.src), diags, false)
				t.Errorf("want a %s diagnostic on line %d containing %q; got:\n%s", tt.code, line, tt.phrase, buf.String())
			}
			// One mistake, one diagnostic: no cascade of follow-on noise.
			// An unclosed block is the exception hcl makes.
			if len(diags) != 1 && tt.name != "unterminated string" && tt.name != "unclosed block" {
				var buf bytes.Buffer
				_ = WriteDiagnostics(&buf, "test.hcl", []byte(tt.src), diags, false)
				t.Errorf("want exactly one diagnostic, got %d:\n%s", len(diags), buf.String())
			}
		})
	}
}

// TestParseReportsEveryError checks that decoding goes on after an error:
// a file with one mistake of each kind reports each, in file order.
func TestParseReportsEveryError(t *testing.T) {
	src, err := os.ReadFile("testdata/broken-many.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := Parse(src, "testdata/broken-many.hcl")
	if cfg != nil {
		t.Error("got a config despite errors")
	}
	type want struct {
		line int
		code Code
	}
	var got []want
	for _, d := range diags {
		got = append(got, want{d.Subject.Start.Line, Code(CodeOf(d))})
	}
	wantList := []want{
		{2, CodeConfig}, {3, CodeConfig}, {7, CodeConfig}, {8, CodeConfig}, {11, CodeConfig},
		{17, CodeConfig}, {18, CodeConfig}, {22, CodeConfig}, {26, CodeConfig}, {29, CodeConfig},
		{32, CodeConfig}, {33, CodeConfig}, {33, CodeConfig}, {37, CodeUnknownPlugin}, {38, CodeConfig},
		{39, CodeConfig}, {40, CodeConfig}, {41, CodeConfig}, {42, CodeConfig}, {48, CodeUnknownLock},
		{49, CodeConfig}, {49, CodeConfig}, {51, CodeConfig}, {54, CodeConfig}, {59, CodeConfig},
		{61, CodeConfig},
	}
	if len(got) != len(wantList) {
		t.Fatalf("got %d diagnostics %v, want %d %v", len(got), got, len(wantList), wantList)
	}
	for i := range got {
		if got[i] != wantList[i] {
			t.Errorf("diagnostic %d: got line %d code %s, want line %d code %s", i, got[i].line, got[i].code, wantList[i].line, wantList[i].code)
		}
	}
}

func TestBrokenFilesInTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/broken-*.hcl")
	if len(files) < 3 {
		t.Fatalf("want at least 3 broken configs in testdata, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, diags := Load(f)
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("want errors, got config=%v diags=%v", cfg != nil, diags)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	cfg, diags := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if cfg != nil || !diags.HasErrors() {
		t.Fatal("want an error for a missing file")
	}
	if CodeOf(diags[0]) != "config" || !strings.Contains(diags[0].Detail, "no such file") {
		t.Errorf("got %s: %s", CodeOf(diags[0]), diags[0].Detail)
	}
}

func TestParseDefaults(t *testing.T) {
	src := `sector_size = "2KiB"
plugin "mock" {
  path = "plugins/mock"
}
processor "pc1" {
  plugin = "mock"
}
lock "l" {}
`
	cfg, diags := Parse([]byte(src), "/etc/sealhost/config.hcl")
	if len(diags) != 0 {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
	p := cfg.Processors[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"sector size", cfg.SectorSize, SectorSize{Name: "2KiB", Bytes: 2048}},
		{"confine", cfg.Confine, true},
		{"policy", cfg.Arbiter.Policy, PolicyFair},
		{"weights", len(cfg.Arbiter.Weights), 0},
		{"limits", len(cfg.Limits), 0},
		{"stagger", len(cfg.Stagger), 0},
		{"simulation", cfg.Simulation == nil, true},
		{"plugin path", cfg.Plugins[0].Path, "/etc/sealhost/plugins/mock"},
		{"plugin args", len(cfg.Plugins[0].Args), 0},
		{"plugin sha256", cfg.Plugins[0].SHA256, ""},
		{"lock capacity", cfg.Locks[0].Capacity, 1},
		{"id", p.ID, "pc1.0"},
		{"concurrent", p.Concurrent, 1},
		{"inherit_env", p.InheritEnv, true},
		{"has cpus", p.HasCPUs, false},
		{"numa", p.NUMAPreferred == nil, true},
		{"locks", len(p.Locks), 0},
		{"env", len(p.Env), 0},
		{"memory", p.MemoryLimit, uint64(0)},
		{"timeout", p.Timeout, time.Duration(0)},
		{"cpus range is the block", p.CPUsRange, p.Range},
		{"file", cfg.File, "/etc/sealhost/config.hcl"},
		{"source", string(cfg.Source), src},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
	if p.Locks == nil || p.Env == nil || cfg.Limits == nil || cfg.Stagger == nil || cfg.Arbiter.Weights == nil {
		t.Error("empty collections must be non-nil so callers can range and index freely")
	}
}

func TestParseFull(t *testing.T) {
	sum := strings.Repeat("AB", 32)
	src := `sector_size = "64GiB"
confine     = false

plugin "ffi" {
  path   = "/opt/sealhost/ffi"
  args   = ["-v", "--mode=fast"]
  sha256 = "` + sum + `"
}
plugin "rel" {
  path = "../bin/rel"
}

limits {
  pc1    = 28
  tree_d = 4
}
stagger {
  pc1 = "30s"
  c2  = "1d2h"
}
lock "gpu1" {
  capacity = 2
}
arbiter {
  policy  = "greedy"
  weights = { pc2 = 1, c2 = 2.5 }
}

processor "pc1" {
  plugin         = "ffi"
  cpuset         = " 0-3, 8 ,9 "
  numa_preferred = 1
  concurrent     = 14
  locks          = ["gpu1"]
  env            = { FOO = "bar", CUDA_VISIBLE_DEVICES = 0, ON = true }
  inherit_env    = false
  memory_limit   = "900GiB"
  timeout        = "6h"
}
processor "c2" {
  plugin       = "rel"
  memory_limit = 1048576
}
processor "pc1" {
  plugin = "ffi"
  memory_limit = "512"
}

simulation {
  sealing_threads = 18
  durations       = { pc1 = "320m", c1 = "0s" }
}
`
	cfg, diags := Parse([]byte(src), "conf/sealhost.hcl")
	if len(diags) != 0 {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
	wd, _ := os.Getwd()
	p0, c2, p1 := cfg.Processors[0], cfg.Processors[1], cfg.Processors[2]
	checks := []struct {
		name      string
		got, want any
	}{
		{"sector size", cfg.SectorSize.Name, "64GiB"},
		{"sector range line", cfg.SectorRange.Start.Line, 1},
		{"confine", cfg.Confine, false},
		{"plugin abs path", cfg.Plugins[0].Path, "/opt/sealhost/ffi"},
		{"plugin rel path", cfg.Plugins[1].Path, filepath.Join(wd, "bin/rel")},
		{"plugin args", strings.Join(cfg.Plugins[0].Args, " "), "-v --mode=fast"},
		{"sha256 lower-cased", cfg.Plugins[0].SHA256, strings.ToLower(sum)},
		{"limit pc1", cfg.Limits[StagePC1], 28},
		{"limit tree_d", cfg.Limits[StageTreeD], 4},
		{"limit range line", cfg.LimitRanges[StagePC1].Start.Line, 14},
		{"stagger pc1", cfg.Stagger[StagePC1], 30 * time.Second},
		{"stagger days", cfg.Stagger[StageC2], 26 * time.Hour},
		{"capacity", cfg.Locks[0].Capacity, 2},
		{"policy", cfg.Arbiter.Policy, PolicyGreedy},
		{"weight c2", cfg.Arbiter.Weights[StageC2], 2.5},
		{"ids", p0.ID + " " + c2.ID + " " + p1.ID, "pc1.0 c2.0 pc1.1"},
		{"index", p1.Index, 1},
		{"cpus canonical", p0.CPUs.String(), "0-3,8-9"},
		{"has cpus", p0.HasCPUs, true},
		{"numa", *p0.NUMAPreferred, 1},
		{"concurrent", p0.Concurrent, 14},
		{"locks", strings.Join(p0.Locks, ","), "gpu1"},
		{"lock range line", p0.LockRanges[0].Start.Line, 34},
		{"env string", p0.Env["FOO"], "bar"},
		{"env number", p0.Env["CUDA_VISIBLE_DEVICES"], "0"},
		{"env bool", p0.Env["ON"], "true"},
		{"env range line", p0.EnvRanges["FOO"].Start.Line, 35},
		{"inherit_env", p0.InheritEnv, false},
		{"memory GiB", p0.MemoryLimit, uint64(900) << 30},
		{"memory bytes number", c2.MemoryLimit, uint64(1 << 20)},
		{"memory bytes string", p1.MemoryLimit, uint64(512)},
		{"timeout", p0.Timeout, 6 * time.Hour},
		{"cpus range line", p0.CPUsRange.Start.Line, 31},
		{"sim threads", cfg.Simulation.SealingThreads, 18},
		{"sim wait default", cfg.Simulation.WaitSeed, DefaultWaitSeed},
		{"sim pc1", cfg.Simulation.Durations[StagePC1], 320 * time.Minute},
		{"sim c1 zero", cfg.Simulation.Durations[StageC1], time.Duration(0)},
		{"sim only listed", len(cfg.Simulation.Durations), 2},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestRealConfigsDecode(t *testing.T) {
	cfg, diags := Load("../../../config.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]string{
		"pc1.0": "0-41", "pc1.1": "48-89",
		"pc2.0": "2,5,8,11,14,17,20,23", "pc2.1": "50,53,56,59,62,65,68,71",
		"c2.0": "2,5,8,11,14,17,20,23,26,29,32,35,42-47", "c2.1": "50,53,56,59,62,65,68,71,74,77,80,83,90-95",
	}
	if len(cfg.Processors) != len(want) {
		t.Fatalf("got %d processors, want %d", len(cfg.Processors), len(want))
	}
	all := cpuset.New()
	for _, p := range cfg.Processors {
		if p.CPUs.String() != want[p.ID] {
			t.Errorf("%s: cpus %s, want %s", p.ID, p.CPUs, want[p.ID])
		}
		all = all.Union(p.CPUs)
		for k := range p.Env {
			if k == "FIL_PROOFS_MAXIMIZE_CACHING" || k == "FIL_PROOFS_USE_GPU_COLUMN_BUILDER" {
				t.Errorf("%s sets %s, which has no effect and must be left out of config.hcl", p.ID, k)
			}
		}
	}
	// The spare cpus 38,41,86,89 of the seed's reading are spare only in
	// the busy sets package plan derives; every cpu is in some cpuset.
	if all.String() != "0-95" {
		t.Errorf("cpusets cover %s, want 0-95", all)
	}
	if cfg.Limits[StagePC1] != 28 || cfg.Limits[StagePC2] != 2 || cfg.Limits[StageC2] != 2 {
		t.Errorf("limits %v", cfg.Limits)
	}
	if len(cfg.Locks) != 2 || cfg.Locks[0].Name != "gpu1" || cfg.Locks[1].Name != "gpu2" {
		t.Errorf("locks %v", cfg.Locks)
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

func TestWriteDiagnosticsGolden(t *testing.T) {
	for _, color := range []bool{false, true} {
		name := "broken-many.txt"
		if color {
			name = "broken-many.color.txt"
		}
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile("testdata/broken-many.hcl")
			if err != nil {
				t.Fatal(err)
			}
			_, diags := Parse(src, "testdata/broken-many.hcl")
			var buf bytes.Buffer
			if err := WriteDiagnostics(&buf, "testdata/broken-many.hcl", src, diags, color); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run WriteDiagnostics ./host/internal/config -args -update)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s (rerun with -args -update if intended):\n%s", golden, buf.String())
			}
		})
	}
}

func TestWriteDiagnosticsFormat(t *testing.T) {
	src := []byte(head + proc("c2", `locks = ["gpu3"]`))
	_, diags := Parse(src, "config.hcl")
	other := &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No subject", Detail: "About the machine.", Extra: CodeCPUOverlap}
	diags = append(diags, other)
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, "config.hcl", src, diags, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Error: config.hcl:9,12-18: Unknown lock [unknown-lock]",
		`   9:   locks = ["gpu3"]`,
		"Warning: No subject [cpu-overlap]",
		"About the machine.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile("\x1b").MatchString(out) {
		t.Error("colour codes in plain output")
	}
}

func TestCodeOf(t *testing.T) {
	_, hclDiags := Parse([]byte("x = 1\n"), "t.hcl") // hcl's own diagnostics
	tests := []struct {
		name string
		d    *hcl.Diagnostic
		want string
	}{
		{"nil", nil, "config"},
		{"no extra", &hcl.Diagnostic{}, "config"},
		{"foreign extra", &hcl.Diagnostic{Extra: 42}, "config"},
		{"code", &hcl.Diagnostic{Extra: CodeUnknownLock}, "unknown-lock"},
		{"plan code", &hcl.Diagnostic{Extra: Code("memory-overcommit")}, "memory-overcommit"},
		{"wrapped", &hcl.Diagnostic{Extra: codedExtra{Code: CodeGPUNotPresent, inner: 42}}, "gpu-not-present"},
		{"from hcl", hclDiags[0], "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.d); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, ok := hclDiags[0].Extra.(Coder); !ok {
		t.Error("diagnostics from hcl must carry a code in Extra too")
	}
	// A code given to a diagnostic that already had an Extra keeps the old
	// one reachable.
	d := &hcl.Diagnostic{Extra: 42}
	withCode(hcl.Diagnostics{d}, CodeConfig)
	if inner, ok := hcl.DiagnosticExtra[int](d); !ok || inner != 42 {
		t.Errorf("wrapped extra lost: %v %v", inner, ok)
	}
}

// The urgent class is read whole, and the locks preempt names may be
// declared further down the file.
func TestParseUrgent(t *testing.T) {
	src := `sector_size = "32GiB"
plugin "ffi" {
  path = "bin/plugins/ffi"
}
arbiter {
  urgent       = ["winning_post", "window_post"]
  urgent_burst = 2
  preempt      = { gpu1 = "30s", gpu2 = { winning_post = "0s" } }
}
lock "gpu1" {}
lock "gpu2" {}
`
	cfg, diags := Parse([]byte(src), "config.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	a := cfg.Arbiter
	if !slices.Equal(a.Urgent, []Stage{"winning_post", "window_post"}) || a.UrgentBurst != 2 || a.Preempt["gpu1"] != 30*time.Second || len(a.Preempt) != 1 ||
		len(a.PreemptFor) != 1 || len(a.PreemptFor["gpu2"]) != 1 || a.PreemptFor["gpu2"]["winning_post"] != 0 {
		t.Fatalf("arbiter %+v", a)
	}
}
