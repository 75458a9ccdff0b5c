package simulate

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
)

// Bound is what the resources of a layout allow at most, in sectors per
// day, worked out from the config and the durations alone, before any
// queueing: the figure the simulation is measured against.
type Bound struct {
	SectorsPerDay float64 `json:"sectors_per_day"`
	// Binding are the resources whose limit is the bound (ties within
	// 0.1% are all named); the first is the bottleneck.
	Binding []string `json:"binding"`
	// Achieved is the simulated sectors per day over the bound. A 30-day
	// run loses the first hours filling the pipeline, so ~0.99 is as good
	// as it gets.
	Achieved float64 `json:"achieved"`
	// Limits holds every resource's own bound, lowest first.
	Limits []Limit `json:"limits"`
	// Assumes says what the arithmetic takes for granted.
	Assumes string `json:"assumes"`
}

// Limit is one resource's bound on sectors per day.
type Limit struct {
	// Resource names it: "pc1 slots", "lock gpu1", "GPU 0", "memory",
	// "sealing threads".
	Resource string `json:"resource"`
	// Kind is one of stage, lock, gpu, memory, threads.
	Kind          string  `json:"kind"`
	SectorsPerDay float64 `json:"sectors_per_day"`
	// How is the arithmetic, for a person.
	How string `json:"how"`
}

const dayMinutes = 24 * 60

// assumesSplit is the one modelling choice of the bound. A lock or GPU
// serves only some of a stage's processors, so what it can carry depends
// on how the stage's tasks split over them. With alike processors the
// least-loaded dispatcher splits by concurrency, which gives round
// figures; where the simulation split a stage otherwise (a processor
// whose lock is busy more often gets fewer tasks), the simulated split is
// taken, so the bound stays one the run cannot beat.
const assumesSplit = "tasks of a stage spread over its processors in proportion to their concurrent, as the least-loaded dispatcher does with alike processors"

// splitTolerance is how far a processor's simulated share of its stage's
// tasks may stray from its concurrency's before the simulated one is used.
const splitTolerance = 0.05

// kindRank orders limits that tie: the physical resource is named first.
var kindRank = map[string]int{"gpu": 0, "memory": 1, "lock": 2, "stage": 3, "threads": 4}

// computeBound works out the bound of the simulated layout. p, the plan of
// the config on its machine, adds the GPU and memory limits; nil leaves
// them out.
//
// A split within splitTolerance of the concurrency's is read as that one,
// for round figures. Where the run beat the bound so found, it is worked
// out again with every stage as the simulation split it: a few percent
// moved off a lock that also carries PoSt onto its idle twin make the
// difference (the seed's Plan B with WindowPoSt on one GPU ran 99.1 a day
// against a bound of 92.4 read at the even split, 99.5 at the run's).
func (s *sim) computeBound(p *plan.Plan) *Bound {
	b := s.boundAt(p, splitTolerance)
	if b != nil && s.res.SectorsPerDay > b.SectorsPerDay {
		if exact := s.boundAt(p, 0); exact != nil {
			b = exact
		}
	}
	return b
}

// boundAt is computeBound taking a stage's split from the simulation when
// a processor's share of its tasks strays more than tolerance from its
// concurrency's.
func (s *sim) boundAt(p *plan.Plan, tolerance float64) *Bound {
	cfg := s.req.Config
	b := &Bound{Assumes: assumesSplit}
	if p == nil {
		b.Assumes += "; GPUs and memory are left out: they need the machine (-topology)"
	}
	add := func(resource, kind string, perDay float64, how string) {
		if perDay <= 0 || math.IsInf(perDay, 0) || math.IsNaN(perDay) {
			return
		}
		b.Limits = append(b.Limits, Limit{Resource: resource, Kind: kind, SectorsPerDay: round2(perDay), How: how})
	}

	// A stage's tasks, split over its processors by concurrency.
	conc := map[string]int{}
	stageConc := map[config.Stage]int{}
	for _, pr := range cfg.Processors {
		c := max(pr.Concurrent, 1)
		conc[pr.ID] = c
		stageConc[pr.Stage] += c
	}
	stageStarts := map[config.Stage]int{}
	for _, pr := range cfg.Processors {
		stageStarts[pr.Stage] += s.starts[pr.ID]
	}
	simulated := map[config.Stage]bool{}
	for _, pr := range cfg.Processors {
		if n := stageStarts[pr.Stage]; n > 0 {
			real := float64(s.starts[pr.ID]) / float64(n)
			if math.Abs(real-float64(conc[pr.ID])/float64(stageConc[pr.Stage])) > tolerance {
				simulated[pr.Stage] = true
			}
		}
	}
	var simStages []string
	for _, st := range config.Stages {
		if simulated[st] {
			simStages = append(simStages, string(st))
		}
	}
	if len(simStages) > 0 {
		b.Assumes += fmt.Sprintf("; for %s, as the simulation split them (their concurrent does not)", strings.Join(simStages, ", "))
	}
	share := func(pr config.Processor) float64 {
		if simulated[pr.Stage] {
			return float64(s.starts[pr.ID]) / float64(stageStarts[pr.Stage])
		}
		return float64(conc[pr.ID]) / float64(stageConc[pr.Stage])
	}
	shareText := func(pr config.Processor) string {
		if simulated[pr.Stage] {
			return fmt.Sprintf("%.3g", share(pr))
		}
		return fraction(conc[pr.ID], stageConc[pr.Stage])
	}

	var cycle time.Duration
	for _, st := range s.steps {
		if st.mode == Skipped {
			continue
		}
		cycle += st.duration
		if st.mode == Dispatched && st.duration > 0 {
			add(st.name+" slots", "stage", float64(st.capacity)*dayMinutes/st.duration.Minutes(),
				fmt.Sprintf("%d at once × %d min ÷ %s min a task", st.capacity, dayMinutes, trimFloat(st.duration.Minutes())))
		}
	}
	if per := cycle + s.req.Turnaround; per > 0 {
		add("sealing threads", "threads", float64(s.res.SealingThreads)*dayMinutes/per.Minutes(),
			fmt.Sprintf("%d sectors in flight × %d min ÷ %s min a sector from start to finish", s.res.SealingThreads, dayMinutes, trimFloat(per.Minutes())))
	}

	// heldTime sums, over the processors that pass keep, the time a
	// sector spends on them on average.
	heldTime := func(keep func(pr config.Processor) bool) (float64, string) {
		var t float64
		var parts []string
		for _, pr := range cfg.Processors {
			st := s.byName[pr.Stage]
			if st == nil || st.mode != Dispatched || !keep(pr) {
				continue
			}
			f := share(pr)
			if f == 0 {
				continue
			}
			t += st.duration.Minutes() * f
			part := fmt.Sprintf("%s %s min", pr.ID, trimFloat(st.duration.Minutes()))
			if f < 1 {
				part += " × " + shareText(pr)
			}
			parts = append(parts, part)
		}
		return t, strings.Join(parts, " + ")
	}
	// postTime is the time a day the PoSt workload holds the processors
	// that pass keep, split over a stage's processors as its tasks are:
	// time sealing cannot have.
	postTime := func(keep func(pr config.Processor) bool) (float64, string) {
		var t float64
		for _, pr := range cfg.Processors {
			st := s.postByName[pr.Stage]
			if st == nil || !keep(pr) {
				continue
			}
			t += s.postPerDay(st) * st.duration.Minutes() * share(pr)
		}
		if t == 0 {
			return 0, ""
		}
		return t, fmt.Sprintf(" − %s min of PoSt a day", trimFloat(t))
	}
	for _, l := range cfg.Locks {
		keep := func(pr config.Processor) bool { return contains(pr.Locks, l.Name) }
		t, parts := heldTime(keep)
		post, postText := postTime(keep)
		if t > 0 {
			c := max(l.Capacity, 1)
			avail := fmt.Sprintf("capacity %d × %d min", c, dayMinutes)
			if postText != "" {
				avail = "(" + avail + postText + ")"
			}
			add("lock "+l.Name, "lock", (float64(c)*dayMinutes-post)/t,
				fmt.Sprintf("%s ÷ %s min held a sector (%s)", avail, trimFloat(t), parts))
		}
	}
	if p != nil {
		gpuOf := map[string]plan.Processor{}
		for _, pr := range p.Processors {
			gpuOf[pr.ID] = pr
		}
		for _, g := range p.GPUs {
			keep := func(pr config.Processor) bool {
				pp, ok := gpuOf[pr.ID]
				return ok && pp.UsesGPU && containsInt(pp.GPUs, g.Index)
			}
			t, parts := heldTime(keep)
			post, postText := postTime(keep)
			if t > 0 {
				avail := fmt.Sprintf("%d min", dayMinutes)
				if postText != "" {
					avail = "(" + avail + postText + ")"
				}
				add(fmt.Sprintf("GPU %d", g.Index), "gpu", (dayMinutes-post)/t,
					fmt.Sprintf("%s ÷ %s min of GPU work a sector (%s)", avail, trimFloat(t), parts))
			}
		}
		// Tasks beyond a pc1 processor's multicore SDR units run unbound,
		// slower than the simulated duration: only the units count here.
		if st := s.byName[config.StagePC1]; st != nil && st.mode == Dispatched && st.duration > 0 {
			units, beyond := 0, 0
			for _, pr := range p.Processors {
				if pr.Stage != config.StagePC1 {
					continue
				}
				n := pr.Concurrent
				if pr.SDR != nil {
					n = min(n, len(pr.SDR.Units))
					beyond += pr.Concurrent - n
				}
				units += n
			}
			if beyond > 0 {
				units = min(units, st.capacity)
				add("pc1 SDR units", "stage", float64(units)*dayMinutes/st.duration.Minutes(),
					fmt.Sprintf("%d multicore SDR units × %d min ÷ %s min (%d more tasks run unbound, slower than simulated: pc1-units-short)", units, dayMinutes, trimFloat(st.duration.Minutes()), beyond))
			}
		}
		if st := s.byName[config.StagePC1]; st != nil && st.mode == Dispatched && p.PC1TaskBytes > 0 && st.duration > 0 {
			fit := 0
			var parts []string
			for _, m := range p.Memory {
				if m.NeedBytes == 0 {
					continue
				}
				n := int(min(m.NeedBytes, m.HaveBytes) / p.PC1TaskBytes)
				fit += n
				parts = append(parts, fmt.Sprintf("node %d holds %d", m.NUMA, n))
			}
			if fit > 0 {
				add("memory", "memory", float64(fit)*dayMinutes/st.duration.Minutes(),
					fmt.Sprintf("%d pc1 tasks of %s fit (%s) × %d min ÷ %s min", fit, config.HumanSize(p.PC1TaskBytes), strings.Join(parts, ", "), dayMinutes, trimFloat(st.duration.Minutes())))
			}
		}
	}
	if len(b.Limits) == 0 {
		return nil
	}
	sort.SliceStable(b.Limits, func(i, j int) bool {
		x, y := b.Limits[i], b.Limits[j]
		if x.SectorsPerDay != y.SectorsPerDay {
			return x.SectorsPerDay < y.SectorsPerDay
		}
		return kindRank[x.Kind] < kindRank[y.Kind]
	})
	b.SectorsPerDay = b.Limits[0].SectorsPerDay
	for _, l := range b.Limits {
		if l.SectorsPerDay <= b.SectorsPerDay*1.001 {
			b.Binding = append(b.Binding, l.Resource)
		}
	}
	b.Achieved = math.Round(s.res.SectorsPerDay/b.SectorsPerDay*1000) / 1000
	return b
}

// fraction prints n/d in lowest terms.
func fraction(n, d int) string {
	g := gcd(n, d)
	return fmt.Sprintf("%d/%d", n/g, d/g)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return max(a, 1)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
