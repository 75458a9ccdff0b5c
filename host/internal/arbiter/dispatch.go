package arbiter

import (
	"sort"
	"time"
)

// blocked is how far a FIFO head-of-line request pushes the availability
// of its locks below zero: far enough that no later request in the same
// pass can take a unit of them.
const blocked = -(1 << 40)

// dispatch hands free units to waiting requests in the policy's order and
// then records, for the time-weighted statistics, which units sit free.
// releaser is the owner whose release caused the pass (Greedy's barging).
func (a *Arbiter) dispatch(now time.Time, releaser string, out *[]Lease) {
	open := 0
	for i, l := range a.locks {
		a.avail[i] = l.free
		if l.free > 0 {
			open++
		}
	}
	if a.nWaiting > 0 && open > 0 {
		p := pass{a: a, now: now, out: out, open: open}
		switch a.policy {
		case Greedy:
			p.greedy(releaser)
		default:
			p.merge()
		}
	}
	a.measure()
}

// pass is one dispatch pass over the waiting requests.
type pass struct {
	a    *Arbiter
	now  time.Time
	out  *[]Lease
	open int // locks with avail > 0; the pass ends at zero
}

func (p *pass) done() bool { return p.open == 0 || p.a.freeTotal == 0 }

func (p *pass) take(i int) {
	if p.a.avail[i] == 1 {
		p.open--
	}
	p.a.avail[i]--
}

// try grants r if one unit of each of its locks is available; otherwise the
// policy may hold units back for it from requests later in the pass.
func (p *pass) try(r *request) {
	a := p.a
	for _, i := range r.locks {
		if a.avail[i] <= 0 {
			p.holdBack(r)
			return
		}
	}
	for _, i := range r.locks {
		p.take(i)
	}
	a.grant(r, p.now, p.out)
}

func (p *pass) holdBack(r *request) {
	a := p.a
	switch a.policy {
	case FIFO:
		for _, i := range r.locks {
			if a.avail[i] > 0 {
				p.open--
			}
			if a.avail[i] > blocked {
				a.avail[i] = blocked
			}
		}
	case Fair:
		if p.now.Sub(r.requested) < a.bound(r) {
			return
		}
		for _, i := range r.locks {
			p.take(i)
		}
	}
}

// bound is how long r may be bypassed before its units are reserved.
func (a *Arbiter) bound(r *request) time.Duration {
	if a.bypass > 0 {
		return a.bypass
	}
	var b time.Duration
	for _, i := range r.locks {
		l := a.locks[i]
		if l.holdCount > 0 {
			if m := 2 * (l.holdSum / time.Duration(l.holdCount)); m > b {
				b = m
			}
		}
	}
	return b
}

// merge walks the stage queues merged by key: Fair orders by (stage
// virtual time, request ID), FIFO by request ID alone.
func (p *pass) merge() {
	a := p.a
	cs := a.cursors[:0]
	for _, s := range a.stageOrder {
		if s.head != nil {
			cs = append(cs, cursor{s, s.head})
		}
	}
	fair := a.policy == Fair
	for !p.done() {
		best := -1
		for k := range cs {
			c := &cs[k]
			if c.r == nil {
				continue
			}
			if best < 0 {
				best = k
				continue
			}
			b := &cs[best]
			if fair && c.s.v != b.s.v {
				if c.s.v < b.s.v {
					best = k
				}
				continue
			}
			if c.r.id < b.r.id {
				best = k
			}
		}
		if best < 0 {
			break
		}
		r := cs[best].r
		cs[best].r = r.next
		p.try(r)
	}
	a.cursors = cs[:0]
}

// greedy models damocles: the releasing owner's own queued requests re-take
// the units first (barging), then stages with more waiters win, the newest
// request first, as a just-arrived thread beats long sleepers.
func (p *pass) greedy(releaser string) {
	a := p.a
	if releaser != "" {
		var mine []*request
		for _, s := range a.stageOrder {
			for r := s.head; r != nil; r = r.next {
				if r.owner == releaser {
					mine = append(mine, r)
				}
			}
		}
		sort.Slice(mine, func(i, j int) bool { return mine[i].id < mine[j].id })
		for _, r := range mine {
			if p.done() {
				return
			}
			p.try(r)
		}
	}
	order := make([]*stage, 0, len(a.stageOrder))
	for _, s := range a.stageOrder {
		if s.tail != nil {
			order = append(order, s)
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].nWaiting != order[j].nWaiting {
			return order[i].nWaiting > order[j].nWaiting
		}
		return order[i].tail.id > order[j].tail.id
	})
	for _, s := range order {
		for r := s.tail; r != nil && !p.done(); {
			prev := r.prev
			p.try(r)
			r = prev
		}
	}
}

// measure records, until the next state change, how many free units the
// policy withholds and which locks sit free while a waiter that fits them
// waits. The second is zero by construction after a work-conserving pass;
// it is measured, not assumed, so a bug shows in the statistics.
func (a *Arbiter) measure() {
	anyFree := false
	for i, l := range a.locks {
		w := 0
		if l.free > 0 && a.nWaiting > 0 {
			av := a.avail[i]
			if av < 0 {
				av = 0
			}
			if av > l.free {
				av = l.free
			}
			w = l.free - av
		}
		l.withheld = w
		l.idleFlag = false
		if l.free-w > 0 && l.waiting > 0 {
			anyFree = true
		}
	}
	if !anyFree {
		return
	}
	for _, s := range a.stageOrder {
		for r := s.head; r != nil; r = r.next {
			fits := true
			for _, i := range r.locks {
				if l := a.locks[i]; l.free-l.withheld <= 0 {
					fits = false
					break
				}
			}
			if fits {
				for _, i := range r.locks {
					a.locks[i].idleFlag = true
				}
			}
		}
	}
}
