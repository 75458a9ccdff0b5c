package damoclesconf

import (
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// want is one diagnostic a case expects: its code, severity and line.
type want struct {
	code Code
	sev  Severity
	line int
}

func translateOK(t *testing.T, src string) (*config.Config, Diagnostics) {
	t.Helper()
	res := Translate([]byte(src), Options{File: "w.toml", SectorSize: "32GiB"})
	if res.Diagnostics.HasErrors() {
		t.Fatalf("import failed:\n%s", diagText(res.Diagnostics, "w.toml", []byte(src)))
	}
	cfg, cd := config.Parse(res.HCL, "imported.hcl")
	if cd.HasErrors() || cfg == nil {
		t.Fatalf("written config does not load: %v\n%s", cd, res.HCL)
	}
	return cfg, res.Diagnostics
}

func hasDiag(ds Diagnostics, w want) bool {
	for _, d := range ds {
		if d.Code == w.code && d.Severity == w.sev && d.Pos.Line == w.line {
			return true
		}
	}
	return false
}

// TestRules: each translation rule, on a small worker config, gives the
// sealhost config it should and says so at the right line.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		toml  string
		diags []want
		check func(t *testing.T, cfg *config.Config)
	}{
		{
			name:  "undeclared lock is declared with capacity 1",
			toml:  "[processors.ext_locks]\ngpu1 = 1\n\n[[processors.pc2]]\nlocks = [\"gpu01\"]\n",
			diags: []want{{CodeUndeclaredLock, Warning, 5}},
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Locks) != 2 || cfg.Locks[1].Name != "gpu01" || cfg.Locks[1].Capacity != 1 {
					t.Errorf("locks %+v, want gpu1 and gpu01 of capacity 1", cfg.Locks)
				}
				if got := cfg.Processors[0].Locks; len(got) != 1 || got[0] != "gpu01" {
					t.Errorf("processor locks %v", got)
				}
			},
		},
		{
			name:  "a lock listed twice is taken once",
			toml:  "[processors.ext_locks]\ngpu = 2\n\n[[processors.c2]]\nlocks = [\"gpu\",\n \"gpu\"]\n",
			diags: []want{{CodeUndeclaredLock, Warning, 6}},
			check: func(t *testing.T, cfg *config.Config) {
				if got := cfg.Processors[0].Locks; len(got) != 1 {
					t.Errorf("locks %v, want gpu once", got)
				}
			},
		},
		{
			name:  "unknown keys are named, each at its line",
			toml:  "[procesors]\nx = 1\n\n[[processors.pc1]]\ncgroup.cpuset = \"0-3\"\ncgroup.cpu_set = \"4\"\nconcurent = 2\n",
			diags: []want{{CodeUnknownKey, Warning, 1}, {CodeUnknownKey, Warning, 6}, {CodeUnknownKey, Warning, 7}},
			check: func(t *testing.T, cfg *config.Config) {
				p := cfg.Processors[0]
				if p.CPUs.String() != "0-3" || p.Concurrent != 1 {
					t.Errorf("cpuset %s concurrent %d, want 0-3 and 1 (the typo ignored, as damocles did)", p.CPUs, p.Concurrent)
				}
			},
		},
		{
			name:  "obsolete and host-owned variables are dropped",
			toml:  "[[processors.pc2]]\nenvs = { FIL_PROOFS_USE_GPU_COLUMN_BUILDER = \"1\", VENUS_WORKER_NUMA_PREFERRED = \"1\", CUDA_VISIBLE_DEVICES = \"1\" }\n",
			diags: []want{{CodeObsoleteEnv, Warning, 2}, {CodeHostOwned, Warning, 2}},
			check: func(t *testing.T, cfg *config.Config) {
				env := cfg.Processors[0].Env
				if len(env) != 1 || env["CUDA_VISIBLE_DEVICES"] != "1" {
					t.Errorf("env %v, want only CUDA_VISIBLE_DEVICES", env)
				}
			},
		},
		{
			name:  "auto_restart false and stable_wait on the built-in processor",
			toml:  "[[processors.c2]]\nauto_restart = false\nstable_wait = \"20s\"\n",
			diags: []want{{CodeRestart, Warning, 2}, {CodeStableWait, Warning, 3}},
		},
		{
			name:  "auto_restart true is what sealhost does",
			toml:  "[processors.limitation.concurrent]\nc2 = 1\n[[processors.c2]]\nauto_restart = true\n",
			diags: []want{{CodeConcurrent, Info, 3}},
		},
		{
			name:  "inherit_envs false",
			toml:  "[[processors.c2]]\ninherit_envs = false\n",
			diags: []want{{CodeInheritEnv, Warning, 2}},
			check: func(t *testing.T, cfg *config.Config) {
				if cfg.Processors[0].InheritEnv {
					t.Error("inherit_env true, want false")
				}
			},
		},
		{
			name:  "concurrent unset and unbounded in damocles",
			toml:  "[[processors.pc2]]\ncgroup.cpuset = \"0-1\"\n",
			diags: []want{{CodeConcurrent, Warning, 1}},
			check: func(t *testing.T, cfg *config.Config) {
				if cfg.Processors[0].Concurrent != 1 {
					t.Errorf("concurrent %d, want 1", cfg.Processors[0].Concurrent)
				}
			},
		},
		{
			name:  "concurrent unset takes the smallest of limit and lock capacity",
			toml:  "[processors.limitation.concurrent]\npc2 = 4\n[processors.ext_locks]\ngpu = 3\n[[processors.pc2]]\nlocks = [\"gpu\"]\n",
			diags: []want{{CodeConcurrent, Info, 5}},
			check: func(t *testing.T, cfg *config.Config) {
				if cfg.Processors[0].Concurrent != 3 {
					t.Errorf("concurrent %d, want 3 (lock gpu's capacity)", cfg.Processors[0].Concurrent)
				}
			},
		},
		{
			name:  "an undeclared lock does not bound concurrency (damocles: no limit)",
			toml:  "[processors.limitation.concurrent]\npc2 = 2\n[[processors.pc2]]\nlocks = [\"gpu\"]\n",
			diags: []want{{CodeConcurrent, Info, 3}, {CodeUndeclaredLock, Warning, 4}},
			check: func(t *testing.T, cfg *config.Config) {
				if cfg.Processors[0].Concurrent != 2 {
					t.Errorf("concurrent %d, want 2 (the stage limit)", cfg.Processors[0].Concurrent)
				}
			},
		},
		{
			name:  "own binary runs under the bridge, default args written out",
			toml:  "[[processors.pc2]]\nbin = \"/opt/pc2\"\nstable_wait = \"1min 30s\"\nconcurrent = 1\n\n[[processors.pc2]]\nbin = \"/opt/pc2\"\nstable_wait = \"90s\"\nconcurrent = 1\n\n[[processors.c2]]\nbin = \"/opt/pc2\"\nargs = [\"run\", \"--gpu\"]\nconcurrent = 1\n",
			diags: []want{{CodeBridge, Info, 2}, {CodeStableWait, Warning, 3}, {CodeBridge, Info, 12}},
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Plugins) != 2 {
					t.Fatalf("plugins %+v, want one per distinct stage, binary, args and wait", cfg.Plugins)
				}
				wantArgs := [][]string{
					{"-stage", "pc2", "-stable-wait", "1m30s", "--", "/opt/pc2", "processor", "pc2"},
					{"-stage", "c2", "--", "/opt/pc2", "run", "--gpu"},
				}
				for i, p := range cfg.Plugins {
					if !strings.HasSuffix(p.Path, "/bin/plugins/damocles") || strings.Join(p.Args, " ") != strings.Join(wantArgs[i], " ") {
						t.Errorf("plugin %s: path %s args %q, want …/bin/plugins/damocles %q", p.Name, p.Path, p.Args, wantArgs[i])
					}
				}
				if cfg.Processors[0].Plugin != cfg.Processors[1].Plugin {
					t.Errorf("the two pc2 blocks use plugins %s and %s, want one", cfg.Processors[0].Plugin, cfg.Processors[1].Plugin)
				}
			},
		},
		{
			name:  "a block already running host processor is left out, and ids stay sealhost's",
			toml:  "[[processors.c2]]\nbin = \"/usr/local/bin/host\"\n\n[[processors.c2]]\nconcurrent = 1\ncgroup.cpuset = \"4-7\"\n",
			diags: []want{{CodeBridge, Warning, 2}},
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Processors) != 1 || cfg.Processors[0].ID != "c2.0" || cfg.Processors[0].CPUs.String() != "4-7" {
					t.Errorf("processors %+v, want the second block alone as c2.0", cfg.Processors)
				}
			},
		},
		{
			name:  "limits and staggers move only with their stage's processors",
			toml:  "[processors.limitation.concurrent]\npc1 = 2\nc1 = 3\n\n[processors.limitation.staggered]\npc1 = \"1h 5min\"\npc2 = \"5min\"\n\n[[processors.pc1]]\nconcurrent = 2\n",
			diags: []want{{CodeNotTranslated, Info, 3}, {CodeNotTranslated, Info, 7}},
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Limits) != 1 || cfg.Limits[config.StagePC1] != 2 {
					t.Errorf("limits %v, want pc1 = 2 only", cfg.Limits)
				}
				if len(cfg.Stagger) != 1 || cfg.Stagger[config.StagePC1] != 65*time.Minute {
					t.Errorf("stagger %v, want pc1 = 65m only", cfg.Stagger)
				}
			},
		},
		{
			name:  "a limit under a name no damocles stage has limits nothing",
			toml:  "[processors.limitation.concurrent]\npc3 = 2\n[processors.limitation.staggered]\npc_1 = \"1s\"\n[[processors.c2]]\nconcurrent = 1\n",
			diags: []want{{CodeUnknownKey, Warning, 2}, {CodeUnknownKey, Warning, 4}},
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Limits) != 0 || len(cfg.Stagger) != 0 {
					t.Errorf("limits %v stagger %v, want none", cfg.Limits, cfg.Stagger)
				}
			},
		},
		{
			name: "the older processors.limit",
			toml: "[processors.limit]\npc1 = 3\n\n[[processors.pc1]]\nconcurrent = 3\n",
			check: func(t *testing.T, cfg *config.Config) {
				if cfg.Limits[config.StagePC1] != 3 {
					t.Errorf("limits %v, want pc1 = 3", cfg.Limits)
				}
			},
		},
		{
			name:  "sections of the worker itself are notes, and sealing threads feed simulate",
			toml:  "[worker]\nname = \"w\"\n\n[[sealing_thread]]\nlocation = \"a\"\n\n[[sealing_thread]]\nlocation = \"b\"\n\n[[processors.c2]]\nconcurrent = 1\n",
			diags: []want{{CodeNotTranslated, Info, 1}, {CodeNotTranslated, Info, 4}},
			check: func(t *testing.T, cfg *config.Config) {
				if cfg.Simulation == nil || cfg.Simulation.SealingThreads != 2 {
					t.Errorf("simulation %+v, want sealing_threads 2", cfg.Simulation)
				}
			},
		},
		{
			name:  "stages sealhost does not run stay with damocles",
			toml:  "[[processors.sealing_daemons]]\nbin = \"/opt/d\"\n\n[[processors.transfer]]\nbin = \"/opt/t\"\n",
			diags: []want{{CodeUnsupportedStage, Warning, 1}, {CodeUnsupportedStage, Warning, 4}},
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Processors) != 0 {
					t.Errorf("processors %+v, want none", cfg.Processors)
				}
			},
		},
		{
			name:  "inline array of tables and quoted keys",
			toml:  "[processors]\npc2 = [ { cgroup = { cpuset = \"2,5,8\" }, envs = { \"CUDA_VISIBLE_DEVICES\" = \"0\" }, concurrent = 1 } ]\n",
			diags: []want{{CodeHostOwned, Info, 2}},
			check: func(t *testing.T, cfg *config.Config) {
				if p := cfg.Processors[0]; p.CPUs.String() != "2,5,8" || p.Env["CUDA_VISIBLE_DEVICES"] != "0" {
					t.Errorf("processor %+v", p)
				}
			},
		},
		{
			name:  "strings needing escapes in HCL",
			toml:  "[[processors.c2]]\nbin = '/opt/${HOME}/c2 \"q\"'\nconcurrent = 1\nenvs = { X = \"%{a} $${b} \\\\ \\n\" }\n",
			diags: []want{{CodeBridge, Info, 2}},
			check: func(t *testing.T, cfg *config.Config) {
				if got := cfg.Plugins[0].Args[3]; got != `/opt/${HOME}/c2 "q"` {
					t.Errorf("bin %q", got)
				}
				if got := cfg.Processors[0].Env["X"]; got != "%{a} $${b} \\ \n" {
					t.Errorf("env X %q", got)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds := translateOK(t, tc.toml)
			for _, w := range tc.diags {
				if !hasDiag(ds, w) {
					t.Errorf("no %s %s at line %d:\n%s", w.sev, w.code, w.line, diagText(ds, "w.toml", []byte(tc.toml)))
				}
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

// TestErrors: what damocles would refuse, or sealhost cannot express, is an
// error at its line, and nothing is written.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		line       int
		says       string
	}{
		{"not TOML", "[processors]\npc1 = [\n", 2, "Not valid TOML"},
		{"repeated key", "[[processors.pc1]]\nconcurrent = 1\nconcurrent = 2\n", 3, "Not valid TOML"},
		{"processors not a table", "processors = 1\n", 1, "a table"},
		{"stage not an array of tables", "[processors.pc1]\nconcurrent = 1\n", 1, "array of tables"},
		{"string where damocles wants a number", "[[processors.pc1]]\nconcurrent = \"14\"\n", 2, "whole number"},
		{"negative numa node", "[[processors.pc1]]\nnuma_preferred = -1\n", 2, "whole number"},
		{"concurrent 0", "[[processors.pc1]]\nconcurrent = 0\n", 2, "never start"},
		{"lock capacity 0", "[processors.ext_locks]\ngpu = 0\n", 2, "forever"},
		{"stage limit 0", "[processors.limitation.concurrent]\npc2 = 0\n[[processors.pc2]]\n", 2, "never run"},
		{"bad cpuset", "[[processors.pc2]]\ncgroup.cpuset = \"3-1\"\n", 2, "backwards"},
		{"empty cpuset", "[[processors.pc2]]\ncgroup.cpuset = \"\"\n", 2, "runs nowhere"},
		{"bad duration", "[processors.limitation.staggered]\npc1 = \"5\"\n", 2, "needs a unit"},
		{"zero stable_wait", "[[processors.pc2]]\nbin = \"/x\"\nstable_wait = \"0s\"\n", 3, "no time"},
		{"env value not a string", "[[processors.c2]]\nenvs = { CUDA_VISIBLE_DEVICES = 1 }\n", 2, "a string"},
		{"env name unusable", "[[processors.c2]]\nenvs = { \"A-B\" = \"1\" }\n", 2, "not a usable variable name"},
		{"lock name unusable", "[[processors.c2]]\nlocks = [\"gpu 1\"]\n", 2, "lock names"},
		{"empty bin", "[[processors.c2]]\nbin = \"\"\n", 2, "empty path"},
		{"multicore SDR without producers", "[[processors.pc1]]\nenvs = { FIL_PROOFS_USE_MULTICORE_SDR = \"1\", FIL_PROOFS_MULTICORE_SDR_PRODUCERS = \"0\" }\n", 2, "hangs pc1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Translate([]byte(tc.toml), Options{File: "w.toml", SectorSize: "32GiB"})
			if res.HCL != nil {
				t.Errorf("a config was written:\n%s", res.HCL)
			}
			text := diagText(res.Diagnostics, "w.toml", []byte(tc.toml))
			for _, d := range res.Diagnostics {
				if d.Severity == Error && d.Pos.Line == tc.line && strings.Contains(d.Summary+" "+d.Detail, tc.says) {
					return
				}
			}
			t.Errorf("no error at line %d saying %q:\n%s", tc.line, tc.says, text)
		})
	}
}

func TestSectorSize(t *testing.T) {
	for _, tc := range []struct {
		name, toml, flag, want string
		sev                    Severity
		fails                  bool
	}{
		{"flag", "", "64GiB", "64GiB", Info, false},
		{"bad flag", "", "32GB", "", Error, true},
		{"one allowed size", "[sealing]\nallowed_sizes = [\"64GiB\"]\n", "", "64GiB", Info, false},
		{"several allowed sizes", "[sealing]\nallowed_sizes = [\"32GiB\", \"64GiB\"]\n", "", "32GiB", Warning, false},
		{"not said", "", "", "32GiB", Warning, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Translate([]byte(tc.toml+"[[processors.c2]]\nconcurrent = 1\n"), Options{SectorSize: tc.flag})
			if tc.fails {
				if !res.Diagnostics.HasErrors() {
					t.Fatal("no error")
				}
				return
			}
			cfg, cd := config.Parse(res.HCL, "x.hcl")
			if cd.HasErrors() {
				t.Fatal(cd)
			}
			if cfg.SectorSize.Name != tc.want {
				t.Errorf("sector_size %s, want %s", cfg.SectorSize.Name, tc.want)
			}
			for _, d := range res.Diagnostics {
				if d.Code == CodeSectorSize && d.Severity != tc.sev {
					t.Errorf("sector-size diagnostic is %s, want %s", d.Severity, tc.sev)
				}
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"5s", 5 * time.Second, ""},
		{"2min", 2 * time.Minute, ""},
		{"1h 30m", 90 * time.Minute, ""},
		{"1hour30min", 90 * time.Minute, ""},
		{" 20 min 17 nsec ", 20*time.Minute + 17, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"2days", 48 * time.Hour, ""},
		{"1w", 7 * 24 * time.Hour, ""},
		{"1M", 2630016 * time.Second, ""},
		{"", 0, "empty"},
		{"5", 0, "needs a unit"},
		{"5 parsecs", 0, "unknown unit"},
		{"-5s", 0, "expected a number"},
		{"1.5h", 0, "unexpected \".\""},
		{"99999999999999999999s", 0, "too large"},
		{"300y", 0, "too long"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseHumanDuration(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			// What is written reads back as the same duration.
			back, err := config.ParseDuration(formatDuration(got))
			if err != nil || back != got {
				t.Errorf("formatDuration %q reads back as %v, %v", formatDuration(got), back, err)
			}
		})
	}
}

// TestGroupByLock: processors sharing a lock are written together, and a
// stage's processors keep their file order (so their ids).
func TestGroupByLock(t *testing.T) {
	mk := func(stage config.Stage, id string, locks ...string) *rawProc {
		return &rawProc{stage: stage, locks: locks, block: &procBlock{id: id}}
	}
	for _, tc := range []struct {
		name string
		in   []*rawProc
		want string
	}{
		{"plan B", []*rawProc{mk("pc1", "pc1.0"), mk("pc1", "pc1.1"), mk("pc2", "pc2.0", "g1"), mk("pc2", "pc2.1", "g2"), mk("c2", "c2.0", "g1"), mk("c2", "c2.1", "g2")},
			"pc1.0 pc1.1 pc2.0 c2.0 pc2.1 c2.1"},
		{"same stage keeps its order", []*rawProc{mk("pc2", "pc2.0", "x"), mk("pc2", "pc2.1"), mk("pc2", "pc2.2", "x")},
			"pc2.0 pc2.1 pc2.2"},
		{"no locks", []*rawProc{mk("c2", "c2.0"), mk("pc2", "pc2.0")}, "c2.0 pc2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ids []string
			for _, b := range groupByLock(tc.in) {
				ids = append(ids, b.id)
			}
			if got := strings.Join(ids, " "); got != tc.want {
				t.Errorf("order %s, want %s", got, tc.want)
			}
		})
	}
}
