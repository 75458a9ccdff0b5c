package arbiter

// leaseTable maps the tokens of held leases to their requests: open
// addressing with linear probing over a power-of-two table, at most half
// full. Every acquire and release looks a token up, and a Go map's hashing
// and bookkeeping were a fifth of an uncontended acquire+release.
type leaseTable struct {
	slots []*request // nil: empty
	n     int
	shift uint // 64 − log2(len(slots))
}

func (t *leaseTable) home(tok Token) int {
	return int((uint64(tok) * 0x9e3779b97f4a7c15) >> t.shift)
}

func (t *leaseTable) get(tok Token) *request {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(tok); ; i = (i + 1) & mask {
		r := t.slots[i]
		if r == nil || r.lease.Token == tok {
			return r
		}
	}
}

func (t *leaseTable) put(r *request) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := len(t.slots) - 1
	i := t.home(r.lease.Token)
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = r
	t.n++
}

func (t *leaseTable) grow() {
	old := t.slots
	size := max(16, 2*len(old))
	t.slots = make([]*request, size)
	t.shift = 64
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	t.n = 0
	for _, r := range old {
		if r != nil {
			t.put(r)
		}
	}
}

// del removes tok, shifting later entries of its probe run back so that
// no lookup stops early at the hole.
func (t *leaseTable) del(tok Token) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(tok)
	for {
		r := t.slots[i]
		if r == nil {
			return
		}
		if r.lease.Token == tok {
			break
		}
		i = (i + 1) & mask
	}
	t.n--
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		r := t.slots[j]
		if r == nil {
			break
		}
		// r may move to the hole at i if its home is not in (i, j]
		h := t.home(r.lease.Token)
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i] = r
			i = j
		}
	}
	t.slots[i] = nil
}

// each calls f for every held lease's request, in no particular order.
func (t *leaseTable) each(f func(*request)) {
	for _, r := range t.slots {
		if r != nil {
			f(r)
		}
	}
}
