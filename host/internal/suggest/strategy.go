package suggest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

// Strategy names a way of giving pc2 and c2 the GPUs.
type Strategy string

const (
	// PlanA dedicates each GPU to one stage.
	PlanA Strategy = "plan-a"
	// PlanB pairs a pc2 and a c2 on each GPU behind a capacity-1 lock.
	PlanB Strategy = "plan-b"
	// PlanBC2First is plan-b with c2 weighted to a share of each GPU a
	// little above what it needs.
	PlanBC2First Strategy = "plan-b-c2-first"
)

// Strategies are evaluated in this order; ties in the ranking keep it.
var Strategies = []Strategy{PlanA, PlanB, PlanBC2First}

// Describe says what a strategy does, in a few words.
func (s Strategy) Describe() string {
	switch s {
	case PlanA:
		return "each GPU dedicated to pc2 or c2"
	case PlanB:
		return "pc2 + c2 paired on each GPU behind a lock"
	case PlanBC2First:
		return "plan-b, c2 weighted above its need"
	}
	return string(s)
}

// procSpec is one processor block to write.
type procSpec struct {
	stage      config.Stage
	cpus       cpuset.CPUSet
	numa       *int
	concurrent int
	locks      []string
	env        [][2]string
	gpu        int // -1 for none
	why        []string
}

// spec is a candidate config before it is written.
type spec struct {
	strategy Strategy
	limits   map[config.Stage]int
	locks    []string
	procs    []procSpec
	// c2Weight, above 1, is the arbiter weight of c2 (pc2 weighs 1).
	c2Weight float64
	why      []string // the strategy's reasoning, for the file's head
	// urgent are the arbiter's urgent stages, preempt its per-stage
	// preemptions, post the PoSt workload to simulate (nil: none), and
	// postWhy the reasoning behind them (-post).
	urgent  []config.Stage
	preempt []preemptSpec
	post    *config.PoSt
	postWhy []string
}

// entitlementMargin is how far above its need c2's weighted share of a GPU
// is set in plan-b-c2-first.
const entitlementMargin = 0.05

// c2Weight returns the weight that entitles c2 to its need of each GPU
// (its part of the GPU time a sector takes) plus entitlementMargin, in
// quarters, and that need.
func c2Weight(d map[config.Stage]time.Duration) (weight, need float64) {
	pc2, c2 := d[config.StagePC2].Minutes(), d[config.StageC2].Minutes()
	need = c2 / (pc2 + c2)
	e := min(need+entitlementMargin, 0.9)
	return math.Round(e/(1-e)*4) / 4, need
}

func pc1Procs(l *Layout) ([]procSpec, int) {
	var out []procSpec
	total := 0
	for _, n := range l.Nodes {
		if n.PC1Tasks == 0 {
			continue
		}
		node := n.Node
		out = append(out, procSpec{
			stage: config.StagePC1, cpus: n.pc1, numa: &node, concurrent: n.PC1Tasks, gpu: -1,
			env: [][2]string{
				{"FIL_PROOFS_USE_MULTICORE_SDR", "1"},
				{"FIL_PROOFS_MULTICORE_SDR_PRODUCERS", strconv.Itoa(n.Producers)},
			},
			why: []string{
				fmt.Sprintf("NUMA node %d, %d whole L3 groups. %s.", node, n.PC1Groups, upper(n.Why)),
			},
		})
		total += n.PC1Tasks
	}
	return out, total
}

func pc2Env(gpu int) [][2]string {
	return [][2]string{{"FIL_PROOFS_USE_GPU_TREE_BUILDER", "1"}, {"CUDA_VISIBLE_DEVICES", strconv.Itoa(gpu)}}
}

func c2Env(gpu int) [][2]string {
	return [][2]string{{"CUDA_VISIBLE_DEVICES", strconv.Itoa(gpu)}}
}

// build returns the spec of a strategy, or why it does not apply.
func build(s Strategy, l *Layout, m *topology.Machine, gpus []int, d map[config.Stage]time.Duration) (*spec, string) {
	pc1, pc1Total := pc1Procs(l)
	if pc1Total == 0 {
		return nil, "no NUMA node can run a pc1 task (see the layout)"
	}
	sp := &spec{strategy: s, procs: pc1, limits: map[config.Stage]int{config.StagePC1: pc1Total}}
	switch s {
	case PlanA:
		if len(gpus) < 2 {
			return nil, fmt.Sprintf("needs 2 GPUs or more, one for each stage; the machine has %d", len(gpus))
		}
		// k GPUs for pc2, the rest for c2, so each side's GPU time a
		// sector is as even as it can be.
		dpc2, dc2 := d[config.StagePC2].Minutes(), d[config.StageC2].Minutes()
		best, bestRate := 1, 0.0
		for k := 1; k < len(gpus); k++ {
			if r := min(float64(k)/dpc2, float64(len(gpus)-k)/dc2); r > bestRate {
				best, bestRate = k, r
			}
		}
		pools := make([][]core, len(l.Nodes))
		total := 0
		for i, n := range l.Nodes {
			pools[i] = append([]core(nil), n.pool...)
			total += len(n.pool)
		}
		// A small pool is shared out evenly instead, so c2 keeps its part.
		perPC2 := min(pc2Cores, total/len(gpus))
		for _, g := range gpus[:best] {
			// pc2 reads layers of sectors whose pc1 ran on either node,
			// so its cores come evenly from every node's pool.
			var cores []core
			for i := range pools {
				quota := perPC2 / len(pools)
				if i < perPC2%len(pools) {
					quota++
				}
				n := min(quota, len(pools[i]))
				cores = append(cores, pools[i][:n]...)
				pools[i] = pools[i][n:]
			}
			for i := range pools { // a node short of cores: the others make up
				for len(cores) < perPC2 && len(pools[i]) > 0 {
					cores = append(cores, pools[i][0])
					pools[i] = pools[i][1:]
				}
			}
			if len(cores) == 0 {
				return nil, "no core is left for pc2 after pc1 and the spare cores"
			}
			sp.procs = append(sp.procs, procSpec{stage: config.StagePC2, cpus: union(cores), concurrent: 1, gpu: g, env: pc2Env(g),
				why: []string{fmt.Sprintf("pc2 owns GPU %d. %s, drawn evenly from every node: pc2 reads the layers of sectors whose pc1 ran on either node.", g, pc2Why(len(cores)))}})
		}
		var rest []core
		for _, p := range pools {
			rest = append(rest, p...)
		}
		c2GPUs := gpus[best:]
		if len(rest) < len(c2GPUs) {
			return nil, fmt.Sprintf("%d cores are left for %d c2 processors", len(rest), len(c2GPUs))
		}
		for i, g := range c2GPUs {
			chunk := rest[i*len(rest)/len(c2GPUs) : (i+1)*len(rest)/len(c2GPUs)]
			sp.procs = append(sp.procs, procSpec{stage: config.StageC2, cpus: union(chunk), concurrent: 1, gpu: g, env: c2Env(g),
				why: []string{fmt.Sprintf("c2 owns GPU %d. %s.", g, c2Why(len(chunk), "every idle pc1 core and unused L3 group pc2 and the spare do not take"))}})
		}
		sp.limits[config.StagePC2] = best
		sp.limits[config.StageC2] = len(c2GPUs)
		sp.why = []string{
			fmt.Sprintf("%d GPU%s for pc2 and %d for c2 (split by their GPU time a sector, %s and %s min), so no lock is needed and nothing waits on another stage.",
				best, plural(best), len(c2GPUs), trim(dpc2), trim(dc2)),
		}
	case PlanB, PlanBC2First:
		if len(gpus) == 0 {
			return nil, "the machine has no GPU"
		}
		pools := poolsPerGPU(l, m, gpus)
		for i, g := range gpus {
			pool := pools[i]
			if len(pool) == 0 {
				return nil, fmt.Sprintf("no core is left for GPU %d's pc2 and c2", g)
			}
			lock := fmt.Sprintf("gpu%d", g+1)
			sp.locks = append(sp.locks, lock)
			n := min(pc2Cores, len(pool))
			sp.procs = append(sp.procs,
				procSpec{stage: config.StagePC2, cpus: union(pool[:n]), concurrent: 1, gpu: g, env: pc2Env(g), locks: []string{lock},
					why: []string{fmt.Sprintf("GPU %d's pair, lock %s. %s, the first of GPU %d's share of cores.", g, lock, pc2Why(n), g)}},
				procSpec{stage: config.StageC2, cpus: union(pool), concurrent: 1, gpu: g, env: c2Env(g), locks: []string{lock},
					why: []string{fmt.Sprintf("GPU %d's pair, lock %s. %s; it shares pc2's cores and GPU: the lock means they never run at once.", g, lock, c2Why(len(pool), "the whole share"))}},
			)
		}
		sp.limits[config.StagePC2] = len(gpus)
		sp.limits[config.StageC2] = len(gpus)
		sp.why = []string{
			"Each GPU carries one pc2 and one c2, with the cores of its own node; a capacity-1 lock keeps them from running on it at once (a pc2 and a c2 together run an RTX 3080 out of memory, damocles #572), so they may share cores.",
		}
		if s == PlanBC2First {
			w, need := c2Weight(d)
			if w <= 1 {
				return nil, fmt.Sprintf("c2 needs %.0f%% of a GPU, no more than the half equal weights give it: plan-b already serves it", 100*need)
			}
			sp.c2Weight = w
			sp.why = append(sp.why, fmt.Sprintf("The arbiter weighs c2 %s: that entitles it to %.0f%% of each GPU, a little above the %.0f%% a sector needs (%s of %s min), so pc2 cannot keep a GPU while c2 work waits, and the sectors beyond what the GPUs take wait before pc2, before their pre-commit, rather than after it.",
				trim(w), 100*w/(1+w), 100*need, trim(d[config.StageC2].Minutes()), trim(d[config.StagePC2].Minutes()+d[config.StageC2].Minutes())))
		}
	default:
		return nil, "unknown strategy"
	}
	return sp, ""
}

func pc2Why(n int) string {
	return fmt.Sprintf("%d core%s (with the GPU tree builder pc2 only moves data to the GPU)", n, plural(n))
}

func c2Why(n int, what string) string {
	return fmt.Sprintf("%d core%s, %s (c2 synthesises the circuits on the CPU before the GPU proves them)", n, plural(n), what)
}

// poolsPerGPU gives each GPU a share of the pool: a node's pool goes to
// the GPUs on that node in equal contiguous parts; a node without a GPU
// (or GPUs on no known node) spreads over every GPU.
func poolsPerGPU(l *Layout, m *topology.Machine, gpus []int) [][]core {
	out := make([][]core, len(gpus))
	onNode := map[int][]int{} // node -> positions in gpus
	for i, g := range gpus {
		gg, _ := m.GPUByIndex(g)
		onNode[gg.Node] = append(onNode[gg.Node], i)
	}
	for _, n := range l.Nodes {
		who := onNode[n.Node]
		if len(who) == 0 {
			who = make([]int, len(gpus))
			for i := range who {
				who[i] = i
			}
		}
		for j, i := range who {
			out[i] = append(out[i], n.pool[j*len(n.pool)/len(who):(j+1)*len(n.pool)/len(who)]...)
		}
	}
	return out
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func trim(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
