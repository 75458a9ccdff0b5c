package arbiter

import (
	"slices"
	"time"
)

// A group is the waiting requests of one stage that ask for the same set of
// locks, oldest first. Every request of a group fits the free units or none
// does, and their waits shrink from head to tail, so a pass needs to look
// only at the next request of each group: the rest of the group does
// nothing until that one is granted or holds units back. Each lock lists
// the groups that ask for it, so a pass visits only the groups of locks with
// free units, however many requests wait behind them.
type group struct {
	stage *stage
	locks []int    // sorted lock indexes
	names []string // their names: the Locks of every lease of the group
	cost  float64  // dominant share of the lock set
	key   string   // in stage.groups

	// The queue is a ring of entries holding each request's ID and time
	// beside it, so a pass reads the next request's key from memory next
	// to the last one instead of from the request, and reads a request
	// only to grant it. Positions are absolute (q[pos&mask]); a withdrawn
	// request leaves a hole, trimmed away at either end.
	q      []entry
	qh, qt uint64 // live range [qh, qt); entries at qh and qt−1 are requests
	n      int    // requests in the ring

	// pass state, valid while stamp is the pass's
	stamp      uint64
	cur        uint64 // position of the next request the pass looks at; qt: none
	bound      int64  // bypass bound in ns, once per pass
	boundStamp uint64
	mstamp     uint64 // measure's visit mark
	yielded    uint64 // the pass whose urgent pass left it to the policy (urgent stages)
}

// entry is one place in a group's queue.
type entry struct {
	r  *request // nil: a hole
	id RequestID
	at time.Time // r.requested
}

func (g *group) at(pos uint64) *entry { return &g.q[pos&uint64(len(g.q)-1)] }

// next is the first request position from pos on (qt: none).
func (g *group) next(pos uint64) uint64 {
	for pos < g.qt && g.at(pos).r == nil {
		pos++
	}
	return pos
}

// prev is the last request position before pos (qh−1 when none, which
// wraps below qh; callers compare with qh first).
func (g *group) prev(pos uint64) (uint64, bool) {
	for pos > g.qh {
		pos--
		if g.at(pos).r != nil {
			return pos, true
		}
	}
	return 0, false
}

func (g *group) head() *entry { return g.at(g.qh) }     // n > 0
func (g *group) tail() *entry { return g.at(g.qt - 1) } // n > 0

// groupFor returns stage s's group for r's locks, making it on first use.
func (a *Arbiter) groupFor(s *stage, r *request) *group {
	if len(r.locks) == 1 {
		i := r.locks[0]
		if s.single == nil {
			s.single = make([]*group, len(a.locks))
		}
		if g := s.single[i]; g != nil {
			return g
		}
		g := a.newGroup(s, r.locks, "")
		s.single[i] = g
		return g
	}
	if g := s.lastMulti; g != nil && slices.Equal(g.locks, r.locks) {
		return g // a processor asks again and again for its own locks
	}
	buf := a.keyBuf[:0]
	for _, i := range r.locks {
		buf = append(buf, byte(i), byte(i>>8), byte(i>>16))
	}
	a.keyBuf = buf
	if g := s.groups[string(buf)]; g != nil { // no allocation for the lookup
		s.lastMulti = g
		return g
	}
	if s.groups == nil {
		s.groups = map[string]*group{}
	}
	g := a.newGroup(s, r.locks, string(buf))
	s.groups[g.key] = g
	s.lastMulti = g
	return g
}

func (a *Arbiter) newGroup(s *stage, locks []int, key string) *group {
	g := &group{stage: s, locks: append([]int(nil), locks...), key: key}
	for _, i := range g.locks {
		l := a.locks[i]
		g.names = append(g.names, l.name)
		if c := 1 / float64(l.capacity); c > g.cost {
			g.cost = c
		}
		l.groups = append(l.groups, g)
	}
	if len(g.locks) == 1 {
		g.names = a.locks[g.locks[0]].oneName
	}
	s.groupList = append(s.groupList, g)
	return g
}

func (g *group) push(r *request) {
	if g.qt-g.qh == uint64(len(g.q)) {
		g.resize()
	}
	*g.at(g.qt) = entry{r: r, id: r.id, at: r.requested}
	r.gpos = g.qt
	r.group = g
	g.qt++
	g.n++
}

// resize makes room in a full ring: it drops the holes when they are at
// least half of it, else doubles it; positions are renumbered from qh,
// which no pass can hold across (pushes happen between passes).
func (g *group) resize() {
	size := max(8, len(g.q))
	if g.n > len(g.q)/2 {
		size = 2 * len(g.q)
	}
	old, oh, ot := g.q, g.qh, g.qt
	g.q = make([]entry, size)
	g.qt = g.qh
	for p := oh; p < ot; p++ {
		if e := old[p&uint64(len(old)-1)]; e.r != nil {
			e.r.gpos = g.qt
			*g.at(g.qt) = e
			g.qt++
		}
	}
}

func (g *group) remove(r *request) {
	*g.at(r.gpos) = entry{}
	g.n--
	for g.qh < g.qt && g.at(g.qh).r == nil {
		g.qh++
	}
	for g.qt > g.qh && g.at(g.qt-1).r == nil {
		g.qt--
	}
}

// groupHeap orders the groups of a pass by the key of their next request:
// (stage virtual time, request ID) under Fair, the ID alone under FIFO. The
// virtual times do not change during a pass, so a group's key changes only
// when the pass moves past its next request.
type groupHeap struct {
	g    []*group
	fair bool
}

func (h *groupHeap) less(i, j int) bool {
	a, b := h.g[i], h.g[j]
	if h.fair && a.stage.v != b.stage.v {
		return a.stage.v < b.stage.v
	}
	return a.at(a.cur).id < b.at(b.cur).id
}

func (h *groupHeap) init() {
	for i := len(h.g)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *groupHeap) down(i int) {
	n := len(h.g)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.g[i], h.g[m] = h.g[m], h.g[i]
		i = m
	}
}

// pop removes the top group.
func (h *groupHeap) pop() {
	n := len(h.g) - 1
	h.g[0] = h.g[n]
	h.g[n] = nil
	h.g = h.g[:n]
	if n > 0 {
		h.down(0)
	}
}
