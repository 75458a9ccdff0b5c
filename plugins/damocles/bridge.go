package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
)

// Restart budget: a child that dies more often than this (deaths the
// plugin did not cause itself) is not respawned again; the plugin ends and
// the host's restart backoff and crash-loop detection take over, with the
// reason in the processor's status.
const (
	maxDeaths   = 5
	deathWindow = time.Minute
)

// bridge multiplexes the calls of one plugin process over one damocles
// processor, respawning it when it dies.
type bridge struct {
	spec childSpec
	// cancelGrace is how long a cancelled call waits for its answer when
	// other calls share the child; then the child is killed.
	cancelGrace time.Duration
	log         hclog.Logger
	// fatal is told when the child cannot be kept running; main exits.
	fatal func(error)

	// ids number requests from 1, across respawns, as damocles does.
	ids atomic.Uint64

	mu  sync.Mutex
	cur *child // nil while a respawn runs
	// changed is closed (and replaced) whenever cur is replaced or the
	// bridge gives up, for calls waiting on a respawn.
	changed  chan struct{}
	fatalErr error
	closed   bool
	deaths   []time.Time
	// spawns counts children started, for tests and logs.
	spawns int
	// watched is closed when watch has returned: no child is being
	// started any more.
	watched chan struct{}
}

func newBridge(spec childSpec, cancelGrace time.Duration, fatal func(error)) (*bridge, error) {
	c, err := spawn(spec)
	if err != nil {
		return nil, err
	}
	b := &bridge{spec: spec, cancelGrace: cancelGrace, log: spec.Log, fatal: fatal, cur: c, changed: make(chan struct{}), spawns: 1, watched: make(chan struct{})}
	go b.watch(c)
	return b, nil
}

// watch waits for c to die and starts its successor.
func (b *bridge) watch(c *child) {
	defer close(b.watched)
	for {
		<-c.dead
		c.mu.Lock()
		forCancel := c.forCancel
		c.mu.Unlock()
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		b.cur = nil
		var budget error
		if !forCancel {
			now := time.Now()
			b.deaths = append(b.deaths, now)
			for len(b.deaths) > 0 && now.Sub(b.deaths[0]) > deathWindow {
				b.deaths = b.deaths[1:]
			}
			if len(b.deaths) > maxDeaths {
				budget = fmt.Errorf("%s died %d times within %v, last: %v; not respawning it", b.spec.describe(), len(b.deaths), deathWindow, c.deathErr)
			}
		}
		b.mu.Unlock()
		if budget != nil {
			b.giveUp(budget)
			return
		}
		if forCancel {
			b.log.Info("damocles processor killed to stop a cancelled call; respawning", "pid", c.pid, "why", c.deathErr)
		} else {
			b.log.Error("damocles processor died; respawning", "pid", c.pid, "error", c.deathErr)
		}
		next, err := spawn(b.spec)
		if err != nil {
			b.giveUp(fmt.Errorf("respawning %s after it ended (%v): %v", b.spec.describe(), c.deathErr, err))
			return
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			next.stop(time.Second)
			return
		}
		b.cur = next
		b.spawns++
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
		c = next
	}
}

func (b *bridge) giveUp(err error) {
	b.mu.Lock()
	b.fatalErr = err
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	b.log.Error("giving up on the damocles processor", "error", err)
	b.fatal(err)
}

// current returns the running child, waiting for a respawn under way.
func (b *bridge) current(ctx context.Context) (*child, error) {
	for {
		b.mu.Lock()
		c, changed, ferr, closed := b.cur, b.changed, b.fatalErr, b.closed
		b.mu.Unlock()
		switch {
		case ferr != nil:
			return nil, sdk.RetryableErrorf("%v", ferr)
		case closed:
			return nil, sdk.RetryableErrorf("the damocles bridge is stopping")
		case c != nil:
			select {
			case <-c.dead:
				// watch has not replaced it yet.
			default:
				return c, nil
			}
		}
		select {
		case <-changed:
		case <-c.deadOrNil():
			// Look again: watch may have replaced it meanwhile.
			time.Sleep(time.Millisecond)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// deadOrNil is c.dead, or a channel that never fires for no child.
func (c *child) deadOrNil() <-chan struct{} {
	if c == nil {
		return nil
	}
	return c.dead
}

// call sends task to the child and returns its output. It returns only
// once the child has answered or is gone, so the sdk's list of running
// calls (Info's running_calls) is true of the child's work.
func (b *bridge) call(ctx context.Context, task json.RawMessage) (json.RawMessage, error) {
	for {
		c, err := b.current(ctx)
		if err != nil {
			return nil, err
		}
		id := b.ids.Add(1)
		ch := c.register(id)
		if ch == nil {
			// It died between current and register; nothing was sent, so
			// the next child can take the request.
			continue
		}
		line, err := damocles.EncodeRequest(damocles.Request{ID: id, Task: task})
		if err != nil {
			c.forget(id)
			return nil, sdk.Errorf("%s: %v", b.spec.describe(), err)
		}
		go func() { _ = c.send(line) }()
		select {
		case r := <-ch:
			return r.output, r.err
		case <-ctx.Done():
			return nil, b.abandon(ctx, c, id, ch)
		}
	}
}

// abandon ends a cancelled call. Damocles' protocol cannot cancel one
// request, so the work stops only when the child answers or dies: alone
// in the child, the call kills it at once; sharing it, the call waits up
// to cancelGrace for the answer, then kills the child, and the other
// calls fail as retryable.
func (b *bridge) abandon(ctx context.Context, c *child, id uint64, ch chan result) error {
	if c.inFlight() > 1 && b.cancelGrace > 0 {
		t := time.NewTimer(b.cancelGrace)
		defer t.Stop()
		select {
		case <-ch:
			return ctx.Err()
		case <-t.C:
		}
	}
	b.log.Info("killing the damocles processor to stop a cancelled call", "id", id, "pid", c.pid, "in_flight", c.inFlight())
	c.killFor(fmt.Sprintf("to stop request %d, whose call was cancelled; damocles' protocol cannot cancel one request", id), true)
	<-c.dead
	return stopped{ctx.Err()}
}

// stopped is the error of a cancelled call whose processor was killed to
// stop it: the call's work was cut short (see stages.PC2). It is the
// context's error to everyone else.
type stopped struct{ err error }

func (e stopped) Error() string { return e.err.Error() }
func (e stopped) Unwrap() error { return e.err }

// close stops the child: stdin closed (its end, for a damocles
// processor), killed after grace.
func (b *bridge) close(grace time.Duration) {
	b.mu.Lock()
	b.closed = true
	c := b.cur
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	if c != nil {
		c.stop(grace)
	}
	// A respawn under way ends with a child that watch stops at once.
	<-b.watched
}
