package dispatch

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
)

// Locker is the lock arbiter as the dispatcher drives it: non-blocking, on
// the same clock as the Core. Every call asks for or returns all the locks
// of one processor at once, so no task ever holds some of its locks while
// waiting for others. ArbiterLocker adapts package arbiter to it.
type Locker interface {
	// TryAcquire grants locks to stage for processor owner now, or reports
	// false leaving nothing queued. Leases are never 0.
	TryAcquire(stage config.Stage, owner string, locks []string) (lease uint64, ok bool)
	// Request queues a request for locks; its grant, at once or later, is
	// reported by Granted. deadline (zero: none) orders an urgent stage's
	// requests.
	Request(stage config.Stage, owner string, locks []string, deadline time.Time) (request uint64)
	// Cancel withdraws a request; one already granted is released.
	Cancel(request uint64)
	// Release returns a lease's locks.
	Release(lease uint64)
	// Granted returns, oldest first, the requests granted since the last
	// call. The slice is the caller's until the next call.
	Granted() []LockGrant
	// Preemptions returns the leases to preempt now for waiting urgent
	// requests, and when to ask again (zero: after the next change).
	Preemptions() (leases []uint64, next time.Time)
}

// LockGrant pairs a granted request with its lease.
type LockGrant struct {
	Request uint64
	Lease   uint64
}

// ArbiterLocker drives an *arbiter.Arbiter through its event-driven face
// (Submit, Release, Cancel), which reports grants as results; it keeps them
// until the Core asks. Owners are processor ids, so the arbiter's greedy
// policy sees a processor re-take the lock it released, as in damocles.
type ArbiterLocker struct {
	A       *arbiter.Arbiter
	pending []LockGrant
	spare   []LockGrant // the slice Granted handed out last, reused next
	// Err is the first error the arbiter returned. The Core only asks for
	// locks its config declares and releases what it holds, so an error
	// here is a bug; it is kept, not panicked on, for tests to check.
	Err error
}

// NewArbiterLocker wraps a.
func NewArbiterLocker(a *arbiter.Arbiter) *ArbiterLocker { return &ArbiterLocker{A: a} }

func (l *ArbiterLocker) fail(err error) {
	if err != nil && l.Err == nil {
		l.Err = err
	}
}

func (l *ArbiterLocker) note(leases []arbiter.Lease) {
	for _, le := range leases {
		l.pending = append(l.pending, LockGrant{Request: uint64(le.Request), Lease: uint64(le.Token)})
	}
}

// take removes request id from the pending grants, returning its lease.
func (l *ArbiterLocker) take(id uint64) (uint64, bool) {
	for i, g := range l.pending {
		if g.Request == id {
			l.pending = slices.Delete(l.pending, i, i+1)
			return g.Lease, true
		}
	}
	return 0, false
}

// TryAcquire asks the arbiter for the locks now, withdrawing the request
// when they are not granted at once (arbiter.TryAcquire: Submit and Cancel
// in one call).
func (l *ArbiterLocker) TryAcquire(stage config.Stage, owner string, locks []string) (uint64, bool) {
	lease, ok, leases, err := l.A.TryAcquire(arbiter.Request{Stage: string(stage), Owner: owner, Locks: locks})
	if err != nil {
		l.fail(fmt.Errorf("dispatch: lock request of %s: %w", owner, err))
		return 0, false
	}
	l.note(leases)
	if !ok {
		return 0, false
	}
	return uint64(lease.Token), true
}

// Request submits a request.
func (l *ArbiterLocker) Request(stage config.Stage, owner string, locks []string, deadline time.Time) uint64 {
	id, leases, err := l.A.Submit(arbiter.Request{Stage: string(stage), Owner: owner, Locks: locks, Deadline: deadline})
	if err != nil {
		l.fail(fmt.Errorf("dispatch: lock request of %s: %w", owner, err))
	}
	l.note(leases)
	return uint64(id)
}

// Cancel withdraws a request, releasing it if it was granted meanwhile.
func (l *ArbiterLocker) Cancel(id uint64) {
	if lease, ok := l.take(id); ok {
		l.Release(lease)
		return
	}
	leases, err := l.A.Cancel(arbiter.RequestID(id))
	l.fail(err)
	l.note(leases)
}

// Release returns a lease.
func (l *ArbiterLocker) Release(lease uint64) {
	leases, err := l.A.Release(arbiter.Token(lease))
	l.fail(err)
	l.note(leases)
}

// Preemptions asks the arbiter.
func (l *ArbiterLocker) Preemptions() ([]uint64, time.Time) {
	victims, next := l.A.Preemptions()
	var out []uint64
	for _, v := range victims {
		out = append(out, uint64(v.Token))
	}
	return out, next
}

// Granted hands over the grants collected so far.
func (l *ArbiterLocker) Granted() []LockGrant {
	g := l.pending
	l.pending, l.spare = l.spare[:0], g // two slices taking turns: no allocation
	return g
}

// ArbiterConfig is the arbiter's share of a config: its locks, the arbiter
// block's policy (policy, when not empty, overrides it) and weights, on
// clock.
func ArbiterConfig(cfg *config.Config, policy config.Policy, clock Clock) arbiter.Config {
	if policy == "" {
		policy = cfg.Arbiter.Policy
	}
	ac := arbiter.Config{Policy: arbiter.Policy(policy), Locks: map[string]int{}, Weights: map[string]float64{}, Clock: clock}
	for _, l := range cfg.Locks {
		ac.Locks[l.Name] = max(l.Capacity, 1)
	}
	for st, w := range cfg.Arbiter.Weights {
		ac.Weights[string(st)] = w
	}
	for _, st := range cfg.Arbiter.Urgent {
		ac.Urgent = append(ac.Urgent, string(st))
	}
	ac.UrgentBurst = cfg.Arbiter.UrgentBurst
	if len(cfg.Arbiter.Preempt) > 0 {
		ac.Preempt = maps.Clone(cfg.Arbiter.Preempt)
	}
	for lock, by := range cfg.Arbiter.PreemptFor {
		if ac.PreemptFor == nil {
			ac.PreemptFor = map[string]map[string]time.Duration{}
		}
		ac.PreemptFor[lock] = map[string]time.Duration{}
		for st, d := range by {
			ac.PreemptFor[lock][string(st)] = d
		}
	}
	return ac
}

// FromConfig builds the real host's dispatcher for cfg on the wall clock,
// with an arbiter for its locks (nil when it declares none; keep it for
// its Stats).
func FromConfig(cfg *config.Config) (*Dispatcher, *arbiter.Arbiter, error) {
	var l Locker
	var a *arbiter.Arbiter
	if len(cfg.Locks) > 0 {
		var err error
		a, err = arbiter.New(ArbiterConfig(cfg, "", arbiter.RealClock{}))
		if err != nil {
			return nil, nil, err
		}
		l = NewArbiterLocker(a)
	}
	d, err := New(SpecFromConfig(cfg), l, WallClock)
	if err != nil {
		return nil, nil, err
	}
	return d, a, nil
}
