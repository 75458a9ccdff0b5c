package dispatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/simulate"
)

// farm is the seed's Plan B machine (two pc1 processors of 14, and per GPU
// one pc2 and one c2 sharing a capacity-1 lock) repeated n times, with
// limits scaled alike: n machines' worth of processors under one
// dispatcher, as a fleet simulation or `host suggest` builds them.
func farm(n int) *config.Config {
	cfg := &config.Config{
		SectorSize: config.SectorSize{Name: "32GiB"},
		Limits:     map[config.Stage]int{config.StagePC1: 28 * n, config.StagePC2: 2 * n, config.StageC2: 2 * n},
		Arbiter:    config.Arbiter{Policy: config.PolicyFair},
	}
	count := map[config.Stage]int{}
	add := func(st config.Stage, concurrent int, locks ...string) {
		cfg.Processors = append(cfg.Processors, config.Processor{
			ID: fmt.Sprintf("%s.%d", st, count[st]), Stage: st, Index: count[st], Concurrent: concurrent, Locks: locks,
		})
		count[st]++
	}
	for m := 0; m < n; m++ {
		add(config.StagePC1, 14)
		add(config.StagePC1, 14)
		for g := 0; g < 2; g++ {
			gpu := fmt.Sprintf("gpu%d", 2*m+g)
			cfg.Locks = append(cfg.Locks, config.Lock{Name: gpu, Capacity: 1})
			add(config.StagePC2, 1, gpu)
			add(config.StageC2, 1, gpu)
		}
	}
	return cfg
}

// BenchmarkFarm simulates 30 days of a 1× and of a 4× farm through the
// dispatcher and the arbiter (`host simulate`'s path), one after the other
// in every iteration, so that a load coming and going on a shared machine
// weighs on both alike. A 4× farm seals 4× the sectors, so 4× the events;
// the time ratio (x4-ns/op over x1-ns/op) above 4 is what each event costs
// more with more processors (target: at most 4.5).
func BenchmarkFarm(b *testing.B) {
	reqs := []simulate.Request{
		{Config: farm(1), For: 30 * 24 * time.Hour, Step: time.Hour},
		{Config: farm(4), For: 30 * 24 * time.Hour, Step: time.Hour},
	}
	var took [2]time.Duration
	b.ReportAllocs()
	for b.Loop() {
		for i, req := range reqs {
			start := time.Now()
			if _, err := simulate.Run(req); err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(took[0].Nanoseconds())/float64(b.N), "x1-ns/op")
	b.ReportMetric(float64(took[1].Nanoseconds())/float64(b.N), "x4-ns/op")
	b.ReportMetric(float64(took[1])/float64(took[0]), "ratio")
}

// TestFarmScales checks the benchmark's premise: the 4× farm seals about 4×
// the sectors of the 1× farm, so equal time per event means 4× the time.
func TestFarmScales(t *testing.T) {
	var got [2]int
	for i, n := range []int{1, 4} {
		r, err := simulate.Run(simulate.Request{Config: farm(n), For: 30 * 24 * time.Hour, Step: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		got[i] = r.Finished
	}
	if got[0] == 0 || got[1] < 4*got[0]-8 || got[1] > 4*got[0]+8 {
		t.Fatalf("1× farm sealed %d sectors, 4× farm %d: want about 4×", got[0], got[1])
	}
}
