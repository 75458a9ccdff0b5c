package suggest

import (
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
// value or an error, never a panic, and a duration accepted is one the
// written simulation block reads back the same.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"", "0,1", "pc1=320m,pc2=25m,c2=18m", "c2=90s", "pc1=1d2h", ",", "=", "pc1==1m", "1,,2", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseGPUs(s)
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
