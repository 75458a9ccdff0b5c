package dispatch

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// Clock tells the dispatcher the time. The real host passes wall time, the
// simulator a virtual clock it moves itself; nothing in the core sleeps.
type Clock interface {
	Now() time.Time
}

// Processor is what the dispatcher needs to know of one processor.
type Processor struct {
	ID         string
	Stage      config.Stage
	Concurrent int      // tasks it runs at once; below 1 means 1
	Locks      []string // taken all at once for each task's whole run
}

// Spec is the dispatcher's share of a config: processors, per-stage limits
// and staggers. Build it with SpecFromConfig.
type Spec struct {
	Processors []Processor
	// Limits caps the running tasks of a stage; a stage not listed (or
	// listed with 0) is capped only by its processors' concurrency.
	Limits map[config.Stage]int
	// Stagger is the least time between two task starts of a stage.
	Stagger map[config.Stage]time.Duration
	// Preempt says the Locker may choose running tasks for preemption
	// (arbiter.Config.Preempt): the Core then asks it after every change
	// and at Wake, and reports them through OnPreempt.
	Preempt bool
}

// SpecFromConfig takes the dispatcher's share of a decoded config.
func SpecFromConfig(cfg *config.Config) Spec {
	s := Spec{Limits: map[config.Stage]int{}, Stagger: map[config.Stage]time.Duration{}}
	for st, n := range cfg.Limits {
		s.Limits[st] = n
	}
	for st, d := range cfg.Stagger {
		s.Stagger[st] = d
	}
	s.Preempt = cfg.Arbiter.Preempts()
	for _, p := range cfg.Processors {
		s.Processors = append(s.Processors, Processor{
			ID: p.ID, Stage: p.Stage, Concurrent: p.Concurrent,
			Locks: append([]string(nil), p.Locks...),
		})
	}
	return s
}

// TaskID names one request for a processor. IDs are never reused.
type TaskID uint64

// Start reports that a task got a processor. Everything it holds (the
// processor slot, a place under the stage limit, its locks) stays held until
// Release, Cancel or DropProcessor.
type Start struct {
	Task      TaskID
	Stage     config.Stage
	Processor string
	// Lease is the arbiter's fencing token for the task's locks, 0 when the
	// processor has none.
	Lease uint64
	// Requested and Started are clock readings: the wait is their difference.
	Requested, Started time.Time
}

type taskState uint8

const (
	waiting taskState = iota
	running
)

type task struct {
	id        TaskID
	stage     *stageState
	state     taskState
	proc      *procState
	lease     uint64
	requested time.Time
	deadline  time.Time // zero: none
	preempted bool      // reported to onPreempt
}

type stageState struct {
	name      config.Stage
	limit     int // 0: none
	stagger   time.Duration
	lastStart time.Time
	started   bool // lastStart is meaningful
	running   int
	queue     []*task // waiting, by deadline (zero last), then oldest first
	procs     []*procState
	lockProcs []*procState // those of procs that take locks: the bidders

	// ready is the processors that pickNow may take, least loaded first:
	// in service with a free slot, and either without locks or with no
	// lock request queued (one that is queued has not been granted, so
	// its locks are not to be had now). Kept sorted as loads change, so
	// picking costs the processors tried, not the processors configured.
	ready []*procState
	// dirty is the processors with locks whose bids may be out of line
	// with what they could use; syncBids looks at these alone unless
	// the stage's queue or limits changed what every processor wants.
	dirty   []*procState
	synced  bool // lastQ and lastMay are what the last syncBids saw
	lastQ   int
	lastMay bool
	maxConc int // largest Concurrent of the stage's processors
}

type procState struct {
	Processor
	index   int // position in Spec.Processors: the tie-break
	stage   *stageState
	running map[TaskID]*task
	dead    bool
	bids    int      // lock requests queued at the arbiter for this processor
	bidIDs  []uint64 // their request ids, oldest first

	key     int  // running tasks when put in stage.ready: its sort key there
	inReady bool // in stage.ready
	dirty   bool // in stage.dirty
}

func (p *procState) free() int {
	if p.dead {
		return 0
	}
	return p.Concurrent - len(p.running)
}

// Core is the dispatcher as a deterministic state machine. It never blocks
// and never reads wall time: every method reads the Clock once and acts as
// of that instant, reporting tasks that start through the onStart callback
// given to NewCore. The same sequence of calls at the same clock readings
// always produces the same starts, which is what lets `host simulate` run
// the code `host run` runs. A Core is not safe for concurrent use; Dispatcher
// wraps it with a mutex and blocking calls.
type Core struct {
	clock   Clock
	locks   Locker
	onStart func(Start)

	stages map[config.Stage]*stageState
	order  []*stageState // pipeline order, for deterministic sweeps
	procs  map[string]*procState
	tasks  map[TaskID]*task
	// bids maps a queued lock request (arbiter request id) to the
	// processor it was made for: when the arbiter grants it, the oldest
	// waiting task of the processor's stage runs there.
	bids   map[uint64]*procState
	nextID TaskID

	pumping bool

	preempt   bool
	preemptAt time.Time // when the Locker next wants to be asked; zero: after a change
	onPreempt func(TaskID)
}

// OnPreempt sets the function told of each running task the Locker chose
// for preemption (once per task). The task keeps everything it holds
// until its holder cancels it and calls Release or Cancel; the holder then
// submits it again if it is to run later. f must not call back into the
// Core.
func (c *Core) OnPreempt(f func(TaskID)) { c.onPreempt = f }

// NewCore checks spec and returns a core driving locks. onStart is called,
// from inside whichever Core method caused it, each time a task starts; it
// must not call back into the Core.
func NewCore(spec Spec, locks Locker, clock Clock, onStart func(Start)) (*Core, error) {
	if clock == nil {
		return nil, fmt.Errorf("dispatch: no clock")
	}
	if onStart == nil {
		onStart = func(Start) {}
	}
	c := &Core{
		clock: clock, locks: locks, onStart: onStart, preempt: spec.Preempt && locks != nil,
		stages: map[config.Stage]*stageState{},
		procs:  map[string]*procState{},
		tasks:  map[TaskID]*task{},
		bids:   map[uint64]*procState{},
	}
	for _, st := range config.Stages {
		s := &stageState{name: st, limit: spec.Limits[st], stagger: spec.Stagger[st]}
		if s.limit < 0 {
			return nil, fmt.Errorf("dispatch: stage %s has a negative limit %d", st, s.limit)
		}
		if s.stagger < 0 {
			return nil, fmt.Errorf("dispatch: stage %s has a negative stagger %s", st, s.stagger)
		}
		c.stages[st] = s
		c.order = append(c.order, s)
	}
	for st := range spec.Limits {
		if c.stages[st] == nil {
			return nil, fmt.Errorf("dispatch: limit for unknown stage %q", st)
		}
	}
	for st := range spec.Stagger {
		if c.stages[st] == nil {
			return nil, fmt.Errorf("dispatch: stagger for unknown stage %q", st)
		}
	}
	for i, p := range spec.Processors {
		s := c.stages[p.Stage]
		if s == nil {
			return nil, fmt.Errorf("dispatch: processor %s has unknown stage %q", p.ID, p.Stage)
		}
		if _, dup := c.procs[p.ID]; dup {
			return nil, fmt.Errorf("dispatch: processor %s listed twice", p.ID)
		}
		if len(p.Locks) > 0 && locks == nil {
			return nil, fmt.Errorf("dispatch: processor %s takes locks but no lock arbiter was given", p.ID)
		}
		if p.Concurrent < 1 {
			p.Concurrent = 1
		}
		ps := &procState{Processor: p, index: i, stage: s, running: map[TaskID]*task{}}
		c.procs[p.ID] = ps
		s.procs = append(s.procs, ps)
		if len(ps.Locks) > 0 {
			s.lockProcs = append(s.lockProcs, ps)
		}
		s.maxConc = max(s.maxConc, p.Concurrent)
		c.changed(ps)
	}
	return c, nil
}

// Serves reports whether stage has at least one processor. Submitting to a
// stage that has none is an error: nothing would ever run the task.
func (c *Core) Serves(stage config.Stage) bool {
	s := c.stages[stage]
	return s != nil && len(s.procs) > 0
}

// Capacity is the most tasks of stage that can run at once: its processors'
// concurrency summed, capped by its limit.
func (c *Core) Capacity(stage config.Stage) int {
	s := c.stages[stage]
	if s == nil {
		return 0
	}
	n := 0
	for _, p := range s.procs {
		n += p.Concurrent
	}
	if s.limit > 0 && s.limit < n {
		n = s.limit
	}
	return n
}

// Submit queues a task of stage, starting it at once if it can run now.
func (c *Core) Submit(stage config.Stage) (TaskID, error) {
	return c.SubmitDeadline(stage, time.Time{})
}

// SubmitDeadline is Submit for a task with a deadline (zero: none). A
// stage's tasks start by deadline, those without one last, else in
// submission order; the stage's lock requests carry the earliest deadline
// waiting, which orders them among the arbiter's urgent requests.
func (c *Core) SubmitDeadline(stage config.Stage, deadline time.Time) (TaskID, error) {
	s := c.stages[stage]
	if s == nil {
		return 0, fmt.Errorf("dispatch: unknown stage %q", stage)
	}
	if len(s.procs) == 0 {
		return 0, fmt.Errorf("dispatch: stage %s has no processor", stage)
	}
	c.nextID++
	t := &task{id: c.nextID, stage: s, state: waiting, requested: c.clock.Now(), deadline: deadline}
	c.tasks[t.id] = t
	k := len(s.queue)
	if !deadline.IsZero() {
		for k > 0 && (s.queue[k-1].deadline.IsZero() || deadline.Before(s.queue[k-1].deadline)) {
			k--
		}
	}
	s.queue = slices.Insert(s.queue, k, t)
	c.pump()
	return t.id, nil
}

// Release ends a running task, freeing its processor slot, its place under
// the stage limit and its locks. It reports false for a task that is not
// running (already released, cancelled, dropped, or never started).
func (c *Core) Release(id TaskID) bool {
	t := c.tasks[id]
	if t == nil || t.state != running {
		return false
	}
	c.finish(t)
	c.pump()
	return true
}

// Cancel withdraws a task: a waiting one leaves the queue, a running one is
// released. It reports false for an unknown or already ended task.
func (c *Core) Cancel(id TaskID) bool {
	t := c.tasks[id]
	if t == nil {
		return false
	}
	if t.state == running {
		c.finish(t)
	} else {
		q := t.stage.queue
		for i, w := range q {
			if w == t {
				t.stage.queue = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		delete(c.tasks, id)
	}
	c.pump()
	return true
}

// DropProcessor marks a processor dead (its plugin process exited) and ends
// every task running on it, returning their ids in increasing order. A dead
// processor gets no task until RestoreProcessor. Waiting tasks stay queued:
// another processor of the stage may take them.
func (c *Core) DropProcessor(id string) ([]TaskID, error) {
	p := c.procs[id]
	if p == nil {
		return nil, fmt.Errorf("dispatch: unknown processor %q", id)
	}
	p.dead = true
	c.changed(p)
	var dropped []TaskID
	for tid := range p.running {
		dropped = append(dropped, tid)
	}
	sort.Slice(dropped, func(i, j int) bool { return dropped[i] < dropped[j] })
	for _, tid := range dropped {
		c.finish(c.tasks[tid])
	}
	c.pump()
	return dropped, nil
}

// RestoreProcessor puts a dropped processor back in service.
func (c *Core) RestoreProcessor(id string) error {
	p := c.procs[id]
	if p == nil {
		return fmt.Errorf("dispatch: unknown processor %q", id)
	}
	p.dead = false
	c.changed(p)
	c.pump()
	return nil
}

// Tick re-examines every stage as of the clock's reading. Call it when the
// clock reaches Wake: that is when a stagger interval ends.
func (c *Core) Tick() { c.pump() }

// Wake returns the earliest time at which a waiting task could start for a
// reason other than a release: the end of a stagger interval, or an urgent
// task's wait reaching its preemption bound. ok is false when there is
// none.
func (c *Core) Wake() (at time.Time, ok bool) {
	if !c.preemptAt.IsZero() && c.preemptAt.After(c.clock.Now()) {
		at, ok = c.preemptAt, true
	}
	for _, s := range c.order {
		if len(s.queue) == 0 || !s.started || s.stagger == 0 || !c.underLimit(s) {
			continue
		}
		w := s.lastStart.Add(s.stagger)
		if !w.After(c.clock.Now()) {
			continue
		}
		if !ok || w.Before(at) {
			at, ok = w, true
		}
	}
	return at, ok
}

// Waiting is the number of queued tasks of stage.
func (c *Core) Waiting(stage config.Stage) int {
	if s := c.stages[stage]; s != nil {
		return len(s.queue)
	}
	return 0
}

// Running is the number of running tasks of stage.
func (c *Core) Running(stage config.Stage) int {
	if s := c.stages[stage]; s != nil {
		return s.running
	}
	return 0
}

// ProcessorLoad returns the running tasks of a processor and whether it is
// in service.
func (c *Core) ProcessorLoad(id string) (running int, alive bool) {
	p := c.procs[id]
	if p == nil {
		return 0, false
	}
	return len(p.running), !p.dead
}

func (c *Core) finish(t *task) {
	p, s := t.proc, t.stage
	delete(p.running, t.id)
	c.changed(p)
	s.running--
	delete(c.tasks, t.id)
	if t.lease != 0 {
		// Bid for the freed slot before handing the locks back, so the
		// arbiter sees this stage's demand at the instant of release: that is
		// what lets greedy re-grant to the releaser and fair keep the
		// stage's virtual time (field-facts §5).
		c.syncBids(s, c.clock.Now())
		c.locks.Release(t.lease)
	}
}

func (c *Core) underLimit(s *stageState) bool {
	return s.limit == 0 || s.running < s.limit
}

// mayStart reports whether the stage's limit and stagger let a task start now.
func (c *Core) mayStart(s *stageState, now time.Time) bool {
	if !c.underLimit(s) {
		return false
	}
	return !s.started || s.stagger == 0 || !now.Before(s.lastStart.Add(s.stagger))
}

// lessLoaded orders processors by their load as last indexed (key): the
// fraction of slots in use, then running tasks, then config order, so load
// spreads and a freed processor is used at once whichever it is.
func lessLoaded(a, b *procState) bool {
	// Compare key/concurrent without division.
	l, r := a.key*b.Concurrent, b.key*a.Concurrent
	if l != r {
		return l < r
	}
	if a.key != b.key {
		return a.key < b.key
	}
	return a.index < b.index
}

// pickable reports whether pickNow may take p: see stageState.ready.
func (p *procState) pickable() bool {
	return p.free() > 0 && (len(p.Locks) == 0 || p.bids == 0)
}

// reindex puts p where it belongs in its stage's ready list, or out of it:
// two binary searches, and a copy of the pointers behind it.
func (c *Core) reindex(p *procState) {
	s := p.stage
	if p.inReady {
		i := sort.Search(len(s.ready), func(i int) bool { return !lessLoaded(s.ready[i], p) })
		s.ready = append(s.ready[:i], s.ready[i+1:]...)
		p.inReady = false
	}
	if p.pickable() {
		p.key = len(p.running)
		i := sort.Search(len(s.ready), func(i int) bool { return lessLoaded(p, s.ready[i]) })
		s.ready = append(s.ready, nil)
		copy(s.ready[i+1:], s.ready[i:])
		s.ready[i] = p
		p.inReady = true
	}
}

// changed notes that p's free slots changed: its place among the ready
// processors, and its bids.
func (c *Core) changed(p *procState) {
	c.reindex(p)
	if len(p.Locks) > 0 && !p.dirty {
		p.dirty = true
		p.stage.dirty = append(p.stage.dirty, p)
	}
}

// pump starts every task that can start now and keeps the arbiter's queue
// of bids in line with what is waiting. It loops because a grant released
// unused (its task went elsewhere) can let another stage's bid through.
func (c *Core) pump() {
	if c.pumping {
		return
	}
	c.pumping = true
	defer func() { c.pumping = false }()
	for {
		progress := false
		now := c.clock.Now()
		for _, s := range c.order {
			for len(s.queue) > 0 && c.mayStart(s, now) {
				p, lease := c.pickNow(s)
				if p == nil {
					break
				}
				c.start(s, p, lease, now)
				progress = true
			}
			c.syncBids(s, now)
		}
		if c.takeGrants(now) {
			progress = true
		}
		if !progress {
			break
		}
	}
	if c.preempt {
		c.preemptions()
	}
}

// preemptions asks the Locker which running tasks to preempt and tells
// the holder of each.
func (c *Core) preemptions() {
	leases, next := c.locks.Preemptions()
	c.preemptAt = next
	for _, l := range leases {
		for _, t := range c.tasks {
			if t.state == running && t.lease == l && !t.preempted {
				t.preempted = true
				if c.onPreempt != nil {
					c.onPreempt(t.id)
				}
			}
		}
	}
}

// pickNow returns the least loaded processor of s that can take a task this
// instant, with the lease on its locks: one without locks, or one whose
// locks the arbiter grants without queueing.
func (c *Core) pickNow(s *stageState) (*procState, uint64) {
	// A processor with a queued lock request is not in s.ready: that
	// request has not been granted, so its locks are not to be had now,
	// and asking again would only cost a submit and a cancel.
	for _, p := range s.ready {
		if len(p.Locks) == 0 {
			return p, 0
		}
		if lease, ok := c.locks.TryAcquire(s.name, p.ID, p.Locks); ok {
			return p, lease
		}
	}
	return nil, 0
}

func (c *Core) start(s *stageState, p *procState, lease uint64, now time.Time) {
	t := s.queue[0]
	s.queue = s.queue[1:]
	t.state, t.proc, t.lease = running, p, lease
	p.running[t.id] = t
	c.changed(p)
	s.running++
	s.lastStart, s.started = now, true
	c.onStart(Start{
		Task: t.id, Stage: s.name, Processor: p.ID, Lease: lease,
		Requested: t.requested, Started: now,
	})
}

// syncBids keeps, for each processor of s with locks and a free slot, as many
// queued lock requests as it could use now (its free slots, at most the
// stage's waiting tasks), and none while the stage's limit or stagger holds
// it back. Bidding on every such processor, not just the first, is what
// makes the dispatcher work-conserving: whichever lock frees first serves
// the waiting task, and surplus grants are handed straight back.
//
// Only processors whose wish can have changed are looked at: the dirty
// ones, unless the stage's queue or limits moved what every processor
// wishes (a processor wishes min(free slots, waiting tasks), so a queue
// longer than any processor's slots before and after moves nothing). They
// are visited in config order, as a sweep of all of them would.
func (c *Core) syncBids(s *stageState, now time.Time) {
	if len(s.lockProcs) == 0 {
		return
	}
	q := len(s.queue)
	may := q > 0 && c.mayStart(s, now)
	all := !s.synced || may != s.lastMay || (may && q != s.lastQ && min(q, s.lastQ) < s.maxConc)
	s.synced, s.lastQ, s.lastMay = true, q, may
	procs := s.lockProcs
	if !all {
		procs = s.dirty
		if len(procs) == 0 {
			return
		}
		slices.SortFunc(procs, func(a, b *procState) int { return a.index - b.index })
	}
	for _, p := range procs {
		p.dirty = false
		want := 0
		if may {
			want = min(p.free(), q)
		}
		for p.bids < want {
			id := c.locks.Request(s.name, p.ID, p.Locks, s.queue[0].deadline)
			c.bids[id] = p
			p.bidIDs = append(p.bidIDs, id)
			p.bids++
		}
		// Withdraw the newest bids first so the oldest keep their place.
		for p.bids > want {
			id := p.bidIDs[len(p.bidIDs)-1]
			p.bidIDs = p.bidIDs[:len(p.bidIDs)-1]
			delete(c.bids, id)
			p.bids--
			c.locks.Cancel(id)
		}
		c.reindex(p)
	}
	clear(s.dirty)
	s.dirty = s.dirty[:0]
}

// takeGrants turns bids the arbiter granted into task starts, and hands back
// grants that can no longer be used. It reports whether anything changed.
func (c *Core) takeGrants(now time.Time) bool {
	if c.locks == nil {
		return false
	}
	grants := c.locks.Granted()
	for _, g := range grants {
		p := c.bids[g.Request]
		if p == nil {
			// Withdrawn after it was granted: Cancel already returned it.
			continue
		}
		delete(c.bids, g.Request)
		p.bidIDs = slices.DeleteFunc(p.bidIDs, func(id uint64) bool { return id == g.Request })
		p.bids--
		c.changed(p)
		s := p.stage
		if len(s.queue) > 0 && c.mayStart(s, now) && p.free() > 0 {
			c.start(s, p, g.Lease, now)
		} else {
			c.locks.Release(g.Lease)
		}
	}
	return len(grants) > 0
}
