package config

import (
	"testing"
	"time"
)

func TestPostBlock(t *testing.T) {
	for _, tc := range []struct {
		name, block string
		want        *PoSt // Range not compared
	}{
		{"none", "simulation {}\n", nil},
		{"empty takes the defaults", "simulation {\n  post {}\n}\n", &PoSt{
			WindowEvery: 30 * time.Minute, WindowDeadline: 30 * time.Minute, WindowPartitions: 1,
			WinningPerDay: 10, WinningDeadline: 25 * time.Second}},
		{"every attribute", "simulation {\n  post {\n    window_post_every = \"1h\"\n    window_post_deadline = \"20m\"\n    window_post_partitions = 3\n    winning_post_per_day = 0.5\n    winning_post_deadline = \"10s\"\n  }\n}\n", &PoSt{
			WindowEvery: time.Hour, WindowDeadline: 20 * time.Minute, WindowPartitions: 3,
			WinningPerDay: 0.5, WinningDeadline: 10 * time.Second}},
		{"both off", "simulation {\n  post {\n    window_post_partitions = 0\n    winning_post_per_day = 0\n  }\n}\n", &PoSt{
			WindowEvery: 30 * time.Minute, WindowDeadline: 30 * time.Minute, WindowPartitions: 0,
			WinningPerDay: 0, WinningDeadline: 25 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := Parse([]byte(head+tc.block), "post.hcl")
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got := cfg.Simulation.Post
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("post %+v, want %+v", got, tc.want)
			}
			if got == nil {
				return
			}
			if got.Range.Start.Line != 8 {
				t.Errorf("range line %d, want 8 (the post block's header)", got.Range.Start.Line)
			}
			g := *got
			g.Range = tc.want.Range
			if g != *tc.want {
				t.Errorf("post %+v, want %+v", g, *tc.want)
			}
		})
	}
}
