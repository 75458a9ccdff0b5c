package suggest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// ParseGPUs reads -gpus: a comma list of GPU indices ("0,1"); "" means
// every GPU (nil). Each index appears once.
func ParseGPUs(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := []int{}
	seen := map[int]bool{}
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > 1<<16 {
			return nil, fmt.Errorf("%q is not a GPU index (a whole number, as `host topology` lists them)", tok)
		}
		if seen[n] {
			return nil, fmt.Errorf("GPU %d is named twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// ParseDurations reads -durations: stage=duration pairs separated by
// commas ("pc1=320m,pc2=25m,c2=18m"), durations as config writes them.
func ParseDurations(s string) (map[config.Stage]time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := map[config.Stage]time.Duration{}
	for _, pair := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, fmt.Errorf("%q is not stage=duration (e.g. pc1=320m)", pair)
		}
		st := config.Stage(strings.TrimSpace(name))
		if !slices.Contains(config.Stages, st) {
			return nil, fmt.Errorf("%q is not a stage: use one of %s", name, stageList())
		}
		if _, dup := out[st]; dup {
			return nil, fmt.Errorf("%s is given twice", st)
		}
		d, err := config.ParseDuration(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", st, err)
		}
		if d < time.Second || d%time.Second != 0 || d > 30*24*time.Hour {
			return nil, fmt.Errorf("%s=%s: want whole seconds, from 1s to 30d", st, val)
		}
		out[st] = d
	}
	return out, nil
}

// stageList is every stage -durations accepts, in config.Stages order:
// any stage a processor may serve has a duration the simulator reads
// (window_post and winning_post matter with -post).
func stageList() string {
	names := make([]string, len(config.Stages))
	for i, st := range config.Stages {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// postKinds are -post's words and the stages they add, in the order the
// result lists them.
var postKinds = []struct {
	word  string
	stage config.Stage
}{{"window", config.StageWindowPoSt}, {"winning", config.StageWinningPoSt}}

// postUsage is the fix every -post error ends with.
const postUsage = "give window, winning, window,winning or all (or none)"

// ParsePoSt reads -post: which PoSt stages every candidate also serves.
// "" and "none" add none (nil); "all" is both; otherwise a comma list of
// window and winning, each once. The stages come back in config.Stages
// order whatever order they were typed in.
func ParsePoSt(s string) ([]config.Stage, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return []config.Stage{config.StageWindowPoSt, config.StageWinningPoSt}, nil
	}
	want := map[config.Stage]bool{}
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		var st config.Stage
		for _, k := range postKinds {
			if tok == k.word {
				st = k.stage
			}
		}
		switch {
		case st != "":
		case tok == "all" || tok == "none":
			return nil, fmt.Errorf("%q cannot be combined with other words in %q: %s", tok, s, postUsage)
		case tok == string(config.StageWindowPoSt) || tok == string(config.StageWinningPoSt):
			return nil, fmt.Errorf("%q is the stage's name; -post takes %q: %s", tok, strings.TrimSuffix(tok, "_post"), postUsage)
		case tok == "":
			return nil, fmt.Errorf("%q has an empty item: %s", s, postUsage)
		default:
			return nil, fmt.Errorf("%q is not a PoSt kind: %s", tok, postUsage)
		}
		if want[st] {
			return nil, fmt.Errorf("%s is named twice in %q: %s", strings.TrimSuffix(string(st), "_post"), s, postUsage)
		}
		want[st] = true
	}
	var out []config.Stage
	for _, k := range postKinds {
		if want[k.stage] {
			out = append(out, k.stage)
		}
	}
	return out, nil
}
