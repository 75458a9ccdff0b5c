package suggest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/simulate"
	"k8s.io/utils/cpuset"
)

// preemptSpec is one entry of the arbiter's per-stage preempt form: lock
// is preempted for stage after bound.
type preemptSpec struct {
	lock  string
	stage config.Stage
	bound time.Duration
}

// preemptBound is how long an urgent task that needs preemption waits for
// its GPU before the sealing task granted it last is cancelled: short
// against a WinningPoSt's 19 s of slack (25 s less its 6 s), long enough
// that a GPU freeing on its own in the meantime is not preempted for.
const preemptBound = 2 * time.Second

// postPlacement is where one PoSt stage goes: the GPU, its lock, and the
// sealing processors whose cores it takes over while it holds the GPU.
type postPlacement struct {
	stage config.Stage
	gpu   int
	lock  string
	cpus  cpuset.CPUSet
	cores []string // ids of the sealing processors on that GPU
}

// addPoSt puts a processor for each PoSt stage on a GPU of the spec,
// behind that GPU's lock (adding the lock, and putting the GPU's sealing
// processors behind it, where the strategy had none), marks the stages
// urgent, and preempts for those whose deadline the longest sealing hold
// on their lock would break. d are the stage durations, given those of
// them the operator gave, post the workload simulated. It returns why it
// cannot, or "".
func addPoSt(sp *spec, kinds []config.Stage, d, given map[config.Stage]time.Duration, post config.PoSt) string {
	if len(kinds) == 0 {
		return ""
	}
	gpus := gpusOf(sp)
	if len(gpus) == 0 {
		return "-post needs a GPU for PoSt, and this candidate has none"
	}
	// A GPU's sealing minutes a sector: each stage's tasks split evenly
	// over its processors, as the dispatcher splits alike ones. The GPU
	// with the fewest has the most time to spare for WindowPoSt's 48
	// partitions a day; WinningPoSt takes another GPU when there is one,
	// because urgent work is never preempted for urgent work and a
	// WinningPoSt behind a WindowPoSt (4 min) misses its 25 s.
	perStage := map[config.Stage]int{}
	for _, p := range sp.procs {
		perStage[p.stage]++
	}
	load := map[int]float64{}
	for _, p := range sp.procs {
		if p.gpu >= 0 {
			load[p.gpu] += d[p.stage].Minutes() / float64(perStage[p.stage])
		}
	}
	pick := func(skip int) int {
		best := -1
		for _, g := range gpus {
			if g != skip && (best < 0 || load[g] < load[best]) {
				best = g
			}
		}
		return best
	}
	at := map[config.Stage]int{}
	window := pick(-1)
	if slices.Contains(kinds, config.StageWindowPoSt) {
		at[config.StageWindowPoSt] = window
	}
	if slices.Contains(kinds, config.StageWinningPoSt) {
		g := pick(window)
		if g < 0 || !slices.Contains(kinds, config.StageWindowPoSt) {
			g = window
		}
		at[config.StageWinningPoSt] = g
	}
	var places []postPlacement
	for _, st := range kinds {
		g := at[st]
		lock := ensureLock(sp, g)
		pl := postPlacement{stage: st, gpu: g, lock: lock, cpus: cpuset.New()}
		ids := map[config.Stage]int{}
		for _, p := range sp.procs {
			id := fmt.Sprintf("%s.%d", p.stage, ids[p.stage])
			ids[p.stage]++
			if p.gpu == g && !isPoSt(p.stage) {
				pl.cpus = pl.cpus.Union(p.cpus)
				pl.cores = append(pl.cores, id)
			}
		}
		places = append(places, pl)
	}
	deadline := map[config.Stage]time.Duration{config.StageWindowPoSt: post.WindowDeadline, config.StageWinningPoSt: post.WinningDeadline}
	for _, pl := range places {
		from := "the built-in table's (lotus-bench on an RTX 3090 with a whole EPYC 7662): time yours and give it with -durations " + string(pl.stage) + "=..."
		if _, ok := given[pl.stage]; ok {
			from = "the one -durations gave"
		}
		sp.procs = append(sp.procs, procSpec{stage: pl.stage, cpus: pl.cpus, concurrent: 1, gpu: pl.gpu, env: c2Env(pl.gpu), locks: []string{pl.lock},
			why: []string{fmt.Sprintf("on GPU %d behind its lock %s, with the cpus of %s (%d): it runs only while it holds the lock, when they are stopped, so it takes no core from sealing or from the spare ones and has all of them for its vanilla proofs and circuit synthesis. The simulation does not model cores; its %s is %s.",
				pl.gpu, pl.lock, strings.Join(pl.cores, " and "), pl.cpus.Size(), humanDur(d[pl.stage]), from)}})
		sp.limits[pl.stage] = 1
	}
	for _, pl := range places {
		// Preempt when the longest sealing hold on the lock leaves less
		// than the task's slack (its deadline less its own run, less the
		// other urgent work on the lock, which is never preempted for it).
		dl, own := deadline[pl.stage], d[pl.stage]
		var ahead, longest time.Duration
		var aheadStages []string
		var longestStage config.Stage
		for _, p := range sp.procs {
			if !slices.Contains(p.locks, pl.lock) || p.stage == pl.stage {
				continue
			}
			if isPoSt(p.stage) {
				ahead += d[p.stage]
				aheadStages = append(aheadStages, string(p.stage))
			} else if d[p.stage] > longest {
				longest, longestStage = d[p.stage], p.stage
			}
		}
		slack := dl - own - ahead
		if ahead >= dl-own {
			sp.postWhy = append(sp.postWhy, fmt.Sprintf("%s shares lock %s with %s (%s), which is never preempted for it and takes longer than the %s its %s deadline leaves after its own %s run: it will miss deadlines; a GPU of its own avoids that.",
				pl.stage, pl.lock, strings.Join(aheadStages, ", "), humanDur(ahead), humanDur(dl-own), humanDur(dl), humanDur(own)))
		}
		switch {
		case longest > slack:
			sp.preempt = append(sp.preempt, preemptSpec{lock: pl.lock, stage: pl.stage, bound: preemptBound})
			after := "its own " + humanDur(own) + " run"
			if ahead > 0 {
				after += fmt.Sprintf(" and %s's %s", strings.Join(aheadStages, ", "), humanDur(ahead))
			}
			sp.postWhy = append(sp.postWhy, fmt.Sprintf("%s on lock %s may wait for a %s of %s, longer than the %s its %s deadline leaves after %s: past %s of waiting it preempts the sealing task granted the lock last (cancelled, its work lost, run again).",
				pl.stage, pl.lock, longestStage, humanDur(longest), humanDur(max(slack, 0)), humanDur(dl), after, humanDur(preemptBound)))
		case longest > 0:
			sp.postWhy = append(sp.postWhy, fmt.Sprintf("%s on lock %s waits at most a %s of %s and has %s to spare within its %s: no preemption, which would only lose sealing work.",
				pl.stage, pl.lock, longestStage, humanDur(longest), humanDur(slack-longest), humanDur(dl)))
		}
	}
	sp.urgent = nil
	for _, st := range []config.Stage{config.StageWinningPoSt, config.StageWindowPoSt} { // by deadline, the shortest first
		if slices.Contains(kinds, st) {
			sp.urgent = append(sp.urgent, st)
		}
	}
	sp.post = &post
	return ""
}

func isPoSt(st config.Stage) bool {
	return st == config.StageWindowPoSt || st == config.StageWinningPoSt
}

// gpusOf lists the GPUs a spec's processors use, in order of first use.
func gpusOf(sp *spec) []int {
	var out []int
	for _, p := range sp.procs {
		if p.gpu >= 0 && !slices.Contains(out, p.gpu) {
			out = append(out, p.gpu)
		}
	}
	return out
}

// ensureLock returns GPU g's lock, declaring it and putting the GPU's
// processors behind it when the strategy had none (plan-a dedicates a
// GPU to one stage, which needs no lock until PoSt shares the GPU).
func ensureLock(sp *spec, g int) string {
	lock := fmt.Sprintf("gpu%d", g+1)
	if slices.Contains(sp.locks, lock) {
		return lock
	}
	sp.locks = append(sp.locks, lock)
	slices.SortFunc(sp.locks, func(a, b string) int { return lockNum(a) - lockNum(b) })
	for i := range sp.procs {
		if sp.procs[i].gpu == g {
			sp.procs[i].locks = append(sp.procs[i].locks, lock)
			sp.procs[i].why = append(sp.procs[i].why, fmt.Sprintf("It holds lock %s because PoSt shares GPU %d (-post).", lock, g))
		}
	}
	return lock
}

func lockNum(name string) int {
	var n int
	fmt.Sscanf(name, "gpu%d", &n)
	return n
}

// humanDur writes d for a sentence: "25 s", "4 min", "25.9 min".
func humanDur(d time.Duration) string {
	if d < time.Minute {
		return trim(d.Seconds()) + " s"
	}
	return trim(round1(d.Minutes())) + " min"
}

// postVerdict reads the PoSt part of a candidate's simulation: the
// deadlines missed, and a sentence saying which, or "" when every one was
// met. A stage asked for that the simulation did not run is an error: PoSt
// must never be ignored quietly.
func postVerdict(sim *simulate.Result, kinds []config.Stage) (int, string, error) {
	missed := 0
	var what []string
	for _, st := range kinds {
		ps := sim.PoSt[string(st)]
		if ps == nil || ps.Submitted == 0 {
			return 0, "", fmt.Errorf("suggest: internal error: the simulation ran no %s task, though -post asked for it", st)
		}
		if ps.Missed > 0 {
			missed += ps.Missed
			what = append(what, fmt.Sprintf("%d of %d %s deadlines (%s; wait p99 %s s)", ps.Missed, ps.Submitted, st, humanDur(time.Duration(ps.DeadlineMinutes*float64(time.Minute))), trim(ps.WaitP99Seconds)))
		}
	}
	if missed == 0 {
		return 0, "", nil
	}
	return missed, "its simulated PoSt misses " + strings.Join(what, " and "), nil
}

// postLine sums up a candidate's PoSt for the text and the file's head:
// each stage's GPU, misses and waits, and what preemption cost sealing.
func postLine(c *Candidate) string {
	var parts []string
	for _, st := range []config.Stage{config.StageWindowPoSt, config.StageWinningPoSt} {
		ps := c.PoSt[string(st)]
		if ps == nil {
			continue
		}
		s := fmt.Sprintf("%s %d done, %d missed of %d (due in %s), wait p50/p99/max %s/%s/%s s", st, ps.Done, ps.Missed, ps.Submitted,
			humanDur(time.Duration(ps.DeadlineMinutes*float64(time.Minute))), trim(ps.WaitP50Seconds), trim(ps.WaitP99Seconds), trim(ps.WaitMaxSeconds))
		for _, p := range c.spec.preempt {
			if p.stage == st {
				s += fmt.Sprintf(", preempting %s after %s", p.lock, humanDur(p.bound))
			}
		}
		parts = append(parts, s)
	}
	lost := "nothing"
	var ls []string
	for _, st := range config.SealingStages {
		if p := c.Preempted[string(st)]; p != nil {
			ls = append(ls, fmt.Sprintf("%s %d tasks, %s min", st, p.Tasks, trim(round1(p.LostMinutes))))
		}
	}
	if len(ls) > 0 {
		lost = strings.Join(ls, "; ")
	}
	return strings.Join(parts, "; ") + ". Sealing work lost to preemption: " + lost + "."
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
