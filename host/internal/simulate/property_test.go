package simulate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// TestRandomConfigs simulates random configs (processors, concurrency,
// limits, staggers, shared locks, weights, durations, policies) and checks
// what must hold whatever the config: every sector in flight is running or
// waiting somewhere, so with no turnaround they add up to the sealing
// threads at every timeline point; no stage runs more than its capacity; a
// lock's shares add up to one; finished counts never fall; and a second run
// gives the same result.
func TestRandomConfigs(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 40
	}
	for seed := 0; seed < n; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 3))
			cfg := randomConfig(rng)
			policy := []config.Policy{config.PolicyFair, config.PolicyFIFO, config.PolicyGreedy}[rng.IntN(3)]
			req := Request{Config: cfg, Policy: policy, For: 2 * 24 * time.Hour, Step: time.Duration(1+rng.IntN(90)) * time.Minute}
			r := run(t, req)
			capacity := map[string]int{}
			for _, p := range r.Pipeline {
				capacity[p.Stage] = p.Capacity
			}
			prev := 0
			for _, p := range r.Timeline {
				inFlight := 0
				for st, n := range p.Running {
					inFlight += n
					if c := capacity[st]; c > 0 && n > c {
						t.Fatalf("minute %d: %s runs %d over its capacity %d", p.Minute, st, n, c)
					}
				}
				for _, n := range p.Waiting {
					inFlight += n
				}
				if inFlight != r.SealingThreads {
					t.Fatalf("minute %d: %d sectors running or waiting, %d sealing threads", p.Minute, inFlight, r.SealingThreads)
				}
				if p.Finished < prev {
					t.Fatalf("minute %d: finished fell from %d to %d", p.Minute, prev, p.Finished)
				}
				prev = p.Finished
			}
			if prev != r.Finished && r.Minutes%int(req.Step/time.Minute) == 0 {
				t.Fatalf("last point says %d finished, result %d", prev, r.Finished)
			}
			for name, l := range r.Locks {
				sum := 0.0
				for _, s := range l.Share {
					sum += s
				}
				if l.BusyFraction > 0 && (sum < 0.999 || sum > 1.001) {
					t.Fatalf("lock %s: shares add up to %v", name, sum)
				}
				if l.BusyFraction > 1.000001 {
					t.Fatalf("lock %s busy %v", name, l.BusyFraction)
				}
			}
			if a, b := encode(t, r), encode(t, run(t, req)); string(a) != string(b) {
				t.Fatal("a second run differs")
			}
		})
	}
}

func randomConfig(rng *rand.Rand) *config.Config {
	cfg := &config.Config{
		SectorSize: config.SectorSize{Name: "32GiB"},
		Limits:     map[config.Stage]int{},
		Stagger:    map[config.Stage]time.Duration{},
		Arbiter:    config.Arbiter{Weights: map[config.Stage]float64{}},
		Simulation: &config.Simulation{
			SealingThreads: 1 + rng.IntN(60),
			WaitSeed:       time.Duration(rng.IntN(90)) * time.Minute,
			Durations:      map[config.Stage]time.Duration{},
		},
	}
	nLocks := rng.IntN(3)
	for i := 0; i < nLocks; i++ {
		cfg.Locks = append(cfg.Locks, config.Lock{Name: fmt.Sprintf("gpu%d", i), Capacity: 1 + rng.IntN(2)})
	}
	for _, st := range config.Stages {
		n := rng.IntN(3)
		if st == config.StagePC1 {
			n = 1 + rng.IntN(2) // something must take time
		}
		for i := 0; i < n; i++ {
			p := config.Processor{ID: fmt.Sprintf("%s.%d", st, i), Stage: st, Index: i, Concurrent: 1 + rng.IntN(8)}
			for _, l := range cfg.Locks {
				if rng.IntN(2) == 0 {
					p.Locks = append(p.Locks, l.Name)
				}
			}
			cfg.Processors = append(cfg.Processors, p)
		}
		if rng.IntN(2) == 0 {
			cfg.Simulation.Durations[st] = time.Duration(1+rng.IntN(200)) * time.Minute
		}
		if rng.IntN(3) == 0 {
			cfg.Limits[st] = 1 + rng.IntN(10)
		}
		if rng.IntN(4) == 0 {
			cfg.Stagger[st] = time.Duration(rng.IntN(20)) * time.Minute
		}
		if rng.IntN(3) == 0 {
			cfg.Arbiter.Weights[st] = 0.5 + 3*rng.Float64()
		}
	}
	return cfg
}
