package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// ErrProcessorLost is the cause of an Assignment's Lost channel closing: its
// processor was dropped (its plugin process died) while the task ran.
var ErrProcessorLost = errors.New("dispatch: processor lost")

// wallClock is the real time.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// WallClock is the Clock of the real host.
var WallClock Clock = wallClock{}

// Dispatcher is the blocking face of Core for the real host: goroutines call
// Acquire and wait; a timer wakes the core when a stagger interval ends.
// It is safe for concurrent use.
type Dispatcher struct {
	mu      sync.Mutex
	core    *Core
	clock   Clock
	pending map[TaskID]*Assignment // waiting or running, by task
	timer   *time.Timer
	wakeAt  time.Time
	closed  bool
	ready   []*Assignment // started by the current core call, not yet woken
}

// Assignment is a task's hold on a processor. Release it exactly once when
// the task ends; later calls do nothing.
type Assignment struct {
	Task      TaskID
	Stage     config.Stage
	Processor string
	// Lease is the arbiter's fencing token for the processor's locks (0 when
	// it has none): pass it along with the task so a stale holder can be
	// told apart.
	Lease uint64
	// Waited is how long Acquire waited.
	Waited time.Duration

	d         *Dispatcher
	started   chan struct{}
	lost      chan struct{}
	preempted chan struct{}
	ended     bool
}

// Preempted is closed when the arbiter chose the task for preemption: an
// urgent task has waited past the preemption bound of one of its locks.
// The holder should cancel the task's work, Release, and Acquire again
// if the task is to run later; it keeps its locks until it releases.
func (a *Assignment) Preempted() <-chan struct{} { return a.preempted }

func newAssignment(d *Dispatcher, id TaskID) *Assignment {
	return &Assignment{Task: id, d: d, started: make(chan struct{}), lost: make(chan struct{}), preempted: make(chan struct{})}
}

// Lost is closed when the assignment's processor is dropped while the task
// holds it, before anything it held is handed to another task; the holder
// should stop (Release is then a no-op).
func (a *Assignment) Lost() <-chan struct{} { return a.lost }

// Release frees the processor slot, the stage limit and the locks the task
// held.
func (a *Assignment) Release() {
	d := a.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	delete(d.pending, a.Task)
	d.core.Release(a.Task)
	d.wake()
	d.rearm()
}

// New returns a Dispatcher over spec. locks may be nil when no processor
// takes locks. Pass WallClock (or nil) outside tests.
func New(spec Spec, locks Locker, clock Clock) (*Dispatcher, error) {
	if clock == nil {
		clock = WallClock
	}
	d := &Dispatcher{clock: clock, pending: map[TaskID]*Assignment{}}
	core, err := NewCore(spec, locks, clock, d.started)
	if err != nil {
		return nil, err
	}
	core.OnPreempt(d.preempt)
	d.core = core
	return d, nil
}

// preempt runs under d.mu, inside a Core call.
func (d *Dispatcher) preempt(id TaskID) {
	if a := d.pending[id]; a != nil {
		close(a.preempted) // the Core reports a task once
	}
}

// started runs under d.mu, inside a Core call.
func (d *Dispatcher) started(s Start) {
	a := d.pending[s.Task]
	if a == nil {
		// Submit has not returned yet: Acquire fills the assignment in
		// from the core's answer below.
		a = newAssignment(d, s.Task)
		d.pending[s.Task] = a
	}
	a.Stage, a.Processor, a.Lease = s.Stage, s.Processor, s.Lease
	a.Waited = s.Started.Sub(s.Requested)
	d.ready = append(d.ready, a)
}

// wake tells the assignments started by the last core call. It runs after
// the call returns, so a caller can first finish what must be seen before
// any new holder runs (DropProcessor closes Lost channels first: nobody is
// handed a freed processor or lock while its old holder still looks alive).
func (d *Dispatcher) wake() {
	for _, a := range d.ready {
		close(a.started)
	}
	d.ready = d.ready[:0]
}

// Acquire waits until a processor of stage can take a task and returns the
// assignment. When ctx ends first it returns ctx's error and holds nothing:
// a task granted in the race with cancellation is released.
func (d *Dispatcher) Acquire(ctx context.Context, stage config.Stage) (*Assignment, error) {
	return d.AcquireDeadline(ctx, stage, time.Time{})
}

// AcquireDeadline is Acquire for a task with a deadline (Core.SubmitDeadline).
func (d *Dispatcher) AcquireDeadline(ctx context.Context, stage config.Stage, deadline time.Time) (*Assignment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("dispatch: dispatcher closed")
	}
	id, err := d.core.SubmitDeadline(stage, deadline)
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	a := d.pending[id]
	if a == nil {
		a = newAssignment(d, id)
		a.Stage = stage
		d.pending[id] = a
	}
	d.wake()
	d.rearm()
	d.mu.Unlock()

	select {
	case <-a.started:
		return a, nil
	case <-ctx.Done():
		d.mu.Lock()
		defer d.mu.Unlock()
		select {
		case <-a.started:
			// Granted in the race: give everything back.
		default:
		}
		a.ended = true
		delete(d.pending, id)
		d.core.Cancel(id)
		d.wake()
		d.rearm()
		return nil, ctx.Err()
	}
}

// DropProcessor takes a processor out of service because its plugin process
// died: every assignment on it is ended (its Lost channel closes) and frees
// what it held. It returns how many were dropped.
func (d *Dispatcher) DropProcessor(id string) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dropped, err := d.core.DropProcessor(id)
	if err != nil {
		return 0, err
	}
	for _, tid := range dropped {
		if a := d.pending[tid]; a != nil {
			a.ended = true
			close(a.lost)
			delete(d.pending, tid)
		}
	}
	d.wake()
	d.rearm()
	return len(dropped), nil
}

// RestoreProcessor puts a processor back in service after its plugin was
// restarted.
func (d *Dispatcher) RestoreProcessor(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.core.RestoreProcessor(id)
	d.wake()
	d.rearm()
	return err
}

// Stats returns the running and waiting tasks of a stage.
func (d *Dispatcher) Stats(stage config.Stage) (running, waiting int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.core.Running(stage), d.core.Waiting(stage)
}

// Close stops the stagger timer. Waiting Acquire calls keep waiting until
// their contexts end.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
}

// rearm sets the timer for the core's next stagger wake-up. Runs under d.mu.
func (d *Dispatcher) rearm() {
	at, ok := d.core.Wake()
	if !ok || d.closed {
		return
	}
	if d.timer != nil && d.wakeAt.Equal(at) {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.wakeAt = at
	delay := at.Sub(d.clock.Now())
	d.timer = time.AfterFunc(delay, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.timer = nil
		d.core.Tick()
		d.wake()
		d.rearm()
	})
}

// String is for debugging.
func (a *Assignment) String() string {
	return fmt.Sprintf("task %d: %s on %s", a.Task, a.Stage, a.Processor)
}
