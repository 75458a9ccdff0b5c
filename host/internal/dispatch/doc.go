// Package dispatch decides which processor runs each sealing task, and when.
//
// A task of a stage may start when all of these hold at once, and it holds
// all of them until it ends:
//
//   - a processor of the stage that is in service has a free slot (its
//     `concurrent`);
//   - the stage is under its limit (`limits`);
//   - the stage's last start is at least its stagger ago (`stagger`);
//   - the lock arbiter grants every lock of that processor together.
//
// Among the processors that can take the task now, the least loaded (by
// the fraction of its slots in use, then by running tasks, then config
// order) wins, so a freed second processor is used at once. damocles-worker
// instead blocks on the first configured processor when none is free.
// When a task must wait for locks, the dispatcher queues one lock request
// ("bid") at the arbiter for every processor of the stage that has a free
// slot, up to the number of waiting tasks: whichever lock frees first serves
// the oldest waiting task, and grants that arrive when no task is left to
// use them go straight back. Bids are withdrawn while the stage is at its
// limit or inside its stagger, and a processor bids for its next task
// before it returns its locks, so the arbiter sees its demand at the instant
// of release (the fair policy keeps its virtual time; greedy re-grants to
// it, as in damocles).
//
// # Deadlines and preemption
//
// A task may carry a deadline (SubmitDeadline, AcquireDeadline): a stage's
// waiting tasks start by deadline, and its bids carry the earliest one, so
// the arbiter orders urgent stages' bids (PoSt) by it. With Spec.Preempt
// the Core asks the Locker after every change, and at Wake, which running
// tasks to preempt for urgent ones; it reports each once (OnPreempt; the
// Dispatcher closes the Assignment's Preempted channel) and takes nothing
// away itself: the holder cancels the work, releases, and submits again.
//
// # Two faces, one core
//
// Core is a deterministic state machine: no goroutines, no sleeping, the
// time read from a Clock. Submit, Release, Cancel, DropProcessor,
// RestoreProcessor and Tick change it and report started tasks through a
// callback; Wake says when a stagger interval ends. `host simulate` drives
// it from an event loop on a virtual clock. Dispatcher wraps it for the
// real host: Acquire(ctx, stage) blocks until an Assignment is granted and
// honours ctx (a grant racing a cancellation is released); Release frees it;
// DropProcessor ends every assignment of a processor whose plugin died
// (their Lost channels close) and RestoreProcessor brings it back.
//
// # Cost
//
// Each stage keeps the processors that can be picked now (a free slot, and
// no lock request queued) sorted least loaded first, re-placed by binary
// search when a processor's load changes, so picking tries processors in
// order without sorting them per event. Bids are re-checked only for
// processors whose free slots or bids changed, unless the stage's queue or
// limits changed what every processor wants (a processor wants at most its
// free slots, so a long queue growing or shrinking moves no bid). What
// still grows with the processors of a stage is inherent to bidding on
// every free one: when its first task arrives or its last starts, every
// free processor with locks bids or withdraws.
//
// Locks come through the Locker interface; ArbiterLocker adapts package
// arbiter's event-driven face to it, with processor ids as lease owners.
// FromConfig builds a Dispatcher and its arbiter from a config for the real
// host; SpecFromConfig and ArbiterConfig give the parts for other clocks.
package dispatch
