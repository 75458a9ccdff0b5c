package simulate

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/dispatch"
	"github.com/sealhost/sealhost/host/internal/plan"
)

// StageWaitSeed names the wait for the chain's seed between pc2 and c1 in
// output; it is not a config stage (nothing runs, every sector just waits).
const StageWaitSeed = "wait_seed"

// Request is what to simulate.
type Request struct {
	Config *config.Config
	// For is the simulated span; 0 means 30 days, sealcalc's default.
	For time.Duration
	// Step is the timeline's sampling interval; 0 means 60 minutes. It must
	// be a whole number of minutes.
	Step time.Duration
	// Policy overrides the config's arbiter policy when not empty.
	Policy config.Policy
	// Turnaround is the time between a sector finishing and its sealing
	// thread starting the next one. The default 0 admits the next sector at
	// once; sealcalc's minute loop admits it one minute later (see
	// sealcalc_test.go), which Turnaround = time.Minute reproduces.
	Turnaround time.Duration
	// Plan, the config placed on its machine, adds the GPUs' and memory's
	// limits to the result's Bound; nil leaves them out.
	Plan *plan.Plan
}

// maxPoints bounds the timeline so a typo such as -for 3650d -step 1m
// cannot exhaust memory.
const maxPoints = 1_000_000

// Mode says how the simulator runs a stage.
type Mode string

const (
	// Dispatched stages run on their processors through the dispatcher and
	// the lock arbiter.
	Dispatched Mode = "processors"
	// InWorker stages have a duration but no processor: they run inside the
	// sealing thread with no limit, as c1 does in damocles-worker.
	InWorker Mode = "in-worker"
	// Skipped stages have neither processor nor duration.
	Skipped Mode = "skipped"
)

// Plan is how each stage is simulated, decided from the config before the
// run: it is part of the result so an operator sees what was assumed.
type Plan struct {
	Stage    string  `json:"stage"`
	Mode     Mode    `json:"mode"`
	Minutes  float64 `json:"minutes"`
	Capacity int     `json:"capacity,omitempty"` // 0 for unlimited
	Source   string  `json:"source,omitempty"`
}

// Result is the outcome of a simulation. Its JSON form is `host simulate
// -json`'s output.
type Result struct {
	SectorSize     string `json:"sector_size"`
	Policy         string `json:"policy"`
	Minutes        int    `json:"minutes"`
	StepMinutes    int    `json:"step_minutes"`
	SealingThreads int    `json:"sealing_threads"`
	// TurnaroundMinutes is Request.Turnaround.
	TurnaroundMinutes float64 `json:"turnaround_minutes"`
	Pipeline          []Plan  `json:"pipeline"`
	Finished          int     `json:"finished"`
	SectorsPerDay     float64 `json:"sectors_per_day"`

	// Bound is what the layout's resources allow at most, which of them
	// binds, and the fraction of it the run achieved.
	Bound *Bound `json:"bound"`
	// Defaults lists what the simulator assumed because the config did not
	// say, each as a sentence.
	Defaults []string `json:"defaults"`

	Timeline []Point                `json:"timeline"`
	Stages   map[string]*StageStats `json:"stages"`
	Locks    map[string]*LockStats  `json:"locks"`

	// PoSt is, per PoSt stage, the post block's workload and how it fared:
	// waits, missed deadlines. Absent without a post block.
	PoSt map[string]*PoStStats `json:"post,omitempty"`
	// Preempted is, per stage whose tasks were preempted for urgent work,
	// how many and the work lost. Absent when none was.
	Preempted map[string]*Preemption `json:"preempted,omitempty"`
	// postImplicit is the default PoSt workload run for a config with
	// PoSt processors and no post block; nil otherwise.
	postImplicit *config.PoSt

	// Held is, per timeline point after the first, per lock and stage, the
	// fraction of the lock's capacity-time over the step just ended that the
	// stage held. It is what the SVG draws; kept out of the JSON for size.
	Held []map[string]map[string]float64 `json:"-"`
}

// Point is the state at the end of a timeline minute: everything that
// happened up to and including that minute counts.
type Point struct {
	Minute   int            `json:"minute"`
	Finished int            `json:"finished"`
	Running  map[string]int `json:"running"`
	Waiting  map[string]int `json:"waiting"`
}

// StageStats sums up one stage over the run. Waits include tasks still
// waiting when the run ends, counted up to the end: a starved stage's
// wait shows as long, not as absent.
type StageStats struct {
	Done int `json:"done"`
	// Utilization is the mean fraction of the stage's capacity in use; nil
	// for a stage without a limit.
	Utilization    *float64 `json:"utilization"`
	WaitP50Minutes float64  `json:"wait_p50_minutes"`
	WaitP99Minutes float64  `json:"wait_p99_minutes"`
	WaitMaxMinutes float64  `json:"wait_max_minutes"`
	// Backlog is the number of tasks waiting for a processor, over the
	// timeline's points: mean, most, and at the end (0 for stages that do
	// not queue).
	BacklogMean float64 `json:"backlog_mean"`
	BacklogMax  int     `json:"backlog_max"`
	BacklogEnd  int     `json:"backlog_end"`
}

// LockStats sums up one lock over the run.
type LockStats struct {
	Capacity int `json:"capacity"`
	// BusyFraction is held capacity-time over capacity × run time.
	BusyFraction float64 `json:"busy_fraction"`
	// IdleWhileWaitingMinutes is the time the lock had a free unit while a
	// task that needed it (and whose other locks, processor slot, stage
	// limit and stagger were free) waited. A work-conserving arbiter keeps
	// it at 0 outside its bounded reservation.
	IdleWhileWaitingMinutes float64 `json:"idle_while_waiting_minutes"`
	// Share is each stage's held capacity-time over capacity × run time;
	// the shares add up to BusyFraction.
	Share map[string]float64 `json:"share"`
	// Grants counts tasks that held the lock, per stage.
	Grants map[string]int `json:"grants"`
}

type eventKind uint8

const (
	evEnd     eventKind = iota // a stage of a sector ends
	evEnter                    // a sealing thread starts a new sector
	evWake                     // the dispatcher's stagger or preemption wake-up
	evWindow                   // a WindowPoSt deadline opens
	evWinning                  // a block is won: a WinningPoSt is due
	evSample                   // a timeline point; sorts after everything at its time
)

type event struct {
	at   time.Duration // since the start
	kind eventKind
	seq  uint64
	sec  *sector
	job  *postJob
	task dispatch.TaskID
}

// eventQueue is a binary min-heap of events, typed so pushing an event
// does not box it.
type eventQueue []event

func (q eventQueue) less(i, j int) bool {
	a, b := &q[i], &q[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if (a.kind == evSample) != (b.kind == evSample) {
		return b.kind == evSample
	}
	return a.seq < b.seq
}

func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

type sector struct {
	stage   int           // index into sim.steps
	waiting time.Duration // when it began waiting for its current stage
}

// step is one stage of the pipeline as simulated.
type step struct {
	name     string
	mode     Mode
	stage    config.Stage // "" for wait_seed
	duration time.Duration
	capacity int

	running, waiting int
	done             int
	busy             time.Duration // running × time, summed
	waits            []time.Duration

	// PoSt steps only: the time a task has from submission to finish, and
	// its tasks submitted, late, and unfinished with time left at the end.
	deadline                   time.Duration
	submitted, missed, pending int
}

// virtualClock is the simulation's clock: it reads whatever the event loop
// last set, so the dispatcher and arbiter run on simulated time.
type virtualClock struct{ t time.Time }

func (c *virtualClock) Now() time.Time { return c.t }

// epoch is where virtual time starts; any fixed instant would do.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type lockState struct {
	name     string
	capacity int
	held     int
	byStage  map[string]int
	heldTime map[string]time.Duration
	bucket   map[string]time.Duration
	idle     time.Duration
	grants   map[string]int
	// since is when heldTime and bucket were last brought up to date:
	// a lock's hold times are integrated when its holders change (and at
	// samples and the end), not at every event of the whole farm, which
	// made a farm 4× larger cost far more than 4× the time.
	since time.Duration
}

// settle integrates l's hold times up to now; call it before its holders
// change.
func (s *sim) settle(l *lockState) {
	if dt := s.now - l.since; dt > 0 {
		for name, n := range l.byStage {
			if n > 0 {
				l.heldTime[name] += time.Duration(n) * dt
				l.bucket[name] += time.Duration(n) * dt
			}
		}
	}
	l.since = s.now
}

type sim struct {
	req       Request
	clock     *virtualClock
	now       time.Duration
	core      *dispatch.Core
	steps     []*step
	byName    map[config.Stage]*step
	procs     map[string][]*lockState // processor id -> its locks
	procStage map[string]config.Stage
	locks     []*lockState
	queue     eventQueue
	seq       uint64

	started []dispatch.Start
	tasks   map[dispatch.TaskID]*sector // waiting for a processor
	holders map[dispatch.TaskID]*hold   // running
	starts  map[string]int              // tasks started and not preempted, per processor
	arb     *arbiter.Arbiter
	locker  *dispatch.ArbiterLocker

	// The post block's workload (nil without one), its steps, and the
	// preemptions the dispatcher reported and the simulation carried out.
	post       *postWorkload
	postSteps  []*step
	postByName map[config.Stage]*step
	victims    []dispatch.TaskID
	preempted  map[string]*preempted
	// wakes are the wake-up times queued, so each is queued once.
	wakes map[time.Duration]bool

	finished int
	res      *Result
	err      error // the first internal error; stops the run
}

func (s *sim) fail(err error) {
	if err != nil && s.err == nil {
		s.err = err
	}
}

// Run simulates req. It is deterministic: the same request gives the same
// result, byte for byte once encoded.
func Run(req Request) (*Result, error) {
	cfg := req.Config
	if cfg == nil {
		return nil, fmt.Errorf("simulate: no config")
	}
	if req.For == 0 {
		req.For = 30 * 24 * time.Hour
	}
	if req.Step == 0 {
		req.Step = time.Hour
	}
	if req.For < 0 || req.For%time.Minute != 0 {
		return nil, fmt.Errorf("simulate: the span %s is not a positive whole number of minutes", req.For)
	}
	if req.Step <= 0 || req.Step%time.Minute != 0 {
		return nil, fmt.Errorf("simulate: the step %s is not a positive whole number of minutes", req.Step)
	}
	if points := req.For / req.Step; points > maxPoints {
		return nil, fmt.Errorf("simulate: %s in steps of %s makes %d timeline points, more than %d; take a longer step", req.For, req.Step, points, maxPoints)
	}
	if req.Turnaround < 0 {
		return nil, fmt.Errorf("simulate: negative turnaround %s", req.Turnaround)
	}
	policy := cfg.Arbiter.Policy
	if req.Policy != "" {
		policy = req.Policy
	}
	if policy == "" {
		policy = config.PolicyFair
	}
	switch policy {
	case config.PolicyFair, config.PolicyFIFO, config.PolicyGreedy:
	default:
		return nil, fmt.Errorf("simulate: unknown policy %q: use fair, fifo or greedy", policy)
	}

	s := &sim{
		req:        req,
		clock:      &virtualClock{t: epoch},
		byName:     map[config.Stage]*step{},
		procs:      map[string][]*lockState{},
		procStage:  map[string]config.Stage{},
		tasks:      map[dispatch.TaskID]*sector{},
		holders:    map[dispatch.TaskID]*hold{},
		starts:     map[string]int{},
		postByName: map[config.Stage]*step{},
		preempted:  map[string]*preempted{},
		wakes:      map[time.Duration]bool{},
	}
	if err := s.newLocker(policy); err != nil {
		return nil, err
	}
	var locker dispatch.Locker
	if s.locker != nil {
		locker = s.locker
	}
	core, err := dispatch.NewCore(dispatch.SpecFromConfig(cfg), locker, s.clock, func(st dispatch.Start) {
		s.started = append(s.started, st)
	})
	if err != nil {
		return nil, err
	}
	s.core = core
	core.OnPreempt(func(id dispatch.TaskID) { s.victims = append(s.victims, id) })
	if err := s.buildPipeline(); err != nil {
		return nil, err
	}
	var cycle time.Duration
	for _, st := range s.steps {
		if st.mode != Skipped {
			cycle += st.duration
		}
	}
	if cycle+req.Turnaround == 0 {
		return nil, fmt.Errorf("simulate: every simulated stage takes no time, so a sector would finish endlessly without time passing; give the stages durations in the simulation block")
	}
	threads := sealingThreads(cfg, s.steps)
	s.res = &Result{
		SectorSize:        cfg.SectorSize.Name,
		Policy:            string(policy),
		Minutes:           int(req.For / time.Minute),
		StepMinutes:       int(req.Step / time.Minute),
		SealingThreads:    threads,
		TurnaroundMinutes: req.Turnaround.Minutes(),
		Stages:            map[string]*StageStats{},
		Locks:             map[string]*LockStats{},
	}
	for _, st := range s.steps {
		s.res.Pipeline = append(s.res.Pipeline, Plan{
			Stage: st.name, Mode: st.mode, Minutes: st.duration.Minutes(), Capacity: st.capacity,
			Source: durationSource(cfg, st),
		})
	}
	names := make([]string, 0, len(cfg.Locks))
	for _, l := range cfg.Locks {
		names = append(names, l.Name)
	}
	sort.Strings(names)
	byLock := map[string]*lockState{}
	for _, l := range cfg.Locks {
		byLock[l.Name] = &lockState{name: l.Name, capacity: max(l.Capacity, 1),
			byStage: map[string]int{}, heldTime: map[string]time.Duration{},
			bucket: map[string]time.Duration{}, grants: map[string]int{}}
	}
	for _, n := range names {
		s.locks = append(s.locks, byLock[n])
	}
	for _, p := range cfg.Processors {
		s.procStage[p.ID] = p.Stage
		for _, l := range p.Locks {
			if byLock[l] == nil {
				return nil, fmt.Errorf("simulate: processor %s names lock %q, which no lock block declares", p.ID, l)
			}
			s.procs[p.ID] = append(s.procs[p.ID], byLock[l])
		}
	}

	for i := 0; i < threads; i++ {
		s.push(event{at: 0, kind: evEnter})
	}
	if err := s.buildPoSt(); err != nil {
		return nil, err
	}
	for m := time.Duration(0); m <= req.For; m += req.Step {
		s.push(event{at: m, kind: evSample})
	}
	s.loop()
	if s.locker != nil {
		s.fail(s.locker.Err)
	}
	if s.err != nil {
		return nil, fmt.Errorf("simulate: internal error: %w", s.err)
	}
	s.summarise()
	if err := s.summarisePoSt(); err != nil {
		return nil, err
	}
	s.res.Defaults = defaults(cfg, s.res, s.steps)
	s.res.Bound = s.computeBound(req.Plan)
	return s.res, nil
}

// Policies are the arbiter's policies in the order comparisons show them.
var Policies = []config.Policy{config.PolicyFair, config.PolicyFIFO, config.PolicyGreedy}

// ComparePolicies runs req once under each of Policies, for WriteComparison.
func ComparePolicies(req Request) ([]*Result, error) {
	var out []*Result
	for _, p := range Policies {
		req.Policy = p
		r, err := Run(req)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *sim) push(e event) {
	s.seq++
	e.seq = s.seq
	s.queue.push(e)
}

// buildPipeline decides each stage's mode and duration: processors and a
// duration (the simulation block's, else the built-in table's) make a
// dispatched stage; a duration the simulation block gives a stage without
// processors makes it run in the worker, unlimited, as c1 does in
// damocles-worker; anything else is skipped. The built-in table never
// brings a processor-less stage in, so a config without a simulation block
// simulates exactly the stages it configures.
func (s *sim) buildPipeline() error {
	cfg := s.req.Config
	table, haveTable := BuiltinTable(cfg.SectorSize.Name)
	var given map[config.Stage]time.Duration
	waitSeed := config.DefaultWaitSeed
	if haveTable {
		waitSeed = table.WaitSeed
	}
	if cfg.Simulation != nil {
		given = cfg.Simulation.Durations
		waitSeed = cfg.Simulation.WaitSeed
	}
	add := func(st *step) {
		s.steps = append(s.steps, st)
		if st.stage != "" {
			s.byName[st.stage] = st
		}
	}
	// A sector's pipeline is the sealing stages; the others (snap, PoSt,
	// unseal, add_pieces) are no step of it, so their processors stay idle
	// here until a workload of their own submits to them.
	for _, stage := range config.SealingStages {
		st := &step{name: string(stage), stage: stage}
		d, explicit := given[stage]
		switch {
		case s.core.Serves(stage):
			st.mode = Dispatched
			st.capacity = s.core.Capacity(stage)
			if !explicit {
				td, ok := table.Durations[stage]
				if !ok {
					return fmt.Errorf("simulate: stage %s has processors but no duration: no built-in table for sector size %q; give one in the simulation block's durations", stage, cfg.SectorSize.Name)
				}
				d = td
			}
		case explicit:
			st.mode = InWorker
		default:
			st.mode = Skipped
		}
		st.duration = d
		add(st)
		if stage == config.StagePC2 {
			add(&step{name: StageWaitSeed, mode: InWorker, duration: waitSeed})
		}
	}
	return nil
}

func durationSource(cfg *config.Config, st *step) string {
	if st.mode == Skipped {
		return "no processor and no duration"
	}
	if st.stage == "" {
		if cfg.Simulation != nil {
			return "simulation block"
		}
		return "built-in table"
	}
	if cfg.Simulation != nil {
		if _, ok := cfg.Simulation.Durations[st.stage]; ok {
			return "simulation block"
		}
	}
	if t, ok := BuiltinTable(cfg.SectorSize.Name); ok {
		return "built-in table: " + t.Source
	}
	return ""
}

// sealingThreads is the simulation block's sealing_threads, or else enough
// sectors to keep the slowest stage busy: by Little's law a rate λ through a
// pipeline taking T per sector needs λ·T sectors in flight; one more per
// slot of the slowest stage keeps it from idling while a sector is on its
// way to it. Locks are ignored here: showing what they cost is the
// simulation's job.
func sealingThreads(cfg *config.Config, steps []*step) int {
	if cfg.Simulation != nil && cfg.Simulation.SealingThreads > 0 {
		return cfg.Simulation.SealingThreads
	}
	rate := math.Inf(1)
	var total time.Duration
	bottleneck := 1
	for _, st := range steps {
		if st.mode == Skipped {
			continue
		}
		total += st.duration
		if st.capacity > 0 && st.duration > 0 {
			r := float64(st.capacity) / st.duration.Minutes()
			if r < rate {
				rate, bottleneck = r, st.capacity
			}
		}
	}
	if math.IsInf(rate, 1) {
		return 1
	}
	return int(math.Ceil(rate*total.Minutes())) + bottleneck
}

func (s *sim) loop() {
	for len(s.queue) > 0 && s.err == nil {
		e := s.queue.pop()
		if e.at > s.req.For {
			break
		}
		if e.at > s.now {
			s.account(e.at)
		}
		s.now = e.at
		s.clock.t = epoch.Add(e.at)
		switch e.kind {
		case evEnter:
			s.enter(&sector{stage: -1})
		case evEnd:
			if e.job != nil || s.steps[e.sec.stage].mode == Dispatched {
				h := s.holders[e.task]
				if h == nil {
					break // preempted: cancelled and resubmitted
				}
				s.unhold(e.task)
				s.core.Release(e.task)
				if e.job != nil {
					s.endPoSt(h)
					s.drain()
					break
				}
				s.drain()
			}
			st := s.steps[e.sec.stage]
			st.running--
			st.done++
			s.advance(e.sec)
		case evWake:
			delete(s.wakes, e.at)
			s.core.Tick()
			s.drain()
		case evWindow:
			s.onWindow()
		case evWinning:
			s.onWinning()
		case evSample:
			s.sample()
		}
		s.preemptVictims()
		if at, ok := s.core.Wake(); ok {
			if d := at.Sub(epoch); !s.wakes[d] {
				s.wakes[d] = true
				s.push(event{at: d, kind: evWake})
			}
		}
	}
	if s.now < s.req.For {
		s.account(s.req.For)
		s.now = s.req.For
	}
	for _, l := range s.locks {
		s.settle(l)
	}
	s.clock.t = epoch.Add(s.req.For)
}

func (s *sim) enter(sec *sector) { s.advance(sec) }

// advance moves a sector to its next stage that is not skipped.
func (s *sim) advance(sec *sector) {
	for {
		sec.stage++
		if sec.stage == len(s.steps) {
			s.finished++
			s.push(event{at: s.now + s.req.Turnaround, kind: evEnter})
			return
		}
		if s.steps[sec.stage].mode != Skipped {
			break
		}
	}
	st := s.steps[sec.stage]
	sec.waiting = s.now
	switch st.mode {
	case InWorker:
		st.running++
		st.waits = append(st.waits, 0)
		s.push(event{at: s.now + st.duration, kind: evEnd, sec: sec})
	case Dispatched:
		st.waiting++
		id, err := s.core.Submit(st.stage)
		if err != nil {
			// Only stages the core serves are dispatched, so this is a bug;
			// stop and say so rather than report wrong numbers.
			s.fail(err)
			return
		}
		s.tasks[id] = sec
		s.drain()
	}
}

// drain turns the dispatcher's starts into end events.
func (s *sim) drain() {
	for len(s.started) > 0 {
		st := s.started[0]
		s.started = s.started[1:]
		step := s.stepOf(st.Stage)
		step.waiting--
		step.running++
		h := &hold{proc: st.Processor, start: s.now}
		if j := s.postJobs(st.Task); j != nil {
			h.job = j
		} else {
			h.sec = s.tasks[st.Task]
			delete(s.tasks, st.Task)
			step.waits = append(step.waits, s.now-h.sec.waiting)
		}
		for _, l := range s.procs[st.Processor] {
			s.settle(l)
			l.held++
			l.byStage[step.name]++
			l.grants[step.name]++
		}
		s.holders[st.Task] = h
		s.starts[st.Processor]++
		s.push(event{at: s.now + step.duration, kind: evEnd, sec: h.sec, job: h.job, task: st.Task})
	}
}

// newLocker builds the lock arbiter on the virtual clock.
func (s *sim) newLocker(policy config.Policy) error {
	cfg := s.req.Config
	if len(cfg.Locks) == 0 {
		return nil
	}
	a, err := arbiter.New(dispatch.ArbiterConfig(cfg, policy, s.clock))
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	s.arb = a
	s.locker = dispatch.NewArbiterLocker(a)
	return nil
}

// unhold forgets the locks a task held.
func (s *sim) unhold(id dispatch.TaskID) {
	proc := s.holders[id].proc
	delete(s.holders, id)
	st := s.stepOf(s.procStage[proc])
	for _, l := range s.procs[proc] {
		s.settle(l)
		l.held--
		l.byStage[st.name]--
	}
}

// account integrates the state, unchanged since s.now, up to t.
func (s *sim) account(t time.Duration) {
	dt := t - s.now
	for _, st := range s.steps {
		st.busy += time.Duration(st.running) * dt
	}
}

func (s *sim) sample() {
	p := Point{Minute: int(s.now / time.Minute), Finished: s.finished,
		Running: map[string]int{}, Waiting: map[string]int{}}
	for _, st := range s.steps {
		if st.mode == Skipped {
			continue
		}
		p.Running[st.name] = st.running
		if st.mode == Dispatched {
			p.Waiting[st.name] = st.waiting
		}
	}
	s.res.Timeline = append(s.res.Timeline, p)
	held := map[string]map[string]float64{}
	for _, l := range s.locks {
		s.settle(l)
		m := map[string]float64{}
		for name, d := range l.bucket {
			if d > 0 {
				m[name] = float64(d) / (float64(l.capacity) * float64(s.req.Step))
			}
			delete(l.bucket, name)
		}
		held[l.name] = m
	}
	s.res.Held = append(s.res.Held, held)
}

func (s *sim) summarise() {
	r := s.res
	r.Finished = s.finished
	span := s.req.For
	r.SectorsPerDay = float64(s.finished) / (float64(span) / float64(24*time.Hour))
	// Tasks still waiting count with the wait they have had so far.
	for _, sec := range s.tasks {
		st := s.steps[sec.stage]
		st.waits = append(st.waits, span-sec.waiting)
	}
	for _, st := range s.steps {
		if st.mode == Skipped {
			continue
		}
		ss := &StageStats{Done: st.done}
		if st.capacity > 0 {
			u := float64(st.busy) / (float64(st.capacity) * float64(span))
			ss.Utilization = &u
		}
		if st.mode == Dispatched && len(r.Timeline) > 0 {
			sum := 0
			for _, p := range r.Timeline {
				n := p.Waiting[st.name]
				sum += n
				ss.BacklogMax = max(ss.BacklogMax, n)
			}
			ss.BacklogMean = math.Round(float64(sum)/float64(len(r.Timeline))*10) / 10
			ss.BacklogEnd = r.Timeline[len(r.Timeline)-1].Waiting[st.name]
		}
		if p50, p99, most, ok := waitQuantiles(st.waits); ok {
			ss.WaitP50Minutes, ss.WaitP99Minutes, ss.WaitMaxMinutes = minutes(p50), minutes(p99), minutes(most)
		}
		r.Stages[st.name] = ss
	}
	var arbStats arbiter.Stats
	if s.arb != nil {
		arbStats = s.arb.Stats()
	}
	for _, l := range s.locks {
		ls := &LockStats{Capacity: l.capacity, Share: map[string]float64{}, Grants: map[string]int{}}
		var total time.Duration
		for _, d := range l.heldTime {
			total += d
		}
		ls.BusyFraction = float64(total) / (float64(l.capacity) * float64(span))
		for name, d := range l.heldTime {
			if total > 0 && d > 0 {
				ls.Share[name] = float64(d) / float64(total)
			}
		}
		for name, n := range l.grants {
			ls.Grants[name] = n
		}
		ls.IdleWhileWaitingMinutes = minutes(arbStats.Locks[l.name].IdleWhileWaiting)
		r.Locks[l.name] = ls
	}
}

// defaults says, one sentence each, what the run assumed because the config
// left it out: the sealing threads and where durations came from.
func defaults(cfg *config.Config, r *Result, steps []*step) []string {
	out := []string{}
	if cfg.Simulation == nil || cfg.Simulation.SealingThreads == 0 {
		why := "the config has no simulation block"
		if cfg.Simulation != nil {
			why = "the simulation block sets no sealing_threads"
		}
		out = append(out, fmt.Sprintf("sealing_threads = %d: %s, so the simulator keeps enough sectors in flight to keep the slowest stage busy (Little's law, plus one per slot of that stage)", r.SealingThreads, why))
	}
	var builtin []string
	for _, st := range steps {
		if st.mode == Skipped {
			continue
		}
		given := false
		if cfg.Simulation != nil {
			if st.stage == "" {
				given = true // wait_seed: the block always sets it (default 80m)
			} else {
				_, given = cfg.Simulation.Durations[st.stage]
			}
		}
		if !given {
			builtin = append(builtin, fmt.Sprintf("%s %s min", st.name, trimFloat(st.duration.Minutes())))
		}
	}
	if len(builtin) > 0 {
		src := "built-in table"
		if t, ok := BuiltinTable(cfg.SectorSize.Name); ok {
			src += " (" + t.Source + ")"
		}
		out = append(out, fmt.Sprintf("durations from the %s: %s", src, strings.Join(builtin, ", ")))
	}
	return append(out, postDefaults(cfg, r)...)
}

// waitQuantiles is the p50, p99 and max of waits; ok is false for none.
func waitQuantiles(waits []time.Duration) (p50, p99, most time.Duration, ok bool) {
	if len(waits) == 0 {
		return 0, 0, 0, false
	}
	w := append([]time.Duration(nil), waits...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	return quantile(w, 0.50), quantile(w, 0.99), w[len(w)-1], true
}

// quantile is the nearest-rank quantile of sorted, non-empty w.
func quantile(w []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(w)))) - 1
	i = max(0, min(i, len(w)-1))
	return w[i]
}

// minutes rounds to a hundredth of a minute so output is stable and short.
func minutes(d time.Duration) float64 {
	return math.Round(d.Minutes()*100) / 100
}
