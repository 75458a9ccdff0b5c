package dispatch

import (
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
)

// postRig shares one gpu between pc2, c2 and the PoSt stages, with
// winning_post and window_post urgent and, when preempt > 0, the gpu
// preempted for them after that long.
func postRig(t *testing.T, preempt time.Duration) (*Core, *arbiter.ManualClock, *[]Start, *[]TaskID) {
	t.Helper()
	clock := arbiter.NewManualClock(t0)
	acfg := arbiter.Config{Locks: map[string]int{"gpu": 1}, Urgent: []string{"winning_post", "window_post"}, Clock: clock}
	if preempt > 0 {
		acfg.Preempt = map[string]time.Duration{"gpu": preempt}
	}
	a, err := arbiter.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Preempt: preempt > 0}
	for _, st := range []config.Stage{"pc2", "c2", "winning_post", "window_post"} {
		spec.Processors = append(spec.Processors, Processor{ID: string(st) + ".0", Stage: st, Locks: []string{"gpu"}})
	}
	var starts []Start
	var victims []TaskID
	c, err := NewCore(spec, NewArbiterLocker(a), clock, func(s Start) { starts = append(starts, s) })
	if err != nil {
		t.Fatal(err)
	}
	c.OnPreempt(func(id TaskID) { victims = append(victims, id) })
	return c, clock, &starts, &victims
}

func TestUrgentThroughTheCore(t *testing.T) {
	for _, preempt := range []time.Duration{0, 20 * time.Second} {
		t.Run("preempt="+preempt.String(), func(t *testing.T) {
			c, clock, starts, victims := postRig(t, preempt)
			c2, _ := c.Submit("c2")
			if len(*starts) != 1 {
				t.Fatalf("c2 did not start: %v", *starts)
			}
			c.Submit("pc2")
			clock.Advance(time.Second)
			wp, _ := c.SubmitDeadline("winning_post", clock.Now().Add(25*time.Second))
			if len(*starts) != 1 {
				t.Fatalf("started with the gpu held: %v", *starts)
			}
			at, ok := c.Wake()
			if preempt == 0 {
				if ok {
					t.Fatalf("wake at %v with no preemption", at)
				}
				clock.Advance(5 * time.Minute)
			} else {
				if want := t0.Add(time.Second + preempt); !ok || !at.Equal(want) {
					t.Fatalf("wake %v %v, want the preemption bound %v", at, ok, want)
				}
				clock.Set(at)
				c.Tick()
				if len(*victims) != 1 || (*victims)[0] != c2 {
					t.Fatalf("victims %v, want c2's task %d", *victims, c2)
				}
				c.Tick()
				if len(*victims) != 1 {
					t.Fatalf("victim reported twice: %v", *victims)
				}
			}
			c.Release(c2)
			if len(*starts) != 2 || (*starts)[1].Task != wp {
				t.Fatalf("after c2: starts %v, want winning_post (%d) next, before the waiting pc2", *starts, wp)
			}
			if preempt == 0 && len(*victims) != 0 {
				t.Fatalf("victims without preemption: %v", *victims)
			}
		})
	}
}

// A stage's waiting tasks start by deadline, those without one last.
func TestDeadlineOrderInAStage(t *testing.T) {
	c, clock, starts, _ := postRig(t, 0)
	hold, _ := c.Submit("c2")
	ids := map[TaskID]string{}
	for _, d := range []struct {
		name string
		in   time.Duration
	}{{"none", 0}, {"late", time.Hour}, {"early", time.Minute}, {"none2", 0}, {"mid", 30 * time.Minute}} {
		var dl time.Time
		if d.in > 0 {
			dl = clock.Now().Add(d.in)
		}
		id, _ := c.SubmitDeadline("window_post", dl)
		ids[id] = d.name
	}
	var order []string
	for range ids {
		c.Release(hold)
		last := (*starts)[len(*starts)-1]
		order = append(order, ids[last.Task])
		hold = last.Task
	}
	want := []string{"early", "mid", "late", "none", "none2"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}
