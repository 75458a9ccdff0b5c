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
	if a.settled && now.Equal(a.settledAt) {
		// The last pass ran at this instant and nothing it reads has
		// changed since: it left the state a pass leaves, so this one
		// would change nothing either.
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
		if len(a.urgent) > 0 {
			p.urgentPass()
		}
		switch a.policy {
		case Greedy:
			p.greedy(releaser)
		default:
			p.merge()
		}
	}
	a.measure(now)
	a.settled, a.settledAt = true, now
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

// try grants e's request if one unit of each of its group's locks is
// available; otherwise the policy may hold units back for it from requests
// later in the pass. Holding back reads only the group and the entry.
func (p *pass) try(g *group, e *entry) {
	if !p.fits(g) {
		p.holdBack(g, e)
		return
	}
	for _, i := range g.locks {
		p.take(i)
	}
	p.a.grant(e.r, p.now, p.out)
}

func (p *pass) holdBack(g *group, e *entry) {
	a := p.a
	switch a.policy {
	case FIFO:
		for _, i := range g.locks {
			if a.avail[i] > 0 {
				p.open--
			}
			if a.avail[i] > blocked {
				a.avail[i] = blocked
			}
		}
	case Fair:
		if p.now.Sub(e.at) < p.bound(g) {
			return
		}
		for _, i := range g.locks {
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
	if g.cur >= g.qt {
		return false
	}
	if g.stage.urgent && g.yielded != p.stamp {
		return false // the urgent pass did all it may
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
	switch {
	case fits:
		return true
	case p.a.policy == FIFO:
		return true
	default:
		return p.now.Sub(g.at(g.cur).at) >= p.bound(g)
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
			if g.n == 0 || g.stamp == p.stamp {
				continue
			}
			g.stamp, g.cur = p.stamp, g.qh
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
		e := g.at(g.cur)
		p.try(g, e) // may grant and remove e's request, not move others
		g.cur = g.next(g.cur + 1)
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
				p.try(r.group, r.group.at(r.gpos))
				r = next
			}
		}
	}
	order := a.stageScratch[:0]
	for _, s := range a.stageOrder {
		if s.nWaiting > 0 {
			s.newest = 0
			for _, g := range s.groupList {
				if g.n > 0 && g.tail().id > s.newest {
					s.newest = g.tail().id
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
			g.cur, g.stamp = g.qt, 0 // qt: none left
			if last, ok := g.prev(g.qt); ok {
				g.cur, g.stamp = last, p.stamp
			}
		}
		for !p.done() {
			var best *group
			for _, g := range s.groupList {
				if g.stamp != p.stamp {
					continue
				}
				if !p.fits(g) {
					g.stamp = 0 // fits no later in the pass
					continue
				}
				if best == nil || g.at(g.cur).id > best.at(best.cur).id {
					best = g
				}
			}
			if best == nil {
				break
			}
			e := best.at(best.cur)
			if prev, ok := best.prev(best.cur); ok {
				best.cur = prev
			} else {
				best.stamp = 0
			}
			p.try(best, e)
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
				if g.n == 0 || g.mstamp == a.stamp {
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
