package arbiter

import (
	"slices"
	"time"
)

// urgentBefore is the urgent order: requests with a deadline first,
// earliest first, then by request ID.
func urgentBefore(x, y *request) bool {
	xd, yd := !x.deadline.IsZero(), !y.deadline.IsZero()
	switch {
	case xd && yd && !x.deadline.Equal(y.deadline):
		return x.deadline.Before(y.deadline)
	case xd != yd:
		return xd
	}
	return x.id < y.id
}

// insertUrgent adds r to the urgent requests. There are few (PoSt), so a
// sorted slice beats a heap: the pass reads it in order.
func (a *Arbiter) insertUrgent(r *request) {
	k, _ := slices.BinarySearchFunc(a.urgent, r, func(e, t *request) int {
		if urgentBefore(e, t) {
			return -1
		}
		return 1
	})
	a.urgent = slices.Insert(a.urgent, k, r)
}

func (a *Arbiter) removeUrgent(r *request) {
	if k := slices.Index(a.urgent, r); k >= 0 {
		a.urgent = slices.Delete(a.urgent, k, k+1)
	}
}

// yields reports whether urgent requests for locks have had their burst:
// on one of the locks a non-urgent request waits and UrgentBurst urgent
// grants in a row went first. Such a request waits its turn in the
// policy's order instead.
func (a *Arbiter) yields(locks []int) bool {
	for _, i := range locks {
		if l := a.locks[i]; l.waitingFair > 0 && l.urgentRun >= a.burst {
			return true
		}
	}
	return false
}

// urgentPass runs before the policy's pass: it grants waiting urgent
// requests in urgent order, and keeps the free units of the locks of one
// that does not fit from every request after it, urgent or not (there is
// no bypass bound for urgent work: a WinningPoSt cannot wait for one).
func (p *pass) urgentPass() {
	a := p.a
	for k := 0; k < len(a.urgent) && !p.done(); {
		r := a.urgent[k]
		if a.yields(r.locks) {
			// decided once per pass: a fair grant later in the pass
			// ends the burst, but the policy's pass takes it from here
			r.group.yielded = p.stamp
			k++
			continue
		}
		fits := true
		for _, i := range r.locks {
			if a.avail[i] <= 0 {
				fits = false
				break
			}
		}
		for _, i := range r.locks {
			if a.avail[i] > 0 {
				p.take(i)
			}
		}
		if fits {
			a.grant(r, p.now, p.out) // removes a.urgent[k]
			continue
		}
		k++
	}
}

// Preemptions chooses leases to preempt for urgent requests, for the
// caller to cancel (their work is lost) and release: for each waiting
// urgent request that has waited past Config.Preempt's bound for a lock
// with no free unit, the holder of that lock granted last (the least work
// lost) among the non-urgent leases not chosen already. A request gets
// victims once. next is when a waiting urgent request not yet served
// reaches a bound (zero: none will), so the caller knows when to ask
// again; it should also ask after each Submit of an urgent stage. Chosen
// leases stay held until released, and the units they free go to the
// urgent requests first, as any freed unit does.
func (a *Arbiter) Preemptions() (victims []Lease, next time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.advance(now)
	for _, r := range a.urgent {
		if r.preempting {
			continue
		}
		chose, due := false, false
		var mine []*request // victims chosen for r: one may free several of its locks
		for _, i := range r.locks {
			l := a.locks[i]
			after, ok := l.preemptBound(r.stage.name)
			if !ok || l.free > 0 || slices.ContainsFunc(mine, func(v *request) bool { return slices.Contains(v.locks, i) }) {
				continue
			}
			at := r.requested.Add(after)
			if now.Before(at) {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				due = true
				continue
			}
			if v := a.victimFor(i); v != nil {
				mine = append(mine, v)
				v.victim = true
				v.stage.preempted++
				v.stage.preemptedWork += now.Sub(v.lease.Granted)
				victims = append(victims, v.lease)
				chose = true
			}
		}
		if chose && !due {
			r.preempting = true
		}
	}
	return victims, next
}

// preemptBound is how long an urgent request of stage waits for l before
// a holder is preempted; ok is false when l is not preempted for it.
func (l *lock) preemptBound(stage string) (time.Duration, bool) {
	if d, ok := l.preemptFor[stage]; ok {
		return d, true
	}
	return l.preemptAfter, l.preemptAll
}

// victimFor is the non-urgent lease on lock i granted last, not chosen yet.
func (a *Arbiter) victimFor(i int) *request {
	var v *request
	a.leases.each(func(r *request) {
		if r.victim || r.stage.urgent || !slices.Contains(r.locks, i) {
			return
		}
		if v == nil || r.lease.Token > v.lease.Token {
			v = r
		}
	})
	return v
}
