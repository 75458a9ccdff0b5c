// Package arbiter shares named counting locks (a GPU, a scratch disk)
// between sealing stages. It does no I/O and starts no goroutines: time is
// read from a Clock, so the same code runs a real host on the wall clock and
// `host simulate` on a virtual one.
//
// # Model
//
// A lock has a capacity (units). A Request, made on behalf of a stage
// ("pc2") and an owner (the plugin process instance that will hold it,
// "pc2.0#3"), asks for one unit of each of a set of locks. It is granted all
// of them at once or none: there is no hold-and-wait, so no deadlock. A
// request with no locks is granted at once.
//
// A grant is a Lease carrying a fencing Token. Tokens grow strictly with
// grant order and are never reused, so a stale holder is recognisable
// downstream, and Release with a token that is not currently held is an
// error that changes nothing: it can never free another holder's units.
// ReleaseOwner frees every lease of a dead plugin process and withdraws its
// waiting requests. Cancel withdraws one waiting request.
//
// Two faces share one core under one mutex:
//
//   - event-driven: Submit, Release, Cancel and ReleaseOwner never block;
//     each returns the grants it made. A simulator drives them from its
//     event loop with a virtual clock, deterministically.
//   - blocking: Acquire(ctx, Request) waits for the grant, honouring ctx;
//     a grant that races a cancellation is returned to the pool.
//
// Every state change ends with a dispatch pass that hands free units to
// waiting requests in the policy's order.
//
// # Policies
//
// Fair (the default) is start-time fair queuing between stages with time
// charged after the hold (stride scheduling). Each stage has a virtual time
// V. A pass visits waiting requests by (V of their stage, request ID) and
// grants every one whose units are all free. On release,
//
//	V[stage] += hold × cost / weight[stage]
//
// where cost is the request's dominant share, the largest 1/capacity over
// its locks (1 for one capacity-1 lock, 0.5 for a unit of a capacity-2
// lock, 0 for no lock). Charging after the hold needs no estimate of hold
// times, which for sealing tasks are minutes long and unknown in advance.
// A stage that becomes active after being idle starts at max(its V, least V
// of the active stages) so it cannot bank credit while idle; a stage that
// re-requests at the instant it releases (within Config.ReentryGrace) keeps
// its V. Work conservation means a stage with no request waiting at the
// instant it releases loses the lock to a waiter; to model a processor with
// more work, submit its next request before releasing the current lease
// (the arbiter grants it at the release if its stage is due). There is one
// V per stage across all locks, so a stage heavy on one
// lock yields a little on the others (dominant resource fairness).
//
// Fair is work-conserving: a unit is never left free while a request that
// fits waits, with one exception. A request wanting several locks (gpu and
// scratch) could wait forever while narrow requests keep one of its locks
// busy. So a request that does not fit may be bypassed only until it has
// waited Config.BypassBound (default: twice the mean completed hold of its
// locks); after that a unit of each of its locks is reserved for it against
// requests later in the order. Units left free by a reservation are
// reported as Withheld, apart from IdleWhileWaiting, which stays zero.
//
// FIFO grants strictly in request order per lock: a waiting request blocks
// later requests that need any of its locks (head-of-line), while requests
// on other locks go ahead. Under FIFO a stage's share follows its number of
// waiters times its hold time, not its weight.
//
// Greedy models what damocles does in effect, for comparison. When an
// owner releases, its own waiting requests re-take the units first
// (barging: a processor with more work keeps the lock). Otherwise the stage
// with the most waiting requests wins, its newest request first (a thread
// that just arrived beats long sleepers). Barging needs the releaser's next
// request to be waiting when it releases, as a damocles thread already
// blocked on the lock is. Greedy still grants all locks of a
// request at once; it models damocles' grant order, not its hold-and-wait.
//
// # Urgent work
//
// Fair sharing by weight is the rule for sealing stages and the wrong one
// for deadlines: a WindowPoSt that misses its deadline is a fault, a
// WinningPoSt has seconds. Stages named in Config.Urgent go first: every
// pass starts by granting waiting urgent requests in urgent order (by
// Request.Deadline, earliest first, requests without one after those with
// one, then by ID), under every policy. An urgent request that does not fit
// keeps the free units of its locks from every request after it at once,
// with no bypass bound. Urgent stages are still charged for their holds.
//
// What bounds them: on a lock for which a non-urgent request waits, at
// most Config.UrgentBurst urgent grants in a row go first; then urgent
// requests for that lock take their turn in the policy's order until a
// non-urgent request is granted a unit of it, and the count starts again.
// So a flood of urgent work delays a sealing request by at most
// UrgentBurst urgent holds per turn it gets, never forever
// (TestUrgentBurstBoundsStarvation; the property test runs urgent stages
// against all three policies).
//
// Preemption is the caller's to carry out: the arbiter cancels nothing
// (it does no I/O). Preemptions names, for each urgent request that has
// waited past Config.Preempt's bound for a full lock, the non-urgent lease
// on it granted last (the least work lost), once per request, and when to
// ask again. The caller cancels that task and requeues it; its release
// frees the unit, which goes to the urgent request first. The stage's
// Preempted and PreemptedWork statistics count what was lost.
//
// # Why
//
// damocles' ext_locks are counting semaphores with no fairness: a releasing
// thread can re-take the lock at once and whichever stage has more waiting
// threads tends to win, so with pc2 and c2 sharing a GPU, c2 may never run
// and sealed-but-unproven sectors pile up. It takes several locks one by one
// while holding the earlier ones (two processors listing locks in opposite
// orders deadlock), it has no weights, and an undeclared lock name means no
// limit. This package refuses unknown lock names, grants all locks at once,
// and shares a lock by weight without leaving it idle.
//
// # Statistics
//
// Stats reports per lock the busy unit-time, idle-while-waiting time,
// withheld unit-time and share per stage, and per stage the grants, hold
// time and wait distribution (p50 and p99 within 1%, max exact). They cost
// a few additions per lock a state change touches, plus a look at each
// group (below) of a lock whose units sit free while its requests wait.
//
// # Cost
//
// Waiting requests are kept in groups, one per stage and set of locks, and
// each lock lists its groups. The requests of a group fit the free units
// together or not at all, and the older ones have waited longer, so a pass
// needs only the next request of each group: it merges the groups of the
// locks that have free units in a heap by (stage V, ID of that request),
// skips a group as soon as its next request would change nothing (neither
// fits nor may reserve), and works out each group's bypass bound once. A
// pass so costs about the number of groups on free locks plus the grants
// and reservations it makes, however many requests wait: decisions are the
// same as visiting every waiting request in order (testdata/trace.golden
// pins them). When nobody waits, a request that fits is granted without a
// pass. Requests and their wait channels are reused, so an acquire and a
// release allocate nothing, waiting or not; waiters are woken after the
// mutex is released, so the critical section never readies a goroutine.
//
// One Arbiter should be driven through one face: grants that an Acquire's
// own withdrawal causes for Submit requests are reported to no one.
package arbiter
