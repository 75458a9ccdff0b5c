package suggest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		gpus, durations string
		wantGPUs        []int
		want            map[config.Stage]time.Duration
		err             string
	}{
		{gpus: "", durations: ""},
		{gpus: "0, 1", durations: "pc1=320m, pc2=25m,c2=18m", wantGPUs: []int{0, 1},
			want: map[config.Stage]time.Duration{config.StagePC1: 320 * time.Minute, config.StagePC2: 25 * time.Minute, config.StageC2: 18 * time.Minute}},
		{gpus: "1,1", err: "GPU 1 is named twice"},
		{gpus: "gpu0", err: `"gpu0" is not a GPU index`},
		{gpus: "-1", err: `"-1" is not a GPU index`},
		{durations: "pc1", err: `"pc1" is not stage=duration`},
		{durations: "pc3=1m", err: `"pc3" is not a stage`},
		{durations: "pc1=1m,pc1=2m", err: "pc1 is given twice"},
		{durations: "pc1=soon", err: "pc1: "},
		{durations: "c2=0s", err: "want whole seconds, from 1s to 30d"},
		{durations: "c2=31d", err: "want whole seconds, from 1s to 30d"},
	} {
		t.Run(tc.gpus+"|"+tc.durations, func(t *testing.T) {
			g, gerr := ParseGPUs(tc.gpus)
			d, derr := ParseDurations(tc.durations)
			err := gerr
			if err == nil {
				err = derr
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(g) != len(tc.wantGPUs) || len(d) != len(tc.want) {
				t.Fatalf("got %v %v", g, d)
			}
			for i := range g {
				if g[i] != tc.wantGPUs[i] {
					t.Fatalf("gpus %v", g)
				}
			}
			for k, v := range tc.want {
				if d[k] != v {
					t.Fatalf("durations %v", d)
				}
			}
		})
	}
}

// FuzzParseFlags: whatever the operator types, the parsers answer with a
// value or an error, never a panic, a duration accepted is one the
// written simulation block reads back the same, and -post's answer is
// PoSt stages, each once.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"", "0,1", "pc1=320m,pc2=25m,c2=18m", "c2=90s", "pc1=1d2h", ",", "=", "pc1==1m", "1,,2", "99999999999999999999"} {
		f.Add(s)
	}
	for _, s := range []string{"all", "none", "window,winning", "winning, window", "window,window", "window_post", "all,window"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseGPUs(s)
		if kinds, err := ParsePoSt(s); err == nil {
			// What -post accepts is PoSt stages, each once, in
			// config.Stages order: what addPoSt and the ranking rely on.
			for i, st := range kinds {
				if !isPoSt(st) || (i > 0 && slices.Index(config.Stages, kinds[i-1]) >= slices.Index(config.Stages, st)) {
					t.Fatalf("ParsePoSt(%q) = %v", s, kinds)
				}
			}
		}
		d, err := ParseDurations(s)
		if err != nil {
			return
		}
		for st, v := range d {
			back, err := config.ParseDuration(formatDuration(v))
			if err != nil || back != v {
				t.Fatalf("%s=%v written as %q reads back as %v, %v", st, v, formatDuration(v), back, err)
			}
		}
	})
}

func TestParsePoSt(t *testing.T) {
	window, winning := config.StageWindowPoSt, config.StageWinningPoSt
	for _, tc := range []struct {
		in   string
		want []config.Stage
		err  string
	}{
		{in: ""},
		{in: "none"},
		{in: " none "},
		{in: "all", want: []config.Stage{window, winning}},
		{in: "window", want: []config.Stage{window}},
		{in: "winning", want: []config.Stage{winning}},
		{in: "window,winning", want: []config.Stage{window, winning}},
		{in: "winning, window", want: []config.Stage{window, winning}},
		{in: "window,window", err: `window is named twice in "window,window"`},
		{in: "windows", err: `"windows" is not a PoSt kind: give window, winning, window,winning or all (or none)`},
		{in: "Window", err: `"Window" is not a PoSt kind`},
		{in: "window_post", err: `"window_post" is the stage's name; -post takes "window"`},
		{in: "winning_post,window", err: `-post takes "winning"`},
		{in: "all,window", err: `"all" cannot be combined`},
		{in: "window,none", err: `"none" cannot be combined`},
		{in: "window,", err: "has an empty item"},
		{in: ",", err: "has an empty item"},
		{in: "true", err: `"true" is not a PoSt kind`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePoSt(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParsePoSt(%q) = %v, %v; want the error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ParsePoSt(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestParseDurationsNamesEveryStage: -durations takes every stage config
// knows (window_post and winning_post matter with -post), and the error
// for one it does not know lists exactly those, so the list cannot fall
// behind config.Stages again.
func TestParseDurationsNamesEveryStage(t *testing.T) {
	_, err := ParseDurations("pc9=1m")
	if err == nil {
		t.Fatal("pc9 accepted")
	}
	var names []string
	for _, st := range config.Stages {
		names = append(names, string(st))
		t.Run(string(st), func(t *testing.T) {
			d, err := ParseDurations(string(st) + "=90s")
			if err != nil || d[st] != 90*time.Second {
				t.Fatalf("%s=90s: %v, %v", st, d, err)
			}
		})
	}
	want := `"pc9" is not a stage: use one of ` + strings.Join(names, ", ")
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
