package config

import (
	"strings"
	"testing"
	"time"
)

// Every stage labels a processor block and takes limits and stagger, with
// the same attributes as the sealing stages.
func TestEveryStageLabelsAProcessor(t *testing.T) {
	if len(Stages) != 11 || len(SealingStages) != 5 {
		t.Fatalf("Stages %v, SealingStages %v: want 11 and 5", Stages, SealingStages)
	}
	for i, st := range SealingStages {
		if Stages[i] != st {
			t.Fatalf("Stages does not start with the sealing stages in order: %v", Stages)
		}
	}
	for _, st := range Stages {
		t.Run(string(st), func(t *testing.T) {
			src := head + proc(string(st), `cpuset = "0-3"`, "concurrent = 2", `locks = ["gpu1"]`, `env = { CUDA_VISIBLE_DEVICES = "0" }`) +
				"limits {\n  " + string(st) + " = 1\n}\nstagger {\n  " + string(st) + " = \"30s\"\n}\n"
			cfg, diags := Parse([]byte(src), "/etc/sealhost/config.hcl")
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", diags)
			}
			p := cfg.Processors[0]
			if p.Stage != st || p.ID != string(st)+".0" || p.Concurrent != 2 || strings.Join(p.Locks, ",") != "gpu1" || p.CPUs.String() != "0-3" {
				t.Errorf("processor = %+v", p)
			}
			if cfg.Limits[st] != 1 || cfg.Stagger[st] != 30*time.Second {
				t.Errorf("limits %v, stagger %v", cfg.Limits, cfg.Stagger)
			}
		})
	}
	t.Run("misspelt", func(t *testing.T) {
		_, diags := Parse([]byte(head+proc("window_pots")), "/etc/sealhost/config.hcl")
		if !diags.HasErrors() || !strings.Contains(diags.Error(), `Did you mean "window_post"?`) {
			t.Fatalf("diagnostics = %v, want a suggestion of window_post", diags)
		}
	})
}

func TestServedBy(t *testing.T) {
	got := ServedBy([]Processor{{Stage: StageWindowPoSt, ID: "window_post.0"}, {Stage: StagePC1, ID: "pc1.0"},
		{Stage: StageWindowPoSt, ID: "window_post.1"}, {Stage: StageC2, ID: "c2.0"}})
	if want := "pc1: pc1.0; c2: c2.0; window_post: window_post.0, window_post.1"; strings.Join(got, "; ") != want {
		t.Errorf("ServedBy = %q, want %q", strings.Join(got, "; "), want)
	}
	if got := ServedBy(nil); len(got) != 0 {
		t.Errorf("ServedBy(nil) = %q", got)
	}
}
