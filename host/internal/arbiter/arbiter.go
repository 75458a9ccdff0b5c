package arbiter

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"sort"
	"sync"
	"time"
)

// Policy names how free lock units are handed to waiting requests.
// The strings match config.Policy, so a config value converts directly.
type Policy string

const (
	// Fair is start-time fair queuing between stages, charged after the
	// hold, with weights and bounded bypass. The default.
	Fair Policy = "fair"
	// FIFO grants strictly in request order, head-of-line per lock.
	FIFO Policy = "fifo"
	// Greedy models damocles: the releaser's own queued work re-takes the
	// lock at once, otherwise the stage with most waiters wins.
	Greedy Policy = "greedy"
)

// Clock tells the arbiter the time. Pass RealClock for a running host and a
// *ManualClock (or your own event loop's clock) for simulation; the arbiter
// never sleeps or starts timers, so virtual time costs nothing.
type Clock interface {
	Now() time.Time
}

// RealClock reads the monotonic clock, shown as wall time: the wall clock
// as read when the program started plus the monotonic time since. Reading
// it costs one clock read where time.Now costs two, and it is on every
// acquire and release; a wall clock set while the host runs does not move
// lease times, which only ever get compared with each other.
type RealClock struct{}

// startWall anchors RealClock; it carries a monotonic reading.
var startWall = time.Now()

// Now returns the start time plus the monotonic time elapsed since.
func (RealClock) Now() time.Time { return startWall.Add(time.Since(startWall)) }

// ManualClock is a virtual clock moved only by Set and Advance. It is safe
// for concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock reading start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{t: start} }

// Now returns the clock's current reading.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t. Moving it backwards is ignored by the arbiter
// (it treats an earlier reading as "no time passed").
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Config describes the locks and how they are shared.
type Config struct {
	// Policy defaults to Fair.
	Policy Policy
	// Locks maps a lock name to its capacity (at least 1). A request naming
	// any other lock is refused: a typo must not silently disable locking,
	// as it does in damocles.
	Locks map[string]int
	// Weights maps a stage to its weight (> 0, finite). Stages not listed
	// weigh 1. Only Fair uses weights.
	Weights map[string]float64
	// BypassBound is how long (Fair) the front request in fair order may be
	// bypassed by requests that fit while it does not, before free units of
	// its locks are reserved for it. Zero means adaptive: twice the mean
	// completed hold of the request's locks (no reservation delay until a
	// hold has been observed). Negative is an error.
	BypassBound time.Duration
	// ReentryGrace widens "the same instant" for the Fair rule that a stage
	// re-requesting when it releases keeps its virtual time. Zero suits a
	// virtual clock; a real host might use a few milliseconds.
	ReentryGrace time.Duration
	// Clock defaults to RealClock.
	Clock Clock

	// Urgent names stages whose requests go before every other request
	// (PoSt: a WindowPoSt that misses its deadline is a fault, a
	// WinningPoSt has seconds). When units free, waiting urgent requests
	// are granted first, by deadline (requests without one after those
	// with one), then by request order; one that does not fit keeps the
	// free units of its locks from non-urgent requests. Fair weights do
	// not order urgent work, but urgent stages are charged for their holds
	// like any stage.
	Urgent []string
	// UrgentBurst bounds how urgent work can starve the rest: on a lock
	// for which a non-urgent request waits, at most UrgentBurst urgent
	// grants in a row go first; then urgent requests for that lock wait
	// their turn in the policy's order (by virtual time under Fair) until
	// a non-urgent request is granted a unit of it. Zero means
	// DefaultUrgentBurst; negative is an error.
	UrgentBurst int
	// Preempt maps a lock to how long an urgent request may wait for it
	// before a non-urgent holder of it is chosen for preemption (see
	// Preemptions). Locks not listed are never preempted.
	Preempt map[string]time.Duration
	// PreemptFor maps a lock to urgent stages and their own bounds, which
	// replace Preempt's for those stages; a lock listed here and not in
	// Preempt is preempted for the listed stages only (a WinningPoSt, say,
	// not a WindowPoSt that can wait for one c2).
	PreemptFor map[string]map[string]time.Duration
}

// DefaultUrgentBurst is UrgentBurst's default: four urgent grants in a row
// on a lock sealing waits for, e.g. a WindowPoSt's partitions, then one
// turn for the fair order.
const DefaultUrgentBurst = 4

// RequestID names a request from Submit. IDs grow with submission order.
type RequestID uint64

// Token is a lease's fencing token. Tokens grow strictly with grant order
// across the whole arbiter and are never reused, so a holder whose lease
// was taken away (its plugin process died) can be told apart from the
// current holder by comparing tokens.
type Token uint64

// Request asks for one unit of each of Locks, all at once.
type Request struct {
	// Stage is the stage the task runs for ("pc2"); fairness and weights
	// are per stage.
	Stage string
	// Owner is the plugin process instance that will hold the lease
	// ("pc2.0#3"); ReleaseOwner frees everything it holds or waits for.
	Owner string
	// Locks are lock names, each wanted once. Order does not matter.
	// A request with no locks is granted at once.
	Locks []string
	// Deadline, for a request of an urgent stage, orders it among the
	// urgent requests (earliest first; zero: after every deadline, in
	// request order). Other stages ignore it.
	Deadline time.Time
}

// Lease is a granted request. It is a value: keep it, and give its Token
// back to Release.
type Lease struct {
	Token     Token
	Request   RequestID
	Stage     string
	Owner     string
	Locks     []string // sorted; shared, do not modify
	Requested time.Time
	Granted   time.Time
}

// Wait is how long the lease waited between request and grant.
func (l Lease) Wait() time.Duration { return l.Granted.Sub(l.Requested) }

// Errors returned by the arbiter. Wrapped errors name the lock, request or
// token involved; test with errors.Is.
var (
	ErrUnknownLock   = errors.New("unknown lock")
	ErrBadRequest    = errors.New("bad request")
	ErrStaleToken    = errors.New("stale or unknown lease token")
	ErrNotWaiting    = errors.New("request is not waiting")
	ErrOwnerReleased = errors.New("owner released while waiting")
)

// New checks cfg and returns an arbiter with every lock free.
func New(cfg Config) (*Arbiter, error) {
	policy := cfg.Policy
	if policy == "" {
		policy = Fair
	}
	switch policy {
	case Fair, FIFO, Greedy:
	default:
		return nil, fmt.Errorf("arbiter: unknown policy %q: use %q, %q or %q", policy, Fair, FIFO, Greedy)
	}
	if cfg.BypassBound < 0 {
		return nil, fmt.Errorf("arbiter: bypass bound %v is negative: use 0 for adaptive or a positive duration", cfg.BypassBound)
	}
	if cfg.ReentryGrace < 0 {
		return nil, fmt.Errorf("arbiter: reentry grace %v is negative", cfg.ReentryGrace)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = RealClock{}
	}
	names := make([]string, 0, len(cfg.Locks))
	for name, c := range cfg.Locks {
		if name == "" {
			return nil, fmt.Errorf("arbiter: a lock has an empty name")
		}
		if c < 1 {
			return nil, fmt.Errorf("arbiter: lock %q has capacity %d: capacity must be at least 1", name, c)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	weights := make(map[string]float64, len(cfg.Weights))
	for stage, w := range cfg.Weights {
		if !(w > 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("arbiter: stage %q has weight %v: weight must be a positive finite number", stage, w)
		}
		weights[stage] = w
	}
	burst := cfg.UrgentBurst
	if burst < 0 {
		return nil, fmt.Errorf("arbiter: urgent burst %d is negative: use 0 for the default (%d) or a positive count", burst, DefaultUrgentBurst)
	}
	if burst == 0 {
		burst = DefaultUrgentBurst
	}
	urgent := make(map[string]bool, len(cfg.Urgent))
	for _, st := range cfg.Urgent {
		if st == "" {
			return nil, fmt.Errorf("arbiter: an urgent stage has an empty name")
		}
		urgent[st] = true
	}
	now := clock.Now()
	a := &Arbiter{
		urgentStages: urgent,
		burst:        burst,
		clock:        clock,
		policy:       policy,
		bypass:       cfg.BypassBound,
		grace:        cfg.ReentryGrace,
		weights:      weights,
		lockIdx:      make(map[string]int, len(names)),
		stages:       make(map[string]*stage),
		waiting:      make(map[RequestID]*request),
		owners:       make(map[string]*ownerQueue),
		start:        now,
		last:         now,
	}
	for i, name := range names {
		c := cfg.Locks[name]
		a.locks = append(a.locks, &lock{name: name, capacity: c, free: c, at: now, one: []int{i}, oneName: []string{name}})
		a.lockIdx[name] = i
		a.freeTotal += c
	}
	for name, d := range cfg.Preempt {
		i, ok := a.lockIdx[name]
		if !ok {
			return nil, fmt.Errorf("arbiter: preemption of %w %q: declare it with its capacity", ErrUnknownLock, name)
		}
		if d < 0 {
			return nil, fmt.Errorf("arbiter: preemption bound %v of lock %q is negative", d, name)
		}
		a.locks[i].preemptAll, a.locks[i].preemptAfter = true, d
	}
	for name, by := range cfg.PreemptFor {
		i, ok := a.lockIdx[name]
		if !ok {
			return nil, fmt.Errorf("arbiter: preemption of %w %q: declare it with its capacity", ErrUnknownLock, name)
		}
		for st, d := range by {
			if !urgent[st] {
				return nil, fmt.Errorf("arbiter: lock %q is preempted for stage %q, which is not urgent: add it to Urgent", name, st)
			}
			if d < 0 {
				return nil, fmt.Errorf("arbiter: preemption bound %v of lock %q for %s is negative", d, name, st)
			}
		}
		if len(by) > 0 {
			a.locks[i].preemptFor = maps.Clone(by)
		}
	}
	a.avail = make([]int, len(a.locks))
	a.idle = make([]bool, len(a.locks))
	return a, nil
}

// Policy reports the policy in force.
func (a *Arbiter) Policy() Policy { return a.policy }
