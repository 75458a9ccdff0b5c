package arbiter

import (
	"math/bits"
	"time"
)

// Stats is a snapshot of what the arbiter has done since New. Durations
// that integrate over time run up to Now.
type Stats struct {
	Start, Now time.Time
	Locks      map[string]LockStats
	Stages     map[string]StageStats
}

// LockStats describes one lock.
type LockStats struct {
	Capacity int
	Held     int // units held now
	Waiting  int // requests waiting now that need this lock
	Grants   int
	// Busy is unit-time held (two units for an hour: 2h), including
	// leases still held.
	Busy time.Duration
	// BusyFraction is Busy over Capacity × (Now − Start).
	BusyFraction float64
	// IdleWhileWaiting is the time a unit was free, not withheld by the
	// policy, while a waiting request that needs this lock would have fit.
	// A work-conserving policy keeps it zero.
	IdleWhileWaiting time.Duration
	// Withheld is unit-time left free on purpose: Fair's reservations for
	// a request bypassed too long, FIFO's head-of-line blocking.
	Withheld time.Duration
	// Hold is unit-time held per stage; Share is the same over Busy.
	Hold  map[string]time.Duration
	Share map[string]float64
}

// StageStats describes one stage.
type StageStats struct {
	Weight float64
	// VirtualTime is the Fair virtual time V, in weighted lock-seconds.
	VirtualTime float64
	Requests    int
	Grants      int
	Cancels     int
	Releases    int
	Waiting     int // requests waiting now
	Holding     int // leases held now
	// HoldTime sums the lease durations, including leases still held.
	HoldTime time.Duration
	// Wait is the distribution of request-to-grant waits of granted
	// requests; LongestWaiting is the age of the oldest request still
	// waiting, which is where starvation shows.
	Wait           Distribution
	LongestWaiting time.Duration
	// Urgent says the stage is in Config.Urgent.
	Urgent bool
	// Preempted counts the stage's leases Preemptions chose; PreemptedWork
	// sums their holds up to then, the work their cancellation loses.
	Preempted     int
	PreemptedWork time.Duration
}

// Distribution summarises durations. P50 and P99 come from a log-linear
// histogram and are within 1% of the true quantile; Max is exact.
type Distribution struct {
	Count         int
	P50, P99, Max time.Duration
}

// Stats returns a snapshot.
func (a *Arbiter) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.advance(now)
	for _, l := range a.locks {
		l.integrate(now)
	}
	st := Stats{Start: a.start, Now: now, Locks: map[string]LockStats{}, Stages: map[string]StageStats{}}
	elapsed := now.Sub(a.start)
	live := map[string]time.Duration{} // per lock index/stage, held so far
	type key struct {
		lock  int
		stage string
	}
	liveHold := map[key]time.Duration{}
	a.leases.each(func(r *request) {
		d := now.Sub(r.lease.Granted)
		live[r.stage.name] += d
		for _, i := range r.locks {
			liveHold[key{i, r.stage.name}] += d
		}
	})
	for i, l := range a.locks {
		ls := LockStats{
			Capacity: l.capacity, Held: l.capacity - l.free, Waiting: l.waiting, Grants: l.grants,
			Busy: l.busy, IdleWhileWaiting: l.idleWaiting, Withheld: l.reservedIdle,
			Hold: map[string]time.Duration{}, Share: map[string]float64{},
		}
		if elapsed > 0 {
			ls.BusyFraction = float64(l.busy) / (float64(l.capacity) * float64(elapsed))
		}
		for _, s := range a.stageOrder {
			if d := s.hold[i]; d > 0 {
				ls.Hold[s.name] += d
			}
		}
		for k, d := range liveHold {
			if k.lock == i {
				ls.Hold[k.stage] += d
			}
		}
		if l.busy > 0 {
			for s, d := range ls.Hold {
				ls.Share[s] = float64(d) / float64(l.busy)
			}
		}
		st.Locks[l.name] = ls
	}
	for _, s := range a.stageOrder {
		ss := StageStats{
			Weight: s.weight, VirtualTime: s.v, Requests: s.requests, Grants: s.grants,
			Cancels: s.cancels, Releases: s.releases, Waiting: s.nWaiting, Holding: s.nHolding,
			HoldTime: s.holdTotal + live[s.name], Wait: s.waits.summary(),
			Urgent: s.urgent, Preempted: s.preempted, PreemptedWork: s.preemptedWork,
		}
		for _, g := range s.groupList {
			if g.n > 0 {
				ss.LongestWaiting = max(ss.LongestWaiting, now.Sub(g.head().at))
			}
		}
		st.Stages[s.name] = ss
	}
	return st
}

// histogram is log-linear: exact below 2^subBits nanoseconds, then 2^subBits
// buckets per power of two, so a bucket's midpoint is within 1/2^(subBits+1)
// of any value in it. Counts are allocated on first use.
type histogram struct {
	counts []uint32
	n      int
	max    time.Duration
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
	nBuckets   = (64 - subBits) * subBuckets
)

func bucketOf(v uint64) int {
	n := bits.Len64(v)
	if n <= subBits {
		return int(v)
	}
	shift := n - subBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bucketMid is the midpoint of bucket b.
func bucketMid(b int) time.Duration {
	if b < subBuckets {
		return time.Duration(b)
	}
	shift := b/subBuckets - 1
	top := uint64(b%subBuckets + subBuckets)
	lo := top << shift
	return time.Duration(lo + (uint64(1)<<shift)/2)
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if h.counts == nil {
		h.counts = make([]uint32, nBuckets)
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) quantile(q float64) time.Duration {
	rank := int(q*float64(h.n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	seen := 0
	for b, c := range h.counts {
		seen += int(c)
		if seen >= rank {
			if m := bucketMid(b); m < h.max {
				return m
			}
			return h.max
		}
	}
	return h.max
}

func (h *histogram) summary() Distribution {
	if h.n == 0 {
		return Distribution{}
	}
	return Distribution{Count: h.n, P50: h.quantile(0.5), P99: h.quantile(0.99), Max: h.max}
}
