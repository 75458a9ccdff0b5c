package suggest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const machines = "../../../testdata/machines"

func machine(t testing.TB, name string) *topology.Machine {
	t.Helper()
	m, err := topology.Load(filepath.Join(machines, name))
	if err != nil {
		t.Fatal(err)
	}
	// Name it as an operator would from the repository's root, so the
	// golden files do not depend on where the test runs.
	m.Source = "testdata/machines/" + name
	return m
}

func runSeed(t testing.TB) *Result {
	t.Helper()
	res, err := Run(Request{Machine: machine(t, "seed.json"), SectorSize: "32GiB", Spare: 4})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./host/internal/suggest -update and review the diff.\ngot:\n%s", path, got)
	}
}

// TestSeedGolden pins the whole answer on the seed machine: the text, and
// each candidate's file. Regenerate with -update and review the diff.
func TestSeedGolden(t *testing.T) {
	res := runSeed(t)
	var text bytes.Buffer
	if err := WriteText(&text, res); err != nil {
		t.Fatal(err)
	}
	golden(t, "seed.txt", text.Bytes())
	for _, c := range res.Candidates {
		golden(t, "seed-"+string(c.Strategy)+".hcl", []byte(c.HCL))
	}
}

// shape is what makes two configs the same layout: everything but
// comments and plugin paths; weights of 1 are the default, left out.
type shape struct {
	SectorSize string
	Limits     map[config.Stage]int
	Locks      map[string]int
	Policy     config.Policy
	Weights    map[config.Stage]float64
	Processors []procShape
}

type procShape struct {
	ID, CPUs   string
	NUMA       int
	Concurrent int
	Locks      []string
	Env        map[string]string
}

// obsolete are env variables rust-fil-proofs no longer reads (plan's
// obsolete-env): the seed's verbatim TOML sets them, suggest leaves them out.
var obsolete = map[string]bool{"FIL_PROOFS_MAXIMIZE_CACHING": true, "FIL_PROOFS_USE_GPU_COLUMN_BUILDER": true}

// shapeOf reads a config's shape, processors in id order (files may order
// their blocks differently), obsolete env left out.
func shapeOf(c *config.Config) shape {
	s := shape{SectorSize: c.SectorSize.Name, Limits: c.Limits, Locks: map[string]int{}, Policy: c.Arbiter.Policy,
		Weights: map[config.Stage]float64{}}
	if s.Policy == "" {
		s.Policy = config.PolicyFair
	}
	for st, w := range c.Arbiter.Weights {
		if w != 1 {
			s.Weights[st] = w
		}
	}
	for _, l := range c.Locks {
		s.Locks[l.Name] = l.Capacity
	}
	for _, p := range c.Processors {
		ps := procShape{ID: p.ID, CPUs: p.CPUs.String(), NUMA: -1, Concurrent: max(p.Concurrent, 1), Locks: p.Locks, Env: map[string]string{}}
		for k, v := range p.Env {
			if !obsolete[k] {
				ps.Env[k] = v
			}
		}
		if p.NUMAPreferred != nil {
			ps.NUMA = *p.NUMAPreferred
		}
		if ps.Locks == nil {
			ps.Locks = []string{}
		}
		s.Processors = append(s.Processors, ps)
	}
	sort.Slice(s.Processors, func(i, j int) bool { return s.Processors[i].ID < s.Processors[j].ID })
	return s
}

// TestSeedReproduced is the seed document's own answer: on its machine
// plan-a is exactly the seed's Plan A (its TOML translated verbatim,
// testdata/configs, and examples/plan-a.hcl), plan-b exactly its Plan B
// (the verbatim translation, and config.hcl without its c2 weight: stage
// limits, pc1 0-41 and 48-89 with 14 each, the pc2 and c2 cpusets, the
// locks, the env but for the variables that have no effect), and
// plan-b-c2-first exactly config.hcl, weight and all; spare 38,41,86,89.
// The GPUs bind; plan-b-c2-first ranks first.
func TestSeedReproduced(t *testing.T) {
	res := runSeed(t)
	if res.Layout.Spare != "38,41,86,89" {
		t.Errorf("spare %s, want the seed's 38,41,86,89", res.Layout.Spare)
	}
	ref := func(path string, dropWeights bool) shape {
		c, diags := config.Load(path)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if dropWeights {
			c.Arbiter.Weights = nil
		}
		return shapeOf(c)
	}
	want := map[Strategy][]shape{
		PlanA:        {ref("../../../examples/plan-a.hcl", false), ref("../../../testdata/configs/seed-plan-a-verbatim.hcl", false)},
		PlanB:        {ref("../../../config.hcl", true), ref("../../../testdata/configs/seed-plan-b-verbatim.hcl", false)},
		PlanBC2First: {ref("../../../config.hcl", false)},
	}
	if len(res.Candidates) != 3 {
		t.Fatalf("%d candidates, dropped %v", len(res.Candidates), res.Dropped)
	}
	var order []string
	for _, c := range res.Candidates {
		order = append(order, string(c.Strategy))
		for i, w := range want[c.Strategy] {
			if got := shapeOf(c.Config); !reflect.DeepEqual(got, w) {
				t.Errorf("%s differs from reference %d:\n got %+v\nwant %+v", c.Strategy, i, got, w)
			}
		}
		if c.Plan.Spare.String() != "38,41,86,89" {
			t.Errorf("%s: the plan's spare cpus are %s", c.Strategy, c.Plan.Spare)
		}
		wantBinding := "GPU 0,GPU 1,lock gpu1,lock gpu2"
		if c.Strategy == PlanA {
			wantBinding = "GPU 1,c2 slots"
		}
		if got := strings.Join(c.Bound.Binding, ","); got != wantBinding {
			t.Errorf("%s binds on %s, want %s", c.Strategy, got, wantBinding)
		}
	}
	if got := strings.Join(order, ","); got != "plan-b-c2-first,plan-b,plan-a" {
		t.Fatalf("ranking %s", got)
	}
	cmp := Compare(res)
	for _, w := range []string{
		"plan-b-c2-first and plan-b finish the same within 1%",
		"ranks first for its waits: c2 p50 7 against 244 min",
		"plan-b-c2-first finishes 10.", "more than plan-a (+11.",
		"plan-a is bound by GPU 1, c2 slots at 96.0",
		"plan-b-c2-first by GPU 0, GPU 1, lock gpu1, lock gpu2 at 106.7",
	} {
		if !strings.Contains(cmp, w) {
			t.Errorf("comparison %q lacks %q", cmp, w)
		}
	}
}
