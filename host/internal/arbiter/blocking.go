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
	r, err := a.newRequest(req, t, false)
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
		// copied under the mutex: once released, r may be reused
		lease := r.lease
		a.unlockAndWake()
		return lease, nil
	}
	// Wait. The request is now read by this call too, until it returns;
	// grants and ReleaseOwner signal ready under the mutex. Its channel
	// comes with the request when it is a reused one.
	r.refs.Add(1)
	r.waited = true
	if r.ready == nil {
		r.ready = make(chan struct{}, 1)
	}
	a.unlockAndWake()

	select {
	case <-r.ready:
		lease, err := r.lease, r.err
		a.recycleUnlocked(r)
		return lease, err
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.recycleUnlocked(r) // runs after the unlock
	defer a.unlockAndWake()
	now = a.now()
	a.advance(now)
	switch {
	case r.granted:
		<-r.ready                             // the grant's signal, which nobody took
		if a.leases.get(r.lease.Token) == r { // not already taken by ReleaseOwner
			a.free(r, now)
			a.dispatch(now, "", nil)
			a.recycle(r)
		}
	case r.err != nil:
		<-r.ready
		return Lease{}, r.err
	default:
		a.cancel(r, now)
		a.dispatch(now, "", nil)
		a.recycle(r)
	}
	return Lease{}, ctx.Err()
}
