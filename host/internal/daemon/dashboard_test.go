package daemon

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestMetricsFromTheStart: before any task ran, every labelled series a
// dashboard or alert reads exists at zero — failures per reason and
// processor, durations, waits, lock waits and holds — and every metric the
// shipped Grafana dashboard (docs/grafana-sealhost.json) queries is one the
// host exports.
func TestMetricsFromTheStart(t *testing.T) {
	h := startHost(t, "-duration 0s", pipelineConfig, hostOptions{metrics: true})
	text := scrape(t, h)
	for _, want := range []string{
		`sealhost_tasks_failed_total{processor="pc2.0",reason="plugin_died",stage="pc2"} 0`,
		`sealhost_tasks_failed_total{processor="c2.0",reason="timeout",stage="c2"} 0`,
		`sealhost_tasks_failed_total{processor="pc1.1",reason="cancelled",stage="pc1"} 0`,
		`sealhost_tasks_failed_total{processor="tree_d.0",reason="plugin_error",stage="tree_d"} 0`,
		`sealhost_tasks_finished_total{processor="c1.0",stage="c1"} 0`,
		`sealhost_task_duration_seconds_count{processor="pc1.0",stage="pc1"} 0`,
		`sealhost_task_wait_seconds_count{stage="c2"} 0`,
		`sealhost_lock_wait_seconds_count{stage="pc2"} 0`,
		`sealhost_lock_hold_seconds_count{stage="c2"} 0`,
		`sealhost_plugin_oom_kills_total{processor="c2.0"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no %s at start", want)
		}
	}

	exported := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = true
			if f[3] == "histogram" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					exported[f[2]+s] = true
				}
			}
		}
	}
	b, err := os.ReadFile("../../../docs/grafana-sealhost.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("docs/grafana-sealhost.json: %v", err)
	}
	name := regexp.MustCompile(`sealhost_[a-z_]+`)
	queried := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query") {
					for _, n := range name.FindAllString(s, -1) {
						queried[n] = true
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(queried) < 8 {
		t.Fatalf("the dashboard queries only %v", queried)
	}
	var missing []string
	for n := range queried {
		if !exported[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/grafana-sealhost.json queries metrics the host does not export: %v", missing)
	}
}
