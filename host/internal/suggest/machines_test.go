package suggest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

// synth builds a machine: nodes × groups × cores, smt threads a core
// (thread t of core c is cpu c + t×total, as Linux numbers them), memory
// per node, and GPUs on the given nodes (-1: unknown). groups 0 means the
// machine reports no L3.
func synth(t testing.TB, name string, nodes, groups, cores, smt int, memGiB uint64, gpuNodes ...int) *topology.Machine {
	t.Helper()
	m := &topology.Machine{Source: name}
	perNode := max(groups, 1) * cores
	total := nodes * perNode
	gi := 0
	for n := 0; n < nodes; n++ {
		nodeSet := cpuset.New()
		for g := 0; g < max(groups, 1); g++ {
			gs := cpuset.New()
			for c := 0; c < cores; c++ {
				id := n*perNode + g*cores + c
				var sib []int
				for th := 0; th < smt; th++ {
					sib = append(sib, id+th*total)
				}
				sibs := cpuset.New(sib...)
				for _, cpu := range sib {
					l3 := gi
					if groups == 0 {
						l3 = -1
					}
					m.CPUs = append(m.CPUs, topology.CPU{ID: cpu, Package: n, Core: g*cores + c, Node: n, L3: l3, Siblings: sibs.String()})
				}
				gs = gs.Union(sibs)
			}
			if groups > 0 {
				m.L3 = append(m.L3, topology.L3Group{Index: gi, Node: n, CPUs: gs})
			}
			nodeSet = nodeSet.Union(gs)
			gi++
		}
		m.Nodes = append(m.Nodes, topology.Node{ID: n, CPUs: nodeSet.String(), MemoryBytes: memGiB << 30})
	}
	for i, n := range gpuNodes {
		m.GPUs = append(m.GPUs, topology.GPU{Index: i, Address: fmt.Sprintf("0000:%02x:00.0", i+1), Device: "0x2206", Node: n})
	}
	sort.Slice(m.CPUs, func(i, j int) bool { return m.CPUs[i].ID < m.CPUs[j].ID })
	if err := m.Validate(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// TestEveryMachine is the "done when" for machines other than the
// seed: on every machine of testdata/machines (both forms) and on built
// ones covering what `host topology -json` can describe (many nodes, SMT,
// no L3, GPUs on no known node, more GPUs than nodes, a node without
// GPU), every candidate passes the plan with no error and no
// cpu-overlap, gpu-shared-without-lock or memory-overcommit; its pc1
// cpusets are whole L3 groups and its pc1 memory fits each node with the
// headroom; the spare cores are in no processor's busy set; and the best
// reaches 95% of its own bound in 30 simulated days.
func TestEveryMachine(t *testing.T) {
	type tc struct {
		name   string
		m      *topology.Machine
		sector string
		spare  int
		days   int // simulated; 0 for 30
	}
	var cases []tc
	for _, name := range []string{"seed.json", "seed", "zen3-7543.json", "zen3-7543", "intel-w2295.json", "intel-w2295"} {
		cases = append(cases, tc{name, machine(t, name), "32GiB", 4, 0})
	}
	cases = append(cases,
		tc{"seed-64GiB", machine(t, "seed.json"), "64GiB", 4, 0},
		tc{"seed-no-spare", machine(t, "seed.json"), "32GiB", 0, 0},
		tc{"seed-spare-7", machine(t, "seed.json"), "32GiB", 7, 0},
		tc{"4-nodes-smt-4-gpus", synth(t, "4n", 4, 6, 4, 2, 512, 0, 1, 2, 3), "32GiB", 4, 0},
		tc{"no-l3-gpus-unknown-node", synth(t, "nol3", 1, 0, 16, 1, 256, -1, -1), "32GiB", 2, 0},
		tc{"2-nodes-gpu-on-node-1", synth(t, "gpu1", 2, 8, 8, 2, 1024, 1), "32GiB", 4, 0},
		tc{"2-nodes-3-gpus", synth(t, "3gpu", 2, 12, 4, 1, 768, 0, 0, 1), "32GiB", 4, 0},
		// 2KiB stages take a second each: 3 days are 130,000 sectors, and
		// the 80 min seed wait of the first is under 2% of them.
		tc{"small-sectors", synth(t, "2k", 1, 2, 6, 2, 16, 0), "2KiB", 1, 3},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Run(Request{Machine: c.m, SectorSize: c.sector, Spare: c.spare, For: time.Duration(c.days) * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Candidates) == 0 {
				t.Fatalf("no candidate: %v", res.Dropped)
			}
			for _, d := range res.Dropped {
				if strings.Contains(d.Reason, "plan rejects") {
					t.Errorf("%s dropped by the plan: %s", d.Strategy, d.Reason)
				}
			}
			spare, err := cpuset.Parse(res.Layout.Spare)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(c.m.Cores(spare)); n < c.spare {
				t.Errorf("%d spare cores, want %d", n, c.spare)
			}
			for _, cand := range res.Candidates {
				checkCandidate(t, c.m, res, cand, spare)
			}
			best := res.Candidates[0]
			if best.Bound == nil || best.Bound.Achieved < 0.95 {
				t.Errorf("best %s reaches %v of its bound", best.Strategy, best.Bound)
			}
		})
	}
}

func checkCandidate(t *testing.T, m *topology.Machine, res *Result, c *Candidate, spare cpuset.CPUSet) {
	t.Helper()
	checkPlanned(t, m, res, c, spare)
	if c.Bound == nil || c.Bound.Achieved > 1.001 {
		t.Errorf("%s: achieved %v of the bound: the bound is not one", c.Strategy, c.Bound)
	}
}

// checkPlanned is checkCandidate but for the bound: the written file as
// host validate and the plan see it.
func checkPlanned(t *testing.T, m *topology.Machine, res *Result, c *Candidate, spare cpuset.CPUSet) {
	t.Helper()
	// What host validate does, from the written file.
	cfg, diags := config.Parse([]byte(c.HCL), "config.hcl")
	if diags.HasErrors() {
		t.Fatalf("%s: the written config does not parse: %v", c.Strategy, diags)
	}
	p := plan.Build(cfg, m)
	p.AddConfigDiagnostics(diags)
	for _, d := range p.Diagnostics {
		code := config.CodeOf(d)
		if d.Severity == hcl.DiagError || dropCodes[code] || code == string(config.CodeMemoryOvercommit) {
			t.Errorf("%s: %s: %s", c.Strategy, code, d.Detail)
		}
	}
	if !spare.IsSubsetOf(p.Spare) {
		t.Errorf("%s: spare cpus %s are not all spare in the plan (%s)", c.Strategy, spare, p.Spare)
	}
	perNode := map[int]int{}
	for _, pr := range p.Processors {
		if pr.Stage != config.StagePC1 {
			continue
		}
		for _, g := range m.L3 {
			if in := g.CPUs.Intersection(pr.CPUs); in.Size() > 0 && !g.CPUs.IsSubsetOf(pr.CPUs) {
				t.Errorf("%s: %s covers L3 group %d (%s) only in part", c.Strategy, pr.ID, g.Index, g.CPUs)
			}
		}
		if pr.NUMAPreferred == nil || !pr.CPUs.IsSubsetOf(m.NodeCPUs(*pr.NUMAPreferred)) {
			t.Errorf("%s: %s is not on its preferred node", c.Strategy, pr.ID)
			continue
		}
		if pr.SDR == nil || pr.SDR.Unbound() > 0 {
			t.Errorf("%s: %s has pc1 tasks without a multicore SDR unit", c.Strategy, pr.ID)
		}
		perNode[*pr.NUMAPreferred] += pr.Concurrent
	}
	for node, n := range perNode {
		headroom := float64(m.NodeMemory(node))*(1-kernelShare) - float64(res.Layout.ParentCacheBytes)
		if need := float64(uint64(n) * res.Layout.TaskBytes); need > headroom {
			t.Errorf("%s: node %d: %d pc1 tasks need %.0f bytes, the node has %.0f after the kernel and parent cache", c.Strategy, node, n, need, headroom)
		}
	}
	if c.Bound == nil {
		t.Errorf("%s: no bound", c.Strategy)
	}
}
