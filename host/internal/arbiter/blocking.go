package arbiter

import "context"

// Acquire is the blocking face for a running host: it submits req and waits
// until it is granted, ctx is done, or its owner is released. It runs on
// the same core as Submit, so policy and statistics are the same.
//
// When ctx ends first the request is withdrawn; if a grant raced the
// cancellation, the lease is released at once so its units go on to the
// next waiter, and ctx's error is returned.
//
// Grants made to Submit requests as a side effect of an Acquire (by its
// withdrawal, say) are not reported to anyone, so drive one Arbiter through
// one face: Acquire and Release from many goroutines, or Submit, Release,
// Cancel and ReleaseOwner from one event loop.
func (a *Arbiter) Acquire(ctx context.Context, req Request) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	// the clock, the checks and the allocations stay outside the mutex,
	// which every waiter's hand-off goes through
	t := a.clock.Now()
	r, err := a.newRequest(req, t)
	if err != nil {
		return Lease{}, err
	}
	r.blocking = true
	a.mu.Lock()
	now := a.clamp(t)
	a.advance(now)
	a.enqueue(r, req.Stage, now, nil)
	a.dispatch(now, "", nil)
	if r.granted {
		// nothing but the arbiter will read r again: it may be reused
		// once released
		lease := r.lease
		r.reusable = true
		a.mu.Unlock()
		return lease, nil
	}
	// the channel is made only for a request that has to wait; grants
	// and ReleaseOwner close it under the mutex
	r.ready = make(chan struct{})
	a.mu.Unlock()

	select {
	case <-r.ready:
		if r.err != nil {
			return Lease{}, r.err
		}
		return r.lease, nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now = a.now()
	a.advance(now)
	switch {
	case r.granted:
		if a.leases[r.lease.Token] == r { // not already taken by ReleaseOwner
			a.free(r, now)
			a.dispatch(now, "", nil)
		}
	case r.err != nil:
		return Lease{}, r.err
	default:
		a.cancel(r, now)
		a.dispatch(now, "", nil)
	}
	return Lease{}, ctx.Err()
}
