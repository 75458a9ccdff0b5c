package arbiter

import (
	"fmt"
	"math"
	"sort"
	"sync"
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

	locks     []*lock
	lockIdx   map[string]int
	freeTotal int

	stages     map[string]*stage
	stageOrder []*stage // creation order, for deterministic iteration
	floor      float64  // fair system virtual time: entering stages start here

	waiting map[RequestID]*request
	leases  map[Token]*request

	nextID    RequestID
	nextToken Token

	start, last time.Time

	// scratch reused by dispatch, so a pass allocates nothing
	avail    []int
	withheld []int
	cursors  []cursor
	nWaiting int
}

type lock struct {
	name     string
	capacity int
	free     int
	waiting  int // waiting requests that need this lock

	grants       int
	busy         time.Duration // unit-time held, up to a.last
	idleWaiting  time.Duration
	reservedIdle time.Duration // unit-time free but withheld by policy
	idleFlag     bool          // state since a.last: free, not withheld, a waiter fits
	withheld     int           // state since a.last

	holdSum   time.Duration // completed holds, for the adaptive bound
	holdCount int

	// a request for this lock alone shares these, saving two allocations
	one     []int
	oneName []string
}

type stage struct {
	name       string
	weight     float64
	v          float64 // virtual time, weighted seconds
	head, tail *request
	nWaiting   int
	nHolding   int
	inactiveAt time.Time

	requests, grants, cancels, releases int
	holdTotal                           time.Duration
	hold                                []time.Duration // completed unit-time per lock
	waits                               histogram
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

	prev, next *request // the stage's queue, oldest first

	// set on grant
	granted bool
	lease   Lease

	// blocking face
	blocking bool
	ready    chan struct{} // closed on grant or error, once a waiter exists
	err      error
}

// cursor walks one stage's queue during a dispatch pass.
type cursor struct {
	s *stage
	r *request
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

// advance integrates the time-weighted statistics up to now.
func (a *Arbiter) advance(now time.Time) {
	dt := now.Sub(a.last)
	if dt <= 0 {
		return
	}
	for _, l := range a.locks {
		if used := l.capacity - l.free; used > 0 {
			l.busy += time.Duration(used) * dt
		}
		if l.idleFlag {
			l.idleWaiting += dt
		}
		if l.withheld > 0 {
			l.reservedIdle += time.Duration(l.withheld) * dt
		}
	}
	a.last = now
}

func (a *Arbiter) stageFor(name string, now time.Time) *stage {
	s := a.stages[name]
	if s != nil {
		return s
	}
	w := 1.0
	if x, ok := a.weights[name]; ok {
		w = x
	}
	s = &stage{name: name, weight: w, v: a.minActiveV(), inactiveAt: now, hold: make([]time.Duration, len(a.locks))}
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
// fixed, so it runs outside the mutex; enqueue numbers the request.
func (a *Arbiter) newRequest(req Request, now time.Time) (*request, error) {
	if req.Stage == "" {
		return nil, fmt.Errorf("arbiter: %w: empty stage", ErrBadRequest)
	}
	if req.Owner == "" {
		return nil, fmt.Errorf("arbiter: %w: empty owner (stage %q)", ErrBadRequest, req.Stage)
	}
	r := &request{owner: req.Owner, requested: now}
	if len(req.Locks) == 1 {
		i, ok := a.lockIdx[req.Locks[0]]
		if !ok {
			return nil, fmt.Errorf("arbiter: %w %q in request of stage %q: declare it with its capacity", ErrUnknownLock, req.Locks[0], req.Stage)
		}
		l := a.locks[i]
		r.locks, r.names, r.cost = l.one, l.oneName, 1/float64(l.capacity)
		return r, nil
	}
	if len(req.Locks) > 0 {
		r.locks = make([]int, 0, len(req.Locks))
		r.names = make([]string, 0, len(req.Locks))
	}
	for _, name := range req.Locks {
		i, ok := a.lockIdx[name]
		if !ok {
			return nil, fmt.Errorf("arbiter: %w %q in request of stage %q: declare it with its capacity", ErrUnknownLock, name, req.Stage)
		}
		r.locks = append(r.locks, i)
	}
	sort.Ints(r.locks)
	for k, i := range r.locks {
		if k > 0 && r.locks[k-1] == i {
			return nil, fmt.Errorf("arbiter: %w: lock %q named twice by stage %q", ErrBadRequest, a.locks[i].name, req.Stage)
		}
		r.names = append(r.names, a.locks[i].name)
		if c := 1 / float64(a.locks[i].capacity); c > r.cost {
			r.cost = c
		}
	}
	return r, nil
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
	r.prev = s.tail
	if s.tail != nil {
		s.tail.next = r
	} else {
		s.head = r
	}
	s.tail = r
	s.nWaiting++
	a.nWaiting++
	if !r.blocking {
		a.waiting[r.id] = r // for Cancel; Acquire cancels by pointer
	}
	for _, i := range r.locks {
		a.locks[i].waiting++
	}
}

func (a *Arbiter) unlink(r *request) {
	s := r.stage
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		s.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		s.tail = r.prev
	}
	r.prev, r.next = nil, nil
	s.nWaiting--
	a.nWaiting--
	delete(a.waiting, r.id)
	for _, i := range r.locks {
		a.locks[i].waiting--
	}
}

func (a *Arbiter) grant(r *request, now time.Time, out *[]Lease) {
	if len(r.locks) > 0 {
		a.unlink(r)
	} else {
		r.stage.nWaiting--
	}
	for _, i := range r.locks {
		l := a.locks[i]
		l.free--
		l.grants++
		a.freeTotal--
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
	a.leases[r.lease.Token] = r
	if r.blocking {
		if r.ready != nil {
			close(r.ready)
		}
		return
	}
	if out != nil {
		*out = append(*out, r.lease)
	}
}

// free returns r's units and charges its stage for the hold.
func (a *Arbiter) free(r *request, now time.Time) {
	delete(a.leases, r.lease.Token)
	hold := now.Sub(r.lease.Granted)
	s := r.stage
	for _, i := range r.locks {
		l := a.locks[i]
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
	defer a.mu.Unlock()
	now := a.now()
	a.advance(now)
	r, err := a.newRequest(req, now)
	if err != nil {
		return 0, nil, err
	}
	var out []Lease
	a.enqueue(r, req.Stage, now, &out)
	a.dispatch(now, "", &out)
	return r.id, out, nil
}

// Release returns a lease's units and grants them on. A token that is not
// currently held (already released, released with its owner, or never
// issued) is refused with ErrStaleToken and changes nothing.
func (a *Arbiter) Release(t Token) ([]Lease, error) {
	at := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.leases[t]
	if r == nil {
		return nil, fmt.Errorf("arbiter: %w: %d", ErrStaleToken, t)
	}
	now := a.clamp(at)
	a.advance(now)
	a.free(r, now)
	var out []Lease
	a.dispatch(now, r.owner, &out)
	return out, nil
}

// Cancel withdraws a waiting request. A request already granted is not
// waiting (release its lease instead): ErrNotWaiting.
func (a *Arbiter) Cancel(id RequestID) ([]Lease, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.waiting[id]
	if r == nil {
		return nil, fmt.Errorf("arbiter: %w: request %d", ErrNotWaiting, id)
	}
	now := a.now()
	a.advance(now)
	a.cancel(r, now)
	var out []Lease
	a.dispatch(now, "", &out)
	return out, nil
}

// ReleaseOwner frees every lease held by owner and withdraws every request
// it is waiting on, as when its plugin process dies. Blocked Acquire calls
// of that owner return ErrOwnerReleased. It reports what was released and
// cancelled (in token and ID order) and the grants that followed.
func (a *Arbiter) ReleaseOwner(owner string) (released []Lease, cancelled []RequestID, granted []Lease) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.advance(now)
	var rs []*request
	for _, r := range a.leases {
		if r.owner == owner {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].lease.Token < rs[j].lease.Token })
	for _, r := range rs {
		a.free(r, now)
		released = append(released, r.lease)
	}
	rs = rs[:0]
	for _, s := range a.stageOrder {
		for r := s.head; r != nil; r = r.next {
			if r.owner == owner {
				rs = append(rs, r)
			}
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].id < rs[j].id })
	for _, r := range rs {
		a.cancel(r, now)
		cancelled = append(cancelled, r.id)
		if r.blocking {
			r.err = fmt.Errorf("arbiter: %w: %q", ErrOwnerReleased, owner)
			if r.ready != nil {
				close(r.ready)
			}
		}
	}
	a.dispatch(now, owner, &granted)
	return released, cancelled, granted
}

// Held reports whether token is a lease currently held.
func (a *Arbiter) Held(t Token) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leases[t] != nil
}
