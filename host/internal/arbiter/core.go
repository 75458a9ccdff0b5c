package arbiter

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Arbiter shares named counting locks between stages. All methods are safe
// for concurrent use; every state change happens under one mutex, so a
// request's locks are granted together or not at all.
type Arbiter struct {
	mu      sync.Mutex
	clock   Clock
	policy  Policy
	bypass  time.Duration
	grace   time.Duration
	weights map[string]float64

	urgentStages map[string]bool
	burst        int
	urgent       []*request // waiting requests of urgent stages, in urgent order

	locks     []*lock
	lockIdx   map[string]int
	freeTotal int

	stages     map[string]*stage
	stageOrder []*stage // creation order, for deterministic iteration
	lastStage  *stage   // the stage stageFor returned last
	floor      float64  // fair system virtual time: entering stages start here

	waiting map[RequestID]*request
	leases  leaseTable

	nextID    RequestID
	nextToken Token

	start, last time.Time

	// scratch reused by dispatch, so a pass allocates nothing
	avail        []int
	idle         []bool
	heap         []*group
	stageScratch []*stage
	keyBuf       []byte
	stamp        uint64 // numbers passes and measurements, for marks
	nWaiting     int
	nMarked      int // locks with units withheld or idle while waiting
	// settled: the last pass ran at settledAt and no request has been
	// queued or withdrawn, no unit taken or returned since
	settled   bool
	settledAt time.Time

	// owners' waiting requests in ID order, kept for Greedy's barging
	owners map[string]*ownerQueue

	pool  sync.Pool  // *request, reused once nothing points to it
	spare []*request // the same, freed and taken under the mutex
	out   []Lease    // grants of the current call, for the event-driven face
	wakes []*request // waits to signal once the mutex is released
}

type ownerQueue struct{ head, tail *request }

type lock struct {
	name     string
	capacity int
	free     int
	waiting  int // waiting requests that need this lock

	grants       int
	busy         time.Duration // unit-time held, up to a.last
	idleWaiting  time.Duration
	reservedIdle time.Duration // unit-time free but withheld by policy
	idleFlag     bool          // state since at: free, not withheld, a waiter fits
	withheld     int           // state since at
	at           time.Time     // busy, idleWaiting and reservedIdle run up to here

	holdSum   time.Duration // completed holds, for the adaptive bound
	holdCount int

	waitingFair  int                      // waiting requests of non-urgent stages that need it
	urgentRun    int                      // urgent grants since its last non-urgent one, made while one waited
	preemptAll   bool                     // Config.Preempt lists it
	preemptAfter time.Duration            // and how long an urgent request waits first
	preemptFor   map[string]time.Duration // Config.PreemptFor's bounds by stage

	groups []*group // every group that asks for this lock

	// a request for this lock alone shares these, saving two allocations
	one     []int
	oneName []string
}

type stage struct {
	name       string
	weight     float64
	v          float64 // virtual time, weighted seconds
	nWaiting   int     // requests in its groups
	nHolding   int
	inactiveAt time.Time

	urgent bool

	requests, grants, cancels, releases int
	preempted                           int           // leases chosen for preemption
	preemptedWork                       time.Duration // their holds when chosen: work lost
	holdTotal                           time.Duration
	hold                                []time.Duration // completed unit-time per lock
	waits                               histogram

	newest    RequestID         // Greedy's pass: ID of its newest waiting request
	single    []*group          // by lock index: groups of one lock
	groups    map[string]*group // groups of several locks, by groupFor's key
	lastMulti *group            // the one groupFor returned last
	groupList []*group          // all of them, in creation order
}

func (s *stage) active() bool { return s.nWaiting+s.nHolding > 0 }

type request struct {
	id        RequestID
	stage     *stage
	owner     string
	locks     []int
	names     []string
	cost      float64
	requested time.Time
	deadline  time.Time // urgent order; zero: after every deadline

	preempting bool // Preemptions chose victims for it
	victim     bool // Preemptions chose its lease

	linked       bool // in its group's queue
	group        *group
	gpos         uint64   // its position in the group's queue
	oprev, onext *request // the owner's queue (Greedy only)
	lockBuf      [4]int   // backs locks for small requests

	// refs counts who may still read the request: the arbiter until it is
	// released or withdrawn, and a waiting Acquire until it returns. The
	// last to let go puts it back in the pool, with its ready channel.
	refs atomic.Int32

	// set on grant
	granted bool
	lease   Lease

	// blocking face
	blocking bool
	ready    chan struct{} // buffered; signalled once on grant or error, if waited on
	waited   bool          // an Acquire waits on ready
	err      error
}

func (a *Arbiter) now() time.Time { return a.clamp(a.clock.Now()) }

// clamp keeps time from running backwards: a reading taken before the
// mutex, or a clock set back, counts as no time passed.
func (a *Arbiter) clamp(t time.Time) time.Time {
	if t.Before(a.last) {
		return a.last
	}
	return t
}

// advance moves the arbiter's time to now (never back: see clamp).
func (a *Arbiter) advance(now time.Time) {
	if now.After(a.last) {
		a.last = now
	}
}

// integrate adds l's time-weighted statistics from l.at up to now. It runs
// before each change of what they integrate (free units, withheld units,
// the idle flag) and for Stats, so a call costs in proportion to the locks
// it changes, not to all of them; the sums are the same, products of
// integers distributing over the intervals.
func (l *lock) integrate(now time.Time) {
	dt := now.Sub(l.at)
	if dt <= 0 {
		return
	}
	if used := l.capacity - l.free; used > 0 {
		l.busy += time.Duration(used) * dt
	}
	if l.idleFlag {
		l.idleWaiting += dt
	}
	if l.withheld > 0 {
		l.reservedIdle += time.Duration(l.withheld) * dt
	}
	l.at = now
}

func (a *Arbiter) stageFor(name string, now time.Time) *stage {
	if s := a.lastStage; s != nil && s.name == name {
		return s // a processor asks again and again for its own stage
	}
	s := a.stages[name]
	if s != nil {
		a.lastStage = s
		return s
	}
	w := 1.0
	if x, ok := a.weights[name]; ok {
		w = x
	}
	s = &stage{name: name, weight: w, urgent: a.urgentStages[name], v: a.minActiveV(), inactiveAt: now, hold: make([]time.Duration, len(a.locks))}
	a.stages[name] = s
	a.stageOrder = append(a.stageOrder, s)
	return s
}

// minActiveV is the fair system virtual time: the least V among active
// stages, never moving backwards, so an idle stage cannot bank credit.
func (a *Arbiter) minActiveV() float64 {
	m := math.Inf(1)
	for _, s := range a.stageOrder {
		if s.active() && s.v < m {
			m = s.v
		}
	}
	if !math.IsInf(m, 1) && m > a.floor {
		a.floor = m
	}
	return a.floor
}

// newRequest checks req and builds its request. It reads only what New
// fixed, so it may run outside the mutex (locked says whether it holds it:
// then a request freed under the mutex is reused); enqueue numbers the
// request.
func (a *Arbiter) newRequest(req Request, now time.Time, locked bool) (*request, error) {
	if req.Stage == "" {
		return nil, fmt.Errorf("arbiter: %w: empty stage", ErrBadRequest)
	}
	if req.Owner == "" {
		return nil, fmt.Errorf("arbiter: %w: empty owner (stage %q)", ErrBadRequest, req.Stage)
	}
	if len(req.Locks) == 1 {
		i, ok := a.lockIdx[req.Locks[0]]
		if !ok {
			return nil, fmt.Errorf("arbiter: %w %q in request of stage %q: declare it with its capacity", ErrUnknownLock, req.Locks[0], req.Stage)
		}
		l := a.locks[i]
		r := a.getRequest(req.Owner, now, locked)
		r.locks, r.names, r.cost = l.one, l.oneName, 1/float64(l.capacity)
		r.deadline = req.Deadline
		return r, nil
	}
	r := a.getRequest(req.Owner, now, locked)
	r.deadline = req.Deadline
	if len(req.Locks) > len(r.lockBuf) {
		r.locks = make([]int, 0, len(req.Locks))
	}
	for _, name := range req.Locks {
		i, ok := a.lockIdx[name]
		if !ok {
			a.pool.Put(r)
			return nil, fmt.Errorf("arbiter: %w %q in request of stage %q: declare it with its capacity", ErrUnknownLock, name, req.Stage)
		}
		r.locks = append(r.locks, i)
	}
	// insertion sort: a request names a few locks
	for k := 1; k < len(r.locks); k++ {
		for j := k; j > 0 && r.locks[j] < r.locks[j-1]; j-- {
			r.locks[j], r.locks[j-1] = r.locks[j-1], r.locks[j]
		}
	}
	for k, i := range r.locks {
		if k > 0 && r.locks[k-1] == i {
			a.pool.Put(r)
			return nil, fmt.Errorf("arbiter: %w: lock %q named twice by stage %q", ErrBadRequest, a.locks[i].name, req.Stage)
		}
		if c := 1 / float64(a.locks[i].capacity); c > r.cost {
			r.cost = c
		}
	}
	return r, nil // enqueue takes names from its group
}

// getRequest returns a zeroed request, reused when one is free, held by
// the arbiter alone.
func (a *Arbiter) getRequest(owner string, now time.Time, locked bool) *request {
	var r *request
	if n := len(a.spare); locked && n > 0 {
		r = a.spare[n-1]
		a.spare[n-1] = nil
		a.spare = a.spare[:n-1]
	} else {
		r, _ = a.pool.Get().(*request)
	}
	if r == nil {
		r = new(request)
	} else {
		ready := r.ready // drained: reusable
		*r = request{}
		r.ready = ready
	}
	r.refs.Store(1)
	r.owner, r.requested = owner, now
	r.locks = r.lockBuf[:0]
	return r
}

// recycle drops one holder of r, under the mutex; the last one hands it
// back for reuse, to a list the mutex guards (a sync.Pool is emptied by
// every garbage collection, which a simulation runs often).
func (a *Arbiter) recycle(r *request) {
	if r.refs.Add(-1) == 0 {
		// Acquire takes its requests before the mutex: from the pool
		if !r.blocking && len(a.spare) < maxSpare {
			a.spare = append(a.spare, r)
		} else {
			a.pool.Put(r)
		}
	}
}

// recycleUnlocked is recycle for a caller that does not hold the mutex.
func (a *Arbiter) recycleUnlocked(r *request) {
	if r.refs.Add(-1) == 0 {
		a.pool.Put(r)
	}
}

// maxSpare bounds the free requests kept under the mutex.
const maxSpare = 1024

// wake notes that the Acquire waiting on r, if any, is to be told it was
// granted or failed. It is told by unlockAndWake, after the mutex is
// released: readying a goroutine costs more than a pass, and every other
// caller waits for the mutex meanwhile. Until then the Acquire holds its
// reference to r, so r is not reused; a signal late to an Acquire whose
// ctx ended meanwhile is waited for by it.
func (a *Arbiter) wake(r *request) {
	if r.waited {
		a.wakes = append(a.wakes, r)
	}
}

// unlockAndWake releases the mutex, then signals the waits that the
// calls under it ended. The channel has room for the one signal a wait
// gets.
func (a *Arbiter) unlockAndWake() {
	var buf [8]*request
	ws := append(buf[:0], a.wakes...)
	clear(a.wakes)
	a.wakes = a.wakes[:0]
	a.mu.Unlock()
	for _, r := range ws {
		r.ready <- struct{}{}
	}
}

// enqueue makes r waiting (or granted at once when it names no lock).
func (a *Arbiter) enqueue(r *request, stageName string, now time.Time, out *[]Lease) {
	a.nextID++
	r.id = a.nextID
	r.requested = now
	s := a.stageFor(stageName, now)
	r.stage = s
	if !s.active() {
		floor := a.minActiveV()
		if !now.After(s.inactiveAt.Add(a.grace)) {
			// re-requesting at the instant it released: keeps its V
		} else if s.v < floor {
			s.v = floor
		}
	}
	s.requests++
	if len(r.locks) == 0 {
		s.nWaiting++ // grant undoes it
		a.grant(r, now, out)
		return
	}
	g := a.groupFor(s, r)
	if len(r.locks) > 1 {
		r.names = g.names
	}
	if a.nWaiting == 0 && a.fitsFree(r) {
		// Nobody waits, so the pass would grant r and nothing else; and
		// the last pass, which saw nobody waiting, left nothing withheld
		// or idle, as this one would: skip it.
		s.nWaiting++
		a.grant(r, now, out)
		return
	}
	r.linked = true
	a.settled = false
	g.push(r)
	if a.policy == Greedy {
		o := a.owners[r.owner]
		if o == nil {
			o = &ownerQueue{}
			a.owners[r.owner] = o
		}
		r.oprev = o.tail
		if o.tail != nil {
			o.tail.onext = r
		} else {
			o.head = r
		}
		o.tail = r
	}
	s.nWaiting++
	a.nWaiting++
	if !r.blocking {
		a.waiting[r.id] = r // for Cancel; Acquire cancels by pointer
	}
	for _, i := range r.locks {
		a.locks[i].waiting++
	}
	if s.urgent {
		a.insertUrgent(r)
	} else {
		for _, i := range r.locks {
			a.locks[i].waitingFair++
		}
	}
}

func (a *Arbiter) unlink(r *request) {
	a.settled = false
	s := r.stage
	r.linked = false
	r.group.remove(r)
	if a.policy == Greedy {
		o := a.owners[r.owner]
		if r.oprev != nil {
			r.oprev.onext = r.onext
		} else {
			o.head = r.onext
		}
		if r.onext != nil {
			r.onext.oprev = r.oprev
		} else {
			o.tail = r.oprev
		}
		r.oprev, r.onext = nil, nil
		if o.head == nil {
			delete(a.owners, r.owner)
		}
	}
	s.nWaiting--
	a.nWaiting--
	delete(a.waiting, r.id)
	for _, i := range r.locks {
		a.locks[i].waiting--
	}
	if s.urgent {
		a.removeUrgent(r)
	} else {
		for _, i := range r.locks {
			a.locks[i].waitingFair--
		}
	}
}

// fitsFree reports whether every lock of r has a free unit.
func (a *Arbiter) fitsFree(r *request) bool {
	for _, i := range r.locks {
		if a.locks[i].free == 0 {
			return false
		}
	}
	return true
}

func (a *Arbiter) grant(r *request, now time.Time, out *[]Lease) {
	a.settled = false
	if r.linked {
		a.unlink(r)
	} else {
		r.stage.nWaiting--
	}
	for _, i := range r.locks {
		l := a.locks[i]
		l.integrate(now)
		l.free--
		l.grants++
		a.freeTotal--
		if !r.stage.urgent {
			l.urgentRun = 0
		} else if l.waitingFair > 0 {
			l.urgentRun++
		}
	}
	s := r.stage
	s.nHolding++
	s.grants++
	s.waits.add(now.Sub(r.requested))
	a.nextToken++
	r.granted = true
	r.lease = Lease{
		Token: a.nextToken, Request: r.id, Stage: s.name, Owner: r.owner,
		Locks: r.names, Requested: r.requested, Granted: now,
	}
	a.leases.put(r)
	if r.blocking {
		a.wake(r)
		return
	}
	if out != nil {
		*out = append(*out, r.lease)
	}
}

// free returns r's units and charges its stage for the hold.
func (a *Arbiter) free(r *request, now time.Time) {
	a.settled = false
	a.leases.del(r.lease.Token)
	hold := now.Sub(r.lease.Granted)
	s := r.stage
	for _, i := range r.locks {
		l := a.locks[i]
		l.integrate(now)
		l.free++
		a.freeTotal++
		s.hold[i] += hold
		l.holdSum += hold
		l.holdCount++
	}
	s.v += hold.Seconds() * r.cost / s.weight
	s.nHolding--
	s.releases++
	s.holdTotal += hold
	if !s.active() {
		s.inactiveAt = now
	}
}

func (a *Arbiter) cancel(r *request, now time.Time) {
	a.unlink(r)
	s := r.stage
	s.cancels++
	if !s.active() {
		s.inactiveAt = now
	}
}

// Submit enqueues req without blocking and returns its ID and every grant
// the call made (req's own when it fits at once, possibly others'). The
// event-driven face: a simulator calls Submit, Release, Cancel and
// ReleaseOwner from one loop and learns of grants from their results.
func (a *Arbiter) Submit(req Request) (RequestID, []Lease, error) {
	a.mu.Lock()
	defer a.unlockAndWake()
	now := a.now()
	a.advance(now)
	r, err := a.newRequest(req, now, true)
	if err != nil {
		return 0, nil, err
	}
	settled, settledAt := a.settled, a.settledAt
	quiet := settled && now.Equal(settledAt) && !a.fitsFree(r)
	a.enqueue(r, req.Stage, now, &a.out)
	if quiet && r.linked && a.waitsQuietly(r) {
		// Settled at this instant, and r neither fits nor holds anything
		// back: a pass would find everything as the last one left it.
		a.settled, a.settledAt = settled, settledAt
	} else {
		a.dispatch(now, "", &a.out)
	}
	return r.id, a.takeOut(), nil
}

// waitsQuietly reports whether r, newly queued and not fitting the free
// units, changes nothing in a pass: under Greedy a request that does not
// fit does nothing; under Fair it reserves only once waited its bound, and
// it has waited nothing, so only a bound of zero (no hold of its locks
// completed yet) makes it reserve; under FIFO it blocks its locks.
func (a *Arbiter) waitsQuietly(r *request) bool {
	if r.stage.urgent {
		return false // it may keep free units from the rest
	}
	switch a.policy {
	case Greedy:
		return true
	case Fair:
		if a.bypass > 0 {
			return true
		}
		for _, i := range r.locks {
			if l := a.locks[i]; l.holdCount > 0 && 2*(l.holdSum/time.Duration(l.holdCount)) > 0 {
				return true
			}
		}
	}
	return false
}

// TryAcquire grants req at once or withdraws it: what Submit followed, if
// the request was not granted, by Cancel would do and report, in one call.
// ok says whether req was granted (lease is then its lease); grants are
// the other grants the call made. When one of req's locks has no free unit
// the request cannot be granted by the pass Submit would run, and that
// pass can grant nothing else (one more waiter only takes units), so only
// Cancel's pass runs: a dispatcher probing every processor for one whose
// locks are free pays one pass per probe, not two.
func (a *Arbiter) TryAcquire(req Request) (lease Lease, ok bool, grants []Lease, err error) {
	a.mu.Lock()
	defer a.unlockAndWake()
	now := a.now()
	a.advance(now)
	r, err := a.newRequest(req, now, true)
	if err != nil {
		return Lease{}, false, nil, err
	}
	fits := a.fitsFree(r)
	settled, settledAt := a.settled, a.settledAt
	a.enqueue(r, req.Stage, now, &a.out)
	if fits {
		a.dispatch(now, "", &a.out)
	}
	if r.granted {
		lease = r.lease
		for i, l := range a.out {
			if l.Token == lease.Token {
				a.out = slices.Delete(a.out, i, i+1)
				break
			}
		}
		return lease, true, a.takeOut(), nil
	}
	a.cancel(r, now)
	if !fits {
		// queued and withdrawn with no pass between: the waiting requests
		// and the free units are as they were (its stage, if it had
		// none waiting, waits for nothing, so its virtual time orders
		// nothing), so a pass settled before is still settled
		a.settled, a.settledAt = settled, settledAt
	}
	a.dispatch(now, "", &a.out)
	a.recycle(r)
	return Lease{}, false, a.takeOut(), nil
}

// takeOut returns the grants collected in a.out (nil for none) in a
// slice of their own: collecting into a field keeps the common call that
// grants nothing from allocating.
func (a *Arbiter) takeOut() []Lease {
	if len(a.out) == 0 {
		return nil
	}
	g := slices.Clone(a.out)
	clear(a.out)
	a.out = a.out[:0]
	return g
}

// Release returns a lease's units and grants them on. A token that is not
// currently held (already released, released with its owner, or never
// issued) is refused with ErrStaleToken and changes nothing.
func (a *Arbiter) Release(t Token) ([]Lease, error) {
	at := a.clock.Now()
	a.mu.Lock()
	defer a.unlockAndWake()
	r := a.leases.get(t)
	if r == nil {
		return nil, fmt.Errorf("arbiter: %w: %d", ErrStaleToken, t)
	}
	now := a.clamp(at)
	a.advance(now)
	a.free(r, now)
	a.dispatch(now, r.owner, &a.out)
	a.recycle(r)
	return a.takeOut(), nil
}

// Cancel withdraws a waiting request. A request already granted is not
// waiting (release its lease instead): ErrNotWaiting.
func (a *Arbiter) Cancel(id RequestID) ([]Lease, error) {
	a.mu.Lock()
	defer a.unlockAndWake()
	r := a.waiting[id]
	if r == nil {
		return nil, fmt.Errorf("arbiter: %w: request %d", ErrNotWaiting, id)
	}
	now := a.now()
	a.advance(now)
	a.cancel(r, now)
	a.dispatch(now, "", &a.out)
	a.recycle(r)
	return a.takeOut(), nil
}

// ReleaseOwner frees every lease held by owner and withdraws every request
// it is waiting on, as when its plugin process dies. Blocked Acquire calls
// of that owner return ErrOwnerReleased. It reports what was released and
// cancelled (in token and ID order) and the grants that followed.
func (a *Arbiter) ReleaseOwner(owner string) (released []Lease, cancelled []RequestID, granted []Lease) {
	a.mu.Lock()
	defer a.unlockAndWake()
	now := a.now()
	a.advance(now)
	var rs []*request
	a.leases.each(func(r *request) {
		if r.owner == owner {
			rs = append(rs, r)
		}
	})
	sort.Slice(rs, func(i, j int) bool { return rs[i].lease.Token < rs[j].lease.Token })
	for _, r := range rs {
		a.free(r, now)
		released = append(released, r.lease)
	}
	freed := rs
	rs = nil
	for _, s := range a.stageOrder {
		for _, g := range s.groupList {
			for p := g.next(g.qh); p < g.qt; p = g.next(p + 1) {
				if r := g.at(p).r; r.owner == owner {
					rs = append(rs, r)
				}
			}
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].id < rs[j].id })
	for _, r := range rs {
		a.cancel(r, now)
		cancelled = append(cancelled, r.id)
		if r.blocking {
			r.err = fmt.Errorf("arbiter: %w: %q", ErrOwnerReleased, owner)
			a.wake(r)
		}
	}
	a.dispatch(now, owner, &granted)
	for _, r := range freed {
		a.recycle(r)
	}
	for _, r := range rs {
		a.recycle(r)
	}
	return released, cancelled, granted
}

// Held reports whether token is a lease currently held.
func (a *Arbiter) Held(t Token) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leases.get(t) != nil
}
