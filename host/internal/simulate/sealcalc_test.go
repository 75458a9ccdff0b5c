package simulate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// sealcalcParams are the inputs of damocles-worker-util's sealcalc.
type sealcalcParams struct {
	treeD, pc1, pc2, c2 [2]int // minutes, max concurrency
	seed, threads       int
}

// sealcalcFinished is a reference model of damocles-worker-util `sealcalc`,
// written from a reading of ipfs-force-community/damocles
// damocles-worker-util/src/sealcalc.rs at commit
// 4f95dd74d1479f52036f371615de5b3e4ded9d83 (its `calc` and
// `TaskStatus::step`); no code was copied. It returns the finished sectors
// after each minute 0..n-1.
//
// What that file does, as read:
//   - Time runs in whole minutes m = 0, 1, …; each minute visits the stages
//     in the order tree_d, pc1, pc2, wait seed, c2.
//   - A stage's visit first ends its tasks started exactly `minutes` ago
//     (so a 0-minute task never ends), adding them to its done count, then
//     starts as many tasks as it has free concurrency, taking them from the
//     previous stage's done count (tree_d takes from the free sealing
//     threads). Work thus flows down the whole pipeline within one minute.
//   - Waiting for the seed has unlimited concurrency.
//   - Sectors c2 finishes give their sealing threads back after tree_d's
//     visit, so a replacement sector starts in the next minute.
//   - c1 is not modelled.
func sealcalcFinished(p sealcalcParams, n int) []int {
	type stage struct {
		mins, conc, running, done int
		started                   map[int]int // start minute -> tasks
	}
	mk := func(x [2]int) *stage { return &stage{mins: x[0], conc: x[1], started: map[int]int{}} }
	step := func(s *stage, m int, pending *int) int {
		ended := s.started[m-s.mins]
		if s.mins > 0 && ended > 0 {
			delete(s.started, m-s.mins)
			s.running -= ended
			s.done += ended
		} else {
			ended = 0
		}
		if k := min(s.conc-s.running, *pending); k > 0 {
			s.started[m] += k
			s.running += k
			*pending -= k
		}
		return ended
	}
	free := p.threads
	treeD, pc1, pc2, c2 := mk(p.treeD), mk(p.pc1), mk(p.pc2), mk(p.c2)
	seed := mk([2]int{p.seed, int(^uint(0) >> 1)})
	out := make([]int, n)
	for m := 0; m < n; m++ {
		step(treeD, m, &free)
		step(pc1, m, &treeD.done)
		step(pc2, m, &pc1.done)
		step(seed, m, &pc2.done)
		free += step(c2, m, &seed.done)
		out[m] = c2.done
	}
	return out
}

// sealcalcConfig is the config that expresses p for the simulator: one
// processor per stage with p's concurrency, no locks, no limits.
func sealcalcConfig(p sealcalcParams) *config.Config {
	cfg := &config.Config{
		SectorSize: config.SectorSize{Name: "32GiB", Bytes: 32 << 30},
		Simulation: &config.Simulation{
			SealingThreads: p.threads,
			WaitSeed:       time.Duration(p.seed) * time.Minute,
			Durations:      map[config.Stage]time.Duration{},
		},
	}
	for _, x := range []struct {
		st config.Stage
		v  [2]int
	}{{config.StageTreeD, p.treeD}, {config.StagePC1, p.pc1}, {config.StagePC2, p.pc2}, {config.StageC2, p.c2}} {
		cfg.Processors = append(cfg.Processors, config.Processor{
			ID: string(x.st) + ".0", Stage: x.st, Concurrent: x.v[1], Plugin: "p",
		})
		cfg.Simulation.Durations[x.st] = time.Duration(x.v[0]) * time.Minute
	}
	return cfg
}

// TestSealcalcAgreement checks that, without locks or cores, the simulator
// finishes the same number of sectors at every minute as sealcalc. The one
// difference in the models is sealcalc's one-minute turnaround of a sealing
// thread (see sealcalcFinished), which Request.Turnaround expresses.
func TestSealcalcAgreement(t *testing.T) {
	cases := []struct {
		name string
		p    sealcalcParams
		n    int
	}{
		{"damocles example", sealcalcParams{treeD: [2]int{10, 1}, pc1: [2]int{320, 28}, pc2: [2]int{25, 2}, c2: [2]int{18, 2}, seed: 80, threads: 18}, 3 * 24 * 60},
		{"seed machine, table times", sealcalcParams{treeD: [2]int{1, 2}, pc1: [2]int{177, 28}, pc2: [2]int{12, 2}, c2: [2]int{15, 2}, seed: 80, threads: 40}, 3 * 24 * 60},
		{"c2 bottleneck", sealcalcParams{treeD: [2]int{1, 4}, pc1: [2]int{30, 8}, pc2: [2]int{5, 2}, c2: [2]int{20, 1}, seed: 10, threads: 30}, 2000},
		{"threads bound", sealcalcParams{treeD: [2]int{3, 10}, pc1: [2]int{7, 10}, pc2: [2]int{2, 10}, c2: [2]int{4, 10}, seed: 1, threads: 3}, 1000},
		{"one minute each", sealcalcParams{treeD: [2]int{1, 1}, pc1: [2]int{1, 1}, pc2: [2]int{1, 1}, c2: [2]int{1, 1}, seed: 1, threads: 1}, 200},
	}
	rng := rand.New(rand.NewPCG(5, 2))
	r := func(lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
	for i := 0; i < 20; i++ {
		cases = append(cases, struct {
			name string
			p    sealcalcParams
			n    int
		}{fmt.Sprintf("random %d", i), sealcalcParams{
			treeD: [2]int{r(1, 5), r(1, 4)}, pc1: [2]int{r(5, 200), r(1, 30)},
			pc2: [2]int{r(1, 30), r(1, 4)}, c2: [2]int{r(1, 30), r(1, 4)},
			seed: r(1, 90), threads: r(1, 60),
		}, 2 * 24 * 60})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := sealcalcFinished(tc.p, tc.n)
			res, err := Run(Request{
				Config:     sealcalcConfig(tc.p),
				For:        time.Duration(tc.n) * time.Minute,
				Step:       time.Minute,
				Turnaround: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			if want[tc.n-1] == 0 {
				t.Fatalf("parameters finish no sector in %d minutes: the case checks nothing", tc.n)
			}
			for m := 0; m < tc.n; m++ {
				pt := res.Timeline[m]
				if pt.Minute != m {
					t.Fatalf("timeline point %d is minute %d", m, pt.Minute)
				}
				if pt.Finished != want[m] {
					t.Fatalf("minute %d: simulator finished %d sectors, sealcalc %d", m, pt.Finished, want[m])
				}
			}
		})
	}
}

// TestSealcalcTurnaroundMatters shows the agreement test is not vacuous:
// without sealcalc's one-minute turnaround the counts part ways once
// sealing threads are what holds production back.
func TestSealcalcTurnaroundMatters(t *testing.T) {
	p := sealcalcParams{treeD: [2]int{3, 10}, pc1: [2]int{7, 10}, pc2: [2]int{2, 10}, c2: [2]int{4, 10}, seed: 1, threads: 3}
	n := 1000
	want := sealcalcFinished(p, n)
	res, err := Run(Request{Config: sealcalcConfig(p), For: time.Duration(n) * time.Minute, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Timeline[n-1].Finished <= want[n-1] {
		t.Fatalf("with no turnaround the simulator finished %d, sealcalc %d: expected more", res.Timeline[n-1].Finished, want[n-1])
	}
}
