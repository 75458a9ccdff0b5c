package suggest

import (
	"fmt"
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
		known := false
		for _, k := range config.Stages {
			known = known || k == st
		}
		if !known {
			return nil, fmt.Errorf("%q is not a stage: use tree_d, pc1, pc2, c1 or c2", name)
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
