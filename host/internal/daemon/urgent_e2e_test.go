package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// urgentConfig shares one GPU lock between pc2, c2 and winning_post, with
// winning_post urgent; preempt is the arbiter's preempt line, or "".
func urgentConfig(preempt string) string {
	return `
lock "gpu0" {
  capacity = 1
}
arbiter {
  urgent = ["winning_post"]
  ` + preempt + `
}
processor "pc2" {
  plugin = "mock"
  cpuset = "0"
  locks = ["gpu0"]
}
processor "c2" {
  plugin = "mock"
  cpuset = "1"
  locks = ["gpu0"]
}
processor "winning_post" {
  plugin = "mock"
  cpuset = "0"
  locks = ["gpu0"]
}
`
}

// holderOf is the stage holding gpu0 now, or UNSPECIFIED.
func holderOf(st *taskv1.StatusResponse) (sealv1.Stage, *taskv1.LockHolder) {
	for _, l := range st.GetLocks() {
		if l.GetName() == "gpu0" && len(l.GetHolders()) == 1 {
			return l.GetHolders()[0].GetStage(), l.GetHolders()[0]
		}
	}
	return sealv1.Stage_STAGE_UNSPECIFIED, nil
}

func waitingOn(st *taskv1.StatusResponse, stage sealv1.Stage) int32 {
	for _, s := range st.GetStages() {
		if s.GetStage() == stage {
			return s.GetWaiting()
		}
	}
	return 0
}

// TestUrgentWinningPoSt: a winning_post submitted while c2 holds the GPU
// lock and a pc2 waits for it is granted next; with preemption it takes
// the lock from c2 at once, c2 goes back to waiting and then runs again.
// Both show in `host status` and in the metrics.
func TestUrgentWinningPoSt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		preempt string
	}{
		{"granted next", ""},
		{"preempts c2", `preempt = { gpu0 = "100ms" }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHost(t, "-duration c2=2s,pc2=300ms,winning_post=200ms", urgentConfig(tc.preempt), hostOptions{metrics: true})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := inputs(t, 3)

			done := make(chan string, 3)
			errs := make(chan error, 3)
			var c2Rep, wpRep, pc2Rep client.Report
			go func() {
				_, err := h.c.C2(ctx, in.C2, client.WithReport(&c2Rep))
				errs <- err
				done <- "c2"
			}()
			waitFor(t, 10*time.Second, "c2 holding gpu0", func() bool {
				s, _ := holderOf(h.status(t))
				return s == sealv1.Stage_STAGE_C2
			})
			pc2Sent := time.Now()
			go func() {
				_, err := h.c.PC2(ctx, in.PC2, client.WithReport(&pc2Rep))
				errs <- err
				done <- "pc2"
			}()
			waitFor(t, 10*time.Second, "pc2 waiting", func() bool { return waitingOn(h.status(t), sealv1.Stage_STAGE_PC2) == 1 })
			wpSent := time.Now()
			deadline := wpSent.Add(25 * time.Second)
			go func() {
				_, err := h.c.WinningPoSt(ctx, in.WinningPoSt, client.WithReport(&wpRep), client.WithDeadline(deadline))
				errs <- err
				done <- "winning_post"
			}()

			var order []string
			preemptedSeen := false
			for len(order) < 3 {
				select {
				case s := <-done:
					if err := <-errs; err != nil {
						t.Fatalf("%s: %v", s, err)
					}
					order = append(order, s)
				case <-time.After(20 * time.Millisecond):
					st := h.status(t)
					if _, hld := holderOf(st); hld.GetPreempting() {
						preemptedSeen = true
					}
					for _, tk := range st.GetRunning() {
						if tk.GetStage() == sealv1.Stage_STAGE_WINNING_POST && tk.GetDeadlineUnixNano() != deadline.UnixNano() {
							t.Fatalf("status shows deadline %d, sent %d", tk.GetDeadlineUnixNano(), deadline.UnixNano())
						}
						if tk.GetStage() == sealv1.Stage_STAGE_C2 && tk.GetPreemptions() > 0 {
							preemptedSeen = true
						}
					}
				case <-ctx.Done():
					t.Fatalf("tasks did not finish: %v", order)
				}
			}
			// When each got gpu0, from the host's own waits: the lock has
			// one unit, so the winning_post ran (200ms) before pc2 began.
			if wpStart, pc2Start := wpSent.Add(wpRep.Waited), pc2Sent.Add(pc2Rep.Waited); !wpStart.Before(pc2Start) {
				t.Fatalf("pc2 got gpu0 %v after it was sent, the winning_post %v after pc2 was sent: pc2 went first", pc2Rep.Waited, wpStart.Sub(pc2Sent))
			}
			st := h.status(t)
			var c2, wp *taskv1.StageStatus
			for _, s := range st.GetStages() {
				switch s.GetStage() {
				case sealv1.Stage_STAGE_C2:
					c2 = s
				case sealv1.Stage_STAGE_WINNING_POST:
					wp = s
				}
			}
			if !wp.GetUrgent() || c2.GetUrgent() {
				t.Errorf("urgent in status: winning_post %v, c2 %v", wp.GetUrgent(), c2.GetUrgent())
			}
			metrics := scrape(t, h)
			preempted := sumMetric(metrics, "sealhost_tasks_preempted_total")
			if tc.preempt == "" {
				if want := []string{"c2", "winning_post", "pc2"}; order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
					t.Fatalf("finish order %v, want %v", order, want)
				}
				if c2.GetPreempted() != 0 || preempted != 0 || preemptedSeen {
					t.Fatalf("preempted without preemption configured: status %d, metric %v", c2.GetPreempted(), preempted)
				}
				return
			}
			if want := []string{"winning_post", "c2", "pc2"}; order[0] != want[0] {
				t.Fatalf("finish order %v: the winning_post did not preempt c2", order)
			}
			if wait := wpRep.Waited; wait > time.Second {
				t.Errorf("winning_post waited %v with preemption after 100ms", wait)
			}
			if c2.GetPreempted() != 1 || c2.GetPreemptedWorkNanos() <= 0 || !preemptedSeen {
				t.Fatalf("status: c2 preempted %d (work %v), seen while running %v; want 1", c2.GetPreempted(), time.Duration(c2.GetPreemptedWorkNanos()), preemptedSeen)
			}
			if preempted != 1 || sumMetric(metrics, "sealhost_preempted_work_seconds_total") <= 0 {
				t.Fatalf("metrics: %v preempted, want 1\n%s", preempted, grepLines(metrics, "preempt"))
			}
		})
	}
}

// TestPreemptingUntilTheCallEnds: a victim whose plugin ignores the
// cancel (the mock's c2 hangs) keeps its lock, shown "preempting" in
// status, until the host has killed the plugin after CancelGrace (1 s
// here); only then does the winning_post get the GPU. A unit handed over
// at the cancel would run the PoSt beside a c2 still on the GPU.
func TestPreemptingUntilTheCallEnds(t *testing.T) {
	h := startHost(t, "-duration winning_post=200ms -hang c2", urgentConfig(`preempt = { gpu0 = "100ms" }`), hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := inputs(t, 2)

	c2Ctx, stopC2 := context.WithCancel(ctx)
	defer stopC2()
	go h.c.C2(c2Ctx, in.C2) // hangs, preempted, requeued, hangs again: ended by stopC2
	waitFor(t, 10*time.Second, "c2 holding gpu0", func() bool {
		s, _ := holderOf(h.status(t))
		return s == sealv1.Stage_STAGE_C2
	})
	var rep client.Report
	wp := make(chan error, 1)
	go func() {
		_, err := h.c.WinningPoSt(ctx, in.WinningPoSt, client.WithReport(&rep), client.WithDeadline(time.Now().Add(25*time.Second)))
		wp <- err
	}()
	preempting := 0
	for {
		select {
		case err := <-wp:
			if err != nil {
				t.Fatalf("winning_post: %v", err)
			}
			if preempting == 0 {
				t.Fatal("status never showed c2 as preempting while its call went on")
			}
			// The kill comes CancelGrace after the cancel, and the lock
			// only after the kill.
			if rep.Waited < time.Second {
				t.Fatalf("winning_post got gpu0 after %v, before the victim's plugin was killed (CancelGrace 1s)", rep.Waited)
			}
			return
		case <-time.After(20 * time.Millisecond):
			st, hld := holderOf(h.status(t))
			if hld.GetPreempting() {
				if st != sealv1.Stage_STAGE_C2 {
					t.Fatalf("%v shown preempting, want the c2", st)
				}
				preempting++
			}
		case <-ctx.Done():
			t.Fatal("the winning_post never ran")
		}
	}
}
