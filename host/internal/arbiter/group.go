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

	head, tail *request
	// the head's ID and request time, kept here so that a pass looking at
	// every group of a lock reads no request that it does not act on
	headID RequestID
	headAt time.Time

	// pass state, valid while stamp is the pass's
	stamp      uint64
	cur        *request // next request the pass looks at
	curID      RequestID
	curAt      time.Time // cur's ID and request time, once curLoaded
	curLoaded  bool
	bound      int64 // bypass bound in ns, once per pass
	boundStamp uint64
	mstamp     uint64 // measure's visit mark
}

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
	r.gprev = g.tail
	if g.tail != nil {
		g.tail.gnext = r
	} else {
		g.head = r
		g.headID, g.headAt = r.id, r.requested
	}
	g.tail = r
	r.group = g
}

func (g *group) remove(r *request) {
	if r.gprev != nil {
		r.gprev.gnext = r.gnext
	} else {
		g.head = r.gnext
		if g.head != nil {
			g.headID, g.headAt = g.head.id, g.head.requested
		}
	}
	if r.gnext != nil {
		r.gnext.gprev = r.gprev
	} else {
		g.tail = r.gprev
	}
	r.gprev, r.gnext = nil, nil
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
	return a.curID < b.curID
}

// setCur points the pass's cursor of g at r (nil: past the last). Its ID
// and request time are read when needed (load): a group whose locks are
// all taken is dropped without reading its next request.
func (g *group) setCur(r *request) {
	g.cur, g.curLoaded = r, false
}

func (g *group) load() {
	if !g.curLoaded {
		g.curID, g.curAt, g.curLoaded = g.cur.id, g.cur.requested, true
	}
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
