package simulate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/dispatch"
)

// PoStStats sums up one PoSt stage of the post block's workload. Waits are
// in seconds (a WinningPoSt has seconds): from submission to the start of
// the run that finished, or, for a task unfinished at the end, to its
// start or to the end.
type PoStStats struct {
	// Urgent says the stage is in the arbiter's urgent class.
	Urgent bool `json:"urgent"`
	// The workload: a WindowPoSt deadline opens every EveryMinutes with
	// Partitions tasks; WinningPoSt wins PerDay blocks a day on average.
	EveryMinutes float64 `json:"every_minutes,omitempty"`
	Partitions   int     `json:"partitions,omitempty"`
	PerDay       float64 `json:"per_day,omitempty"`
	// Minutes is a task's duration, DeadlineMinutes the time from its
	// submission by which it must finish; Source says where Minutes came
	// from.
	Minutes         float64 `json:"minutes"`
	DeadlineMinutes float64 `json:"deadline_minutes"`
	Source          string  `json:"source"`
	Submitted       int     `json:"submitted"`
	Done            int     `json:"done"`
	// Missed counts tasks that finished after their deadline or were
	// unfinished at the end with the deadline passed; Pending those
	// unfinished at the end with the deadline still ahead.
	Missed         int     `json:"missed"`
	Pending        int     `json:"pending"`
	WaitP50Seconds float64 `json:"wait_p50_seconds"`
	WaitP99Seconds float64 `json:"wait_p99_seconds"`
	WaitMaxSeconds float64 `json:"wait_max_seconds"`
}

// Preemption is what preemption for urgent work cost one stage: the tasks
// cancelled (each resubmitted and run again from the start) and the work
// they had done, lost.
type Preemption struct {
	Tasks       int     `json:"tasks"`
	LostMinutes float64 `json:"lost_minutes"`
}

// postJob is one PoSt task: its times are since the start of the run.
type postJob struct {
	step      *step
	submitted time.Duration
	deadline  time.Duration
}

// hold is a running dispatched task: the processor it holds, since when,
// and what it is for (a sector's stage, or a PoSt job).
type hold struct {
	proc  string
	start time.Duration
	sec   *sector
	job   *postJob
}

// postWorkload is the post block as the simulator runs it.
type postWorkload struct {
	cfg     config.PoSt
	window  *step // nil when off
	winning *step
	rng     *rand.Rand
	jobs    map[dispatch.TaskID]*postJob // waiting for a processor
}

// epoch30 is the chain's epoch: a WinningPoSt is won at the start of one.
const epoch30 = 30 * time.Second

// buildPoSt sets up the post block's workload, if any: which stages it
// submits to, their durations, and the first of their events. A PoSt stage
// the block asks for must have processors, or nothing would run it.
func (s *sim) buildPoSt() error {
	cfg := s.req.Config
	var pc config.PoSt
	if cfg.Simulation != nil && cfg.Simulation.Post != nil {
		pc = *cfg.Simulation.Post
	} else {
		// PoSt processors and no post block: simulate what is
		// configured, with the default workload for the stages served
		// (said in Defaults), rather than leave GPUs PoSt shares as if
		// they sealed only.
		window, winning := s.core.Serves(config.StageWindowPoSt), s.core.Serves(config.StageWinningPoSt)
		if !window && !winning {
			return nil
		}
		pc = config.DefaultPoSt()
		if !window {
			pc.WindowPartitions = 0
		}
		if !winning {
			pc.WinningPerDay = 0
		}
		s.res.postImplicit = &pc
	}
	// A fixed seed: the same config always wins the same epochs, so runs
	// compare (and the result is the same byte for byte).
	w := &postWorkload{cfg: pc, rng: rand.New(rand.NewPCG(13, 2880)), jobs: map[dispatch.TaskID]*postJob{}}
	s.post = w
	table, haveTable := BuiltinTable(cfg.SectorSize.Name)
	mk := func(stage config.Stage, off string) (*step, error) {
		if !s.core.Serves(stage) {
			return nil, fmt.Errorf("simulate: %s: the simulation block's post block asks for %s tasks, but no processor serves %s: add a processor %q block, or set %s to turn it off",
				pc.Range.String(), stage, stage, stage, off)
		}
		st := &step{name: string(stage), mode: Dispatched, stage: stage, capacity: s.core.Capacity(stage)}
		if d, ok := simDuration(cfg, stage); ok {
			st.duration = d
		} else if d, ok := table.Durations[stage]; ok && haveTable {
			st.duration = d
		} else {
			return nil, fmt.Errorf("simulate: %s: no duration for %s: no built-in table for sector size %q; give one in the simulation block's durations", pc.Range.String(), stage, cfg.SectorSize.Name)
		}
		s.postSteps = append(s.postSteps, st)
		s.postByName[stage] = st
		return st, nil
	}
	var err error
	if pc.WindowPartitions > 0 {
		if w.window, err = mk(config.StageWindowPoSt, "window_post_partitions = 0"); err != nil {
			return err
		}
		w.window.deadline = pc.WindowDeadline
		s.push(event{at: 0, kind: evWindow})
	}
	if pc.WinningPerDay > 0 {
		if w.winning, err = mk(config.StageWinningPoSt, "winning_post_per_day = 0"); err != nil {
			return err
		}
		w.winning.deadline = pc.WinningDeadline
		s.nextWin(-1)
	}
	return nil
}

// nextWin schedules the next won epoch after epoch last: each epoch is won
// with probability per_day ÷ 2880, on its own.
func (s *sim) nextWin(last int64) {
	w := s.post
	p := w.cfg.WinningPerDay / config.EpochsPerDay
	end := int64(s.req.For / epoch30)
	for e := last + 1; e < end; e++ {
		if w.rng.Float64() < p {
			s.push(event{at: time.Duration(e) * epoch30, kind: evWinning})
			return
		}
	}
}

// submitPoSt queues one PoSt task of st, due st.deadline from now.
func (s *sim) submitPoSt(st *step) {
	j := &postJob{step: st, submitted: s.now, deadline: s.now + st.deadline}
	st.submitted++
	st.waiting++
	id, err := s.core.SubmitDeadline(st.stage, epoch.Add(j.deadline))
	if err != nil {
		s.fail(err)
		return
	}
	s.post.jobs[id] = j
	s.drain()
}

// onWindow opens a WindowPoSt deadline: one task per partition, and the
// next opening one period later.
func (s *sim) onWindow() {
	w := s.post
	for range w.cfg.WindowPartitions {
		s.submitPoSt(w.window)
	}
	if next := s.now + w.cfg.WindowEvery; next < s.req.For {
		s.push(event{at: next, kind: evWindow})
	}
}

func (s *sim) onWinning() {
	s.submitPoSt(s.post.winning)
	s.nextWin(int64(s.now / epoch30))
}

// endPoSt is a PoSt task finishing.
func (s *sim) endPoSt(h *hold) {
	st := h.job.step
	st.running--
	st.done++
	st.waits = append(st.waits, h.start-h.job.submitted)
	if s.now > h.job.deadline {
		st.missed++
	}
}

// preemptVictims carries out the preemptions the dispatcher reported: as
// the real host's holder would, it cancels each victim (its work so far is
// lost), which frees its locks for the urgent task, and submits it again.
// The resubmitted sector stage waits again, and that wait counts in the
// stage's waits too.
func (s *sim) preemptVictims() {
	for len(s.victims) > 0 && s.err == nil {
		id := s.victims[0]
		s.victims = s.victims[1:]
		h := s.holders[id]
		if h == nil {
			continue // ended at this very instant
		}
		st := s.stepOf(s.procStage[h.proc])
		s.unhold(id)
		// Not a task of the bound's split: its task starts again, maybe
		// elsewhere, and counting both would weigh this processor's share
		// with work its lock never finished (the bound then fell short of
		// the run by half a percent).
		s.starts[h.proc]--
		if !s.core.Cancel(id) {
			s.fail(fmt.Errorf("preempted task %d of %s was not running", id, st.name))
			return
		}
		st.running--
		p := s.preempted[st.name]
		if p == nil {
			p = &preempted{}
			s.preempted[st.name] = p
		}
		p.tasks++
		p.lost += s.now - h.start
		st.waiting++
		var nid dispatch.TaskID
		var err error
		if h.job != nil {
			nid, err = s.core.SubmitDeadline(st.stage, epoch.Add(h.job.deadline))
			s.post.jobs[nid] = h.job
		} else {
			h.sec.waiting = s.now
			nid, err = s.core.Submit(st.stage)
			s.tasks[nid] = h.sec
		}
		if err != nil {
			s.fail(err)
			return
		}
		s.drain()
	}
}

type preempted struct {
	tasks int
	lost  time.Duration
}

// stepOf is the step of a dispatched stage: a sector's, or a PoSt one.
func (s *sim) stepOf(stage config.Stage) *step {
	if st := s.byName[stage]; st != nil {
		return st
	}
	return s.postByName[stage]
}

// summarisePoSt fills the result's PoSt and Preempted parts, and checks
// the preemptions carried out against the arbiter's own count of them.
func (s *sim) summarisePoSt() error {
	r, span := s.res, s.req.For
	cfg := s.req.Config
	unfinished := func(j *postJob, wait time.Duration) {
		j.step.waits = append(j.step.waits, wait)
		if j.deadline <= span {
			j.step.missed++
		} else {
			j.step.pending++
		}
	}
	if s.post != nil {
		for _, j := range s.post.jobs {
			unfinished(j, span-j.submitted)
		}
	}
	for _, h := range s.holders {
		if h.job != nil {
			unfinished(h.job, h.start-h.job.submitted)
		}
	}
	for _, st := range s.postSteps {
		ps := &PoStStats{
			Urgent:  slices.Contains(cfg.Arbiter.Urgent, st.stage),
			Minutes: st.duration.Minutes(), DeadlineMinutes: st.deadline.Minutes(),
			Source:    postSource(cfg, st.stage),
			Submitted: st.submitted, Done: st.done, Missed: st.missed, Pending: st.pending,
		}
		if st == s.post.window {
			ps.EveryMinutes, ps.Partitions = s.post.cfg.WindowEvery.Minutes(), s.post.cfg.WindowPartitions
		} else {
			ps.PerDay = s.post.cfg.WinningPerDay
		}
		if p50, p99, most, ok := waitQuantiles(st.waits); ok {
			ps.WaitP50Seconds, ps.WaitP99Seconds, ps.WaitMaxSeconds = seconds(p50), seconds(p99), seconds(most)
		}
		if r.PoSt == nil {
			r.PoSt = map[string]*PoStStats{}
		}
		r.PoSt[st.name] = ps
	}
	for name, p := range s.preempted {
		if r.Preempted == nil {
			r.Preempted = map[string]*Preemption{}
		}
		r.Preempted[name] = &Preemption{Tasks: p.tasks, LostMinutes: minutes(p.lost)}
	}
	if s.arb == nil {
		return nil
	}
	for name, as := range s.arb.Stats().Stages {
		p := s.preempted[name]
		if p == nil {
			p = &preempted{}
		}
		if as.Preempted != p.tasks || as.PreemptedWork != p.lost {
			return fmt.Errorf("simulate: internal error: the arbiter chose %d %s tasks to preempt (%s of work), the simulation cancelled %d (%s)",
				as.Preempted, name, as.PreemptedWork, p.tasks, p.lost)
		}
	}
	return nil
}

func postSource(cfg *config.Config, stage config.Stage) string {
	if _, ok := simDuration(cfg, stage); ok {
		return "simulation block"
	}
	t, _ := BuiltinTable(cfg.SectorSize.Name)
	if t.OtherSource != "" {
		return "built-in table: " + t.OtherSource
	}
	return "built-in table: " + t.Source
}

// seconds rounds to a millisecond.
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// postJobs takes the PoSt job of a task that starts, or nil for a
// sector's task.
func (s *sim) postJobs(id dispatch.TaskID) *postJob {
	if s.post == nil {
		return nil
	}
	j := s.post.jobs[id]
	delete(s.post.jobs, id)
	return j
}

// postDefaults is defaults' part for the PoSt workload: durations the
// built-in table gave it.
func postDefaults(cfg *config.Config, r *Result) []string {
	var builtin []string
	var out []string
	if p := r.postImplicit; p != nil {
		var what []string
		if p.WindowPartitions > 0 {
			what = append(what, fmt.Sprintf("a WindowPoSt of %d partition(s) every %s min, due within %s min", p.WindowPartitions, trimFloat(p.WindowEvery.Minutes()), trimFloat(p.WindowDeadline.Minutes())))
		}
		if p.WinningPerDay > 0 {
			what = append(what, fmt.Sprintf("%s WinningPoSt a day, due within %s s", trimFloat(p.WinningPerDay), trimFloat(p.WinningDeadline.Seconds())))
		}
		out = append(out, fmt.Sprintf("PoSt workload: the config has PoSt processors and no post block, so the default one: %s (simulation { post { ... } } sets it; window_post_partitions = 0 or winning_post_per_day = 0 turns one off)", strings.Join(what, "; ")))
	}
	for _, name := range r.postStages() {
		if _, given := simDuration(cfg, config.Stage(name)); !given {
			builtin = append(builtin, fmt.Sprintf("%s %s min", name, trimFloat(r.PoSt[name].Minutes)))
		}
	}
	if len(builtin) == 0 {
		return out
	}
	src := strings.TrimPrefix(postSource(cfg, config.Stage(r.postStages()[0])), "built-in table: ")
	return append(out, fmt.Sprintf("PoSt durations from the built-in table (%s): %s", src, strings.Join(builtin, ", ")))
}

// postPerDay is the PoSt tasks of st the workload submits a day.
func (s *sim) postPerDay(st *step) float64 {
	w := s.post
	if st == w.window {
		return float64(w.cfg.WindowPartitions) * float64(24*time.Hour) / float64(w.cfg.WindowEvery)
	}
	return w.cfg.WinningPerDay
}

// simDuration is the simulation block's duration for stage, if it has one.
func simDuration(cfg *config.Config, stage config.Stage) (time.Duration, bool) {
	if cfg.Simulation == nil {
		return 0, false
	}
	d, ok := cfg.Simulation.Durations[stage]
	return d, ok
}
