package arbiter

import (
	"slices"
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
	if a.nWaiting == 0 && a.nMarked == 0 {
		// Nobody waits and the last pass left nothing withheld or idle:
		// a pass now would change nothing.
		return
	}
	open := 0
	for i, l := range a.locks {
		a.avail[i] = l.free
		if l.free > 0 {
			open++
		}
	}
	if a.nWaiting > 0 && open > 0 {
		a.stamp++
		p := pass{a: a, now: now, out: out, open: open, stamp: a.stamp}
		switch a.policy {
		case Greedy:
			p.greedy(releaser)
		default:
			p.merge()
		}
	}
	a.measure(now)
}

// pass is one dispatch pass over the waiting requests.
type pass struct {
	a     *Arbiter
	now   time.Time
	out   *[]Lease
	open  int // locks with avail > 0; the pass ends at zero
	stamp uint64
}

func (p *pass) done() bool { return p.open == 0 || p.a.freeTotal == 0 }

func (p *pass) take(i int) {
	if p.a.avail[i] == 1 {
		p.open--
	}
	p.a.avail[i]--
}

// fits reports whether one unit of each of g's locks is available.
func (p *pass) fits(g *group) bool {
	for _, i := range g.locks {
		if p.a.avail[i] <= 0 {
			return false
		}
	}
	return true
}

// try grants r if one unit of each of its locks is available; otherwise the
// policy may hold units back for it from requests later in the pass.
func (p *pass) try(r *request) {
	a := p.a
	if !p.fits(r.group) {
		p.holdBack(r)
		return
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
		if p.now.Sub(r.requested) < p.bound(r.group) {
			return
		}
		for _, i := range r.locks {
			p.take(i)
		}
	}
}

// bound is how long a request of g may be bypassed before its units are
// reserved: the same for the whole group, so worked out once per pass.
func (p *pass) bound(g *group) time.Duration {
	a := p.a
	if a.bypass > 0 {
		return a.bypass
	}
	if g.boundStamp == p.stamp {
		return time.Duration(g.bound)
	}
	var b time.Duration
	for _, i := range g.locks {
		l := a.locks[i]
		if l.holdCount > 0 {
			if m := 2 * (l.holdSum / time.Duration(l.holdCount)); m > b {
				b = m
			}
		}
	}
	g.bound, g.boundStamp = int64(b), p.stamp
	return b
}

// live reports whether the pass's next request of g would do anything:
// be granted, or hold units back. A request that neither fits nor may hold
// back leaves every unit as it is, and so would every later request of
// its group in this pass (units only get scarcer as a pass goes on, and
// later requests have waited less), so the group is done.
func (p *pass) live(g *group) bool {
	if g.cur == nil {
		return false
	}
	fits, open := true, false
	for _, i := range g.locks {
		if p.a.avail[i] > 0 {
			open = true
		} else {
			fits = false
		}
	}
	if !open {
		return false
	}
	g.load() // the heap orders live groups by their next request's ID
	switch {
	case fits:
		return true
	case p.a.policy == FIFO:
		return true
	default:
		return p.now.Sub(g.curAt) >= p.bound(g)
	}
}

// merge visits waiting requests by key, Fair by (stage virtual time,
// request ID), FIFO by request ID alone, as if it walked every queue; it
// skips what would change nothing: groups on locks with no free unit and
// groups whose next request neither fits nor may hold units back.
func (p *pass) merge() {
	a := p.a
	h := groupHeap{g: a.heap[:0], fair: a.policy == Fair}
	for _, l := range a.locks {
		if l.free == 0 || l.waiting == 0 {
			continue
		}
		for _, g := range l.groups {
			if g.head == nil || g.stamp == p.stamp {
				continue
			}
			g.stamp, g.cur, g.curID, g.curAt, g.curLoaded = p.stamp, g.head, g.headID, g.headAt, true
			if p.live(g) {
				h.g = append(h.g, g)
			}
		}
	}
	h.init()
	for len(h.g) > 0 {
		g := h.g[0]
		if !p.live(g) { // another group took its units since it was pushed
			h.pop()
			continue
		}
		r := g.cur
		next := r.gnext
		p.try(r)
		g.setCur(next)
		if p.live(g) {
			h.down(0)
		} else {
			h.pop()
		}
	}
	a.heap = h.g[:0]
}

// greedy models damocles: the releasing owner's own queued requests re-take
// the units first (barging), then stages with more waiters win, the newest
// request first, as a just-arrived thread beats long sleepers.
func (p *pass) greedy(releaser string) {
	a := p.a
	if releaser != "" {
		if o := a.owners[releaser]; o != nil {
			for r := o.head; r != nil && !p.done(); {
				next := r.onext
				p.try(r)
				r = next
			}
		}
	}
	order := a.stageScratch[:0]
	for _, s := range a.stageOrder {
		if s.nWaiting > 0 {
			s.newest = 0
			for _, g := range s.groupList {
				if g.tail != nil && g.tail.id > s.newest {
					s.newest = g.tail.id
				}
			}
			order = append(order, s)
		}
	}
	slices.SortFunc(order, func(x, y *stage) int {
		if x.nWaiting != y.nWaiting {
			return y.nWaiting - x.nWaiting
		}
		if x.newest > y.newest {
			return -1
		}
		return 1
	})
	a.stageScratch = order[:0]
	for _, s := range order {
		// newest first across the stage's groups; a group that does not
		// fit now fits no later in the pass
		for _, g := range s.groupList {
			g.setCur(g.tail)
		}
		for !p.done() {
			var best *group
			for _, g := range s.groupList {
				if g.cur == nil {
					continue
				}
				if !p.fits(g) {
					g.cur = nil
					continue
				}
				g.load()
				if best == nil || g.curID > best.curID {
					best = g
				}
			}
			if best == nil {
				break
			}
			r := best.cur
			best.setCur(r.gprev)
			p.try(r)
		}
	}
}

// measure records, until the next state change, how many free units the
// policy withholds and which locks sit free while a waiter that fits them
// waits. The second is zero by construction after a work-conserving pass;
// it is measured, not assumed, so a bug shows in the statistics. Requests
// are looked at a group at a time: they fit or not together.
func (a *Arbiter) measure(now time.Time) {
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
		if w != l.withheld {
			l.integrate(now)
			l.withheld = w
		}
		a.idle[i] = false
		if l.free-w > 0 && l.waiting > 0 {
			anyFree = true
		}
	}
	if anyFree {
		a.stamp++
		for _, l := range a.locks {
			if l.free-l.withheld <= 0 || l.waiting == 0 {
				continue
			}
			for _, g := range l.groups {
				if g.head == nil || g.mstamp == a.stamp {
					continue
				}
				g.mstamp = a.stamp
				fits := true
				for _, i := range g.locks {
					if l := a.locks[i]; l.free-l.withheld <= 0 {
						fits = false
						break
					}
				}
				if fits {
					for _, i := range g.locks {
						a.idle[i] = true
					}
				}
			}
		}
	}
	a.nMarked = 0
	for i, l := range a.locks {
		if a.idle[i] != l.idleFlag {
			l.integrate(now)
			l.idleFlag = a.idle[i]
		}
		if l.idleFlag || l.withheld > 0 {
			a.nMarked++
		}
	}
}
