package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	testScriptCmds["jsonkeys"] = cmdJSONKeys
}

// cmdJSONKeys checks that a file holds one JSON object with the given
// top-level keys:
//
//	jsonkeys out.json finished sectors_per_day timeline
func cmdJSONKeys(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: jsonkeys FILE [key...]")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &obj); err != nil {
		ts.Fatalf("%s is not a JSON object: %v", args[0], err)
	}
	for _, k := range args[1:] {
		if _, ok := obj[k]; !ok {
			ts.Fatalf("%s has no key %q", args[0], k)
		}
	}
}

// simOut is the part of `host simulate -json` this test reads.
type simOut struct {
	Finished int `json:"finished"`
	Timeline []struct {
		Minute   int            `json:"minute"`
		Finished int            `json:"finished"`
		Waiting  map[string]int `json:"waiting"`
	} `json:"timeline"`
	Stages map[string]struct {
		WaitMaxMinutes float64 `json:"wait_max_minutes"`
	} `json:"stages"`
}

// TestSimulateStarvationCLI runs `host simulate` on the seed's Plan B on the
// seed machine, with sealcalc's example durations, under greedy and fair,
// and reads the answer the three ways an operator would: JSON, text and
// SVG. Under greedy c2's backlog climbs for a day before c2 first runs;
// under fair it stays within a few tasks.
func TestSimulateStarvationCLI(t *testing.T) {
	cfg := filepath.Join("internal", "simulate", "testdata", "plan-b-sealcalc.hcl")
	machine := filepath.Join("..", "testdata", "machines", "seed.json")
	dir := t.TempDir()
	backlog := map[string][]int{}
	for _, policy := range []string{"greedy", "fair"} {
		var out, errOut bytes.Buffer
		args := []string{"simulate", "-config", cfg, "-topology", machine, "-for", "4d", "-step", "2h", "-policy", policy, "-json"}
		if rc := hostMain(args, &out, &errOut); rc != 0 {
			t.Fatalf("%v: exit %d: %s", args, rc, errOut.String())
		}
		var res simOut
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Timeline {
			backlog[policy] = append(backlog[policy], p.Waiting["c2"])
		}

		// Text: the timeline's WAIT c2 column holds the same numbers.
		out.Reset()
		svgPath := filepath.Join(dir, policy+".svg")
		args = append(args[:len(args)-1], "-svg", svgPath, "-timeline")
		if rc := hostMain(args, &out, &errOut); rc != 0 {
			t.Fatalf("%v: exit %d: %s", args, rc, errOut.String())
		}
		var textBacklog []int
		row := regexp.MustCompile(`^ +\d+ +[\d.]+ +\d+( +\d+)+ *$`)
		for _, line := range strings.Split(out.String(), "\n") {
			if row.MatchString(line) {
				f := strings.Fields(line)
				n, _ := strconv.Atoi(f[len(f)-1]) // WAIT c2 is the last column
				textBacklog = append(textBacklog, n)
			}
		}
		if len(textBacklog) != len(backlog[policy]) {
			t.Fatalf("%s: text timeline has %d rows, JSON %d", policy, len(textBacklog), len(backlog[policy]))
		}
		for i := range textBacklog {
			if textBacklog[i] != backlog[policy][i] {
				t.Fatalf("%s: row %d: text says %d c2 waiting, JSON %d", policy, i, textBacklog[i], backlog[policy][i])
			}
		}
		svg, err := os.ReadFile(svgPath)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("gpu1")) || !bytes.Contains(svg, []byte("hours")) {
			t.Fatalf("%s: the SVG lacks its lock band or time axis", policy)
		}
	}
	// Timeline points every 2 h: index 12 is the end of the first day.
	climb := backlog["greedy"][:13]
	for i := 1; i < len(climb); i++ {
		if climb[i] < climb[i-1] {
			t.Fatalf("greedy: c2 backlog fell during the first day: %v", climb)
		}
	}
	if climb[12] < 50 {
		t.Fatalf("greedy: c2 backlog after a day is %d, want a pile-up: %v", climb[12], climb)
	}
	for i, n := range backlog["fair"] {
		if n > 4 {
			t.Fatalf("fair: %d c2 tasks waiting at point %d: %v", n, i, backlog["fair"])
		}
	}
}
