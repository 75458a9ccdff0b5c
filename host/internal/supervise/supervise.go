package supervise

import (
	"context"
	"errors"
	"fmt"
	"github.com/sealhost/sealhost/host/internal/config"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// State is where a processor is in its life.
type State string

const (
	Starting State = "starting" // plugin being launched
	Running  State = "running"  // plugin up, taking tasks
	Backoff  State = "backoff"  // plugin died; waiting to restart
	Failed   State = "failed"   // crash loop: no more restarts
	Stopped  State = "stopped"  // Stop was called
)

// Backoff bounds restarts.
type BackoffPolicy struct {
	// Initial is the wait after the first failure, doubled after each
	// further one up to Max.
	Initial, Max time.Duration
	// Stable is how long an instance must run before its exit no longer
	// counts as part of a crash loop.
	Stable time.Duration
	// MaxFailures is how many consecutive failures (failed starts, or exits
	// before Stable) mark the processor Failed.
	MaxFailures int
	// Cooldown is how long a processor stays Failed before it re-arms and
	// tries its plugin once more: what failed it may have been passing (a
	// task that ran it out of memory, a driver being reloaded), and a
	// processor failed for good would need the whole host restarted. The
	// backoff continues across the re-arm: the failure count is kept, so
	// a re-armed plugin that fails again before Stable fails the processor
	// again at once, and each such cool-down doubles up to CooldownMax.
	// Zero takes DefaultCooldown and DefaultCooldownMax.
	Cooldown, CooldownMax time.Duration
}

// DefaultBackoff restarts after 0.5 s, 1 s, 2 s … up to 30 s, fails the
// processor after 5 failures in a row, and re-arms it after 5, 10, 20 …
// up to 60 minutes.
var DefaultBackoff = BackoffPolicy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Stable: time.Minute, MaxFailures: 5, Cooldown: DefaultCooldown, CooldownMax: DefaultCooldownMax}

// The default cool-downs of a failed processor.
const (
	DefaultCooldown    = 5 * time.Minute
	DefaultCooldownMax = time.Hour
)

// Config describes one processor.
type Config struct {
	// ID is the processor id ("pc2.0") and Stage its stage.
	ID, Stage string
	// Spec is what to run and how to confine it.
	Spec confine.Spec
	// Timeout limits one task; 0 means none.
	Timeout time.Duration
	// CancelGrace is how long a plugin has, after a task's deadline, to
	// give up before it is killed. Default 10 s.
	CancelGrace time.Duration
	// StartTimeout bounds one start (handshake and health check). Default
	// pluginclient.DefaultStartTimeout.
	StartTimeout time.Duration
	// HealthInterval is how often the plugin's health service is checked
	// (default 2 s); HealthFailures consecutive failures (default 3) mean
	// the plugin hangs and it is killed.
	HealthInterval time.Duration
	HealthFailures int
	Backoff        BackoffPolicy
	Logger         hclog.Logger
	// OnExit is called once for each plugin instance after its process is
	// gone, with the instance's owner name; the host releases the
	// instance's lock leases there. It must not block for long.
	OnExit func(owner string)
	// OnOOM, when set, runs when the kernel's OOM killer ended a plugin
	// (for the host's metric).
	OnOOM func()
	// Launch, when set, replaces starting the confined plugin process: it
	// returns a started plugin. For tests that drive supervision over an
	// in-process plugin (thousands of crashes and cancellations in
	// seconds); a Conn that is not a *pluginclient.Client reaches Do's f
	// as a nil client.
	Launch func(ctx context.Context, owner string) (Conn, error)
}

// Conn is a started plugin as supervision sees it; *pluginclient.Client is
// the real one.
type Conn interface {
	// Info lists what the plugin serves and the calls it is running.
	Info(ctx context.Context) (*sealv1.InfoResponse, error)
	// Ping checks the plugin's health service.
	Ping(ctx context.Context) error
	// Exited is closed once the process is gone; ExitError says how.
	Exited() <-chan struct{}
	ExitError() error
	// Kill stops the process (gracefully first, until ctx ends).
	Kill(ctx context.Context) error
	Pid() int
}

// DeadlineMetadata is the gRPC metadata key that carries a task's deadline
// (Unix nanoseconds) to the plugin. The client's own context runs longer,
// by the cancel grace, so that a plugin that honours the deadline answers
// and one that ignores it can be told apart and killed.
const DeadlineMetadata = sdk.DeadlineMetadata

// Status is a processor as `host status` shows it.
type Status struct {
	ID, Stage string
	State     State
	// Owner names the current (or last) plugin instance: "pc2.0#3".
	Owner    string
	Pid      int
	Cgroup   string
	Restarts int
	// LastError is why the last instance ended or failed to start.
	LastError string
	InFlight  int
	// Since is when State was entered.
	Since time.Time
	// Confined is false when the processor runs without a cgroup.
	Confined bool
	// NextTry is when the plugin is started again: the end of a backoff,
	// or of a failed processor's cool-down. Zero when none is pending.
	NextTry time.Time
}

// instance is one plugin process.
type instance struct {
	owner  string
	conn   Conn
	client *pluginclient.Client // conn, when it is a real plugin process
	dead   chan struct{}        // closed once the process is gone
	err    error                // why it died; set before dead is closed
	// gone ends when dead is closed: Do's calls to a real plugin end
	// with it.
	gone    context.Context
	goneNow context.CancelFunc
	kill    chan string // asks the watcher to kill it, with the reason
}

// Processor supervises one plugin process. Its methods are safe for
// concurrent use.
type Processor struct {
	cfg Config
	m   *confine.Manager
	cg  *confine.Cgroup // set by Prepare, before Run
	log hclog.Logger

	mu       sync.Mutex
	state    State
	since    time.Time
	cur      *instance
	ready    chan struct{} // closed when cur is running or the processor ended
	n        int           // instances started
	restarts int
	lastErr  error
	inFlight int
	nextTry  time.Time
	cgPath   string // cgroupPath(cg), once prepared
	prepared bool
	ran      bool // Run (or Stop before it) was called

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// Start prepares the processor's cgroup — refusing, before anything runs, a
// cpuset or NUMA node the host cannot give or a plugin whose digest does not
// match — and starts supervising its plugin in the background: New,
// Prepare and Run in one.
func Start(m *confine.Manager, cfg Config) (*Processor, error) {
	p := New(m, cfg)
	if err := p.Prepare(); err != nil {
		return nil, err
	}
	p.Run()
	return p, nil
}

// New is a processor that has done nothing yet: it reports Starting, and
// Do waits for it, until Prepare and Run have started its plugin. A host
// serves its task API with every processor New, before the cgroups are
// made and digests checked, so that callers are answered at once.
func New(m *confine.Manager, cfg Config) *Processor {
	if cfg.CancelGrace <= 0 {
		cfg.CancelGrace = 10 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 2 * time.Second
	}
	if cfg.HealthFailures <= 0 {
		cfg.HealthFailures = 3
	}
	if cfg.Backoff == (BackoffPolicy{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Backoff.Cooldown <= 0 {
		cfg.Backoff.Cooldown = DefaultCooldown
	}
	if cfg.Backoff.CooldownMax < cfg.Backoff.Cooldown {
		cfg.Backoff.CooldownMax = max(DefaultCooldownMax, cfg.Backoff.Cooldown)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Spec.ProcessorID == "" {
		cfg.Spec.ProcessorID = cfg.ID
	}
	return &Processor{
		cfg:   cfg,
		m:     m,
		log:   cfg.Logger.Named(cfg.ID),
		state: Starting,
		since: time.Now(),
		ready: make(chan struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// Prepare makes the processor's cgroup, refusing a cpuset or NUMA node the
// host cannot give or a plugin whose digest does not match. Call it once,
// before Run.
func (p *Processor) Prepare() error {
	cg, err := p.m.Prepare(p.cfg.Spec)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ran {
		// Stopped meanwhile: Stop did not see this cgroup.
		return errors.Join(ErrStopped, cg.Destroy())
	}
	p.cg, p.cgPath, p.prepared = cg, cgroupPath(cg), true
	return nil
}

// Run starts supervising the prepared processor's plugin in the
// background. It does nothing once Stop was called.
func (p *Processor) Run() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ran || !p.prepared {
		return
	}
	p.ran = true
	go p.loop()
}

// ErrStopped is returned by Do once the processor is stopping.
var ErrStopped = errors.New("processor stopped")

// FailedError is returned by Do when the processor gave up restarting.
type FailedError struct {
	ID     string
	Reason error
	// NextTry is when the processor re-arms; zero when it never does (a
	// plugin that does not serve the stage).
	NextTry time.Time
}

func (e *FailedError) Error() string {
	if !e.NextTry.IsZero() {
		return fmt.Sprintf("processor %s has failed and takes no tasks until it tries again at %s: %v", e.ID, e.NextTry.Format(time.TimeOnly), e.Reason)
	}
	return fmt.Sprintf("processor %s has failed and takes no tasks: %v", e.ID, e.Reason)
}

func (e *FailedError) Unwrap() error { return e.Reason }

// DiedError is a task's error when its plugin died during the task.
type DiedError struct {
	ID    string
	Owner string
	Cause error // the *pluginclient.ExitError, or why the host killed it
}

func (e *DiedError) Error() string {
	return fmt.Sprintf("processor %s: plugin %s died during the task: %v", e.ID, e.Owner, e.Cause)
}

func (e *DiedError) Unwrap() error { return e.Cause }

// OOMError is why a plugin died when the kernel's OOM killer ended it in
// its cgroup: the message names the limit and the peak, so an operator
// sees a memory_limit to raise (or a task too big for it), not a bare
// "signal: killed".
type OOMError struct {
	Limit, Peak uint64 // bytes; 0 when unknown
	Cause       error  // the exit as the process saw it
}

func (e *OOMError) Error() string {
	limit, peak := "no memory_limit", "unknown"
	if e.Limit > 0 {
		limit = "memory_limit " + config.HumanSize(e.Limit)
	}
	if e.Peak > 0 {
		peak = config.HumanSize(e.Peak)
	}
	return fmt.Sprintf("killed by the kernel's OOM killer at %s (peak %s): raise the processor's memory_limit or give it smaller tasks (%v)", limit, peak, e.Cause)
}

func (e *OOMError) Unwrap() error { return e.Cause }

// TimeoutError is a task's error when it ran past the processor's timeout.
type TimeoutError struct {
	ID      string
	Timeout time.Duration
	// Killed is true when the plugin did not give up within the grace
	// period and was killed (and will be restarted).
	Killed bool
}

func (e *TimeoutError) Error() string {
	if e.Killed {
		return fmt.Sprintf("processor %s: task exceeded its timeout of %s and the plugin ignored cancellation: plugin killed, it will be restarted", e.ID, e.Timeout)
	}
	return fmt.Sprintf("processor %s: task exceeded its timeout of %s and was cancelled", e.ID, e.Timeout)
}

func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// Do runs one task on the plugin: it waits for a running instance (or ctx,
// or the processor failing), then calls f with the plugin's client and a
// context that carries the task deadline. It returns f's error, a
// *DiedError when the plugin died meanwhile (at once: a real plugin's call
// is cancelled with its death, and an in-process one's is not waited
// for), or a *TimeoutError.
//
// Do does not limit concurrency: the caller (the dispatcher) hands a
// processor no more than its `concurrent` tasks.
func (p *Processor) Do(ctx context.Context, f func(ctx context.Context, c *pluginclient.Client) error) error {
	inst, err := p.waitInstance(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.inFlight++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inFlight--
		p.mu.Unlock()
	}()

	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var deadline time.Time
	if p.cfg.Timeout > 0 {
		deadline = time.Now().Add(p.cfg.Timeout)
		var c2 context.CancelFunc
		callCtx, c2 = context.WithDeadline(callCtx, deadline.Add(p.cfg.CancelGrace))
		defer c2()
		callCtx = metadata.AppendToOutgoingContext(callCtx, DeadlineMetadata, strconv.FormatInt(deadline.UnixNano(), 10))
	}

	var idBuf [64]byte // the id's one allocation is the string
	callID := string(strconv.AppendUint(append(append(idBuf[:0], p.cfg.ID...), '/'), callSeq.Add(1), 10))
	callCtx = metadata.AppendToOutgoingContext(callCtx, sdk.CallMetadata, callID)

	if inst.client != nil {
		// A real plugin's gRPC call ends as soon as its context does, and
		// the context ends with the instance: the call runs right here.
		// Handed to another goroutine (callRunners) and awaited beside
		// inst.dead, it cost two goroutine switches and a select per task.
		stop := context.AfterFunc(inst.gone, cancel)
		err := f(callCtx, inst.client)
		stop()
		return p.callEnded(ctx, callCtx, inst, callID, deadline, err)
	}
	// An in-process plugin (Config.Launch) may not honour its context:
	// Do must answer its death without waiting for the call.
	callCtx = context.WithValue(callCtx, connKey{}, inst.conn)
	res := make(chan error, 1)
	goCall(func() { res <- f(callCtx, inst.client) })
	select {
	case err := <-res:
		return p.callEnded(ctx, callCtx, inst, callID, deadline, err)
	case <-inst.dead:
		return &DiedError{ID: p.cfg.ID, Owner: inst.owner, Cause: inst.err}
	}
}

// callEnded is Do's answer once f returned err.
func (p *Processor) callEnded(ctx, callCtx context.Context, inst *instance, callID string, deadline time.Time, err error) error {
	graceSpent := !deadline.IsZero() && ctx.Err() == nil && errors.Is(callCtx.Err(), context.DeadlineExceeded)
	if err != nil && callCtx.Err() != nil && !graceSpent && !isDead(inst) {
		// Cancelled on our side (the caller left, the host's abort):
		// the gRPC call returned, the plugin's work may not have. The
		// caller keeps the slot and locks until it has. (Past the
		// timeout's grace, below, the plugin is killed at once.)
		p.awaitCallEnd(inst, callID)
	}
	switch {
	case err == nil:
		return nil
	case isDead(inst) || (ctx.Err() == nil && p.diesSoon(inst, err)):
		return &DiedError{ID: p.cfg.ID, Owner: inst.owner, Cause: inst.err}
	case !deadline.IsZero() && ctx.Err() == nil && !time.Now().Before(deadline):
		if errors.Is(callCtx.Err(), context.DeadlineExceeded) {
			// The grace ran out too: the plugin never answered.
			p.killInstance(inst, fmt.Sprintf("task exceeded timeout %s and the plugin ignored cancellation for %s", p.cfg.Timeout, p.cfg.CancelGrace))
			// The slot and locks go back only once the work stopped.
			select {
			case <-inst.dead:
			case <-time.After(10 * time.Second):
			}
			return &TimeoutError{ID: p.cfg.ID, Timeout: p.cfg.Timeout, Killed: true}
		}
		return &TimeoutError{ID: p.cfg.ID, Timeout: p.cfg.Timeout}
	}
	return err
}

type connKey struct{}

// ConnOf is the plugin a call of Do's f was handed to: for an in-process
// plugin (Config.Launch), whose f gets no *pluginclient.Client, to find the
// instance the call belongs to rather than its successor. It is nil in a
// call to a real plugin: f has its client.
func ConnOf(ctx context.Context) Conn {
	c, _ := ctx.Value(connKey{}).(Conn)
	return c
}

// callSeq numbers stage calls for sdk.CallMetadata.
var callSeq atomic.Uint64

// awaitCallEnd returns once the plugin no longer runs the cancelled call
// id (it answers Info with running_calls), the instance is dead, or
// CancelGrace has passed — then the instance is killed, since a call that
// ignores cancellation (filecoin-ffi in-process, a busy loop) would go on
// using the cores, memory and GPU its slot and locks stand for. A plugin
// that does not track calls cannot say, and is killed after the grace too.
func (p *Processor) awaitCallEnd(inst *instance, id string) {
	deadline := time.Now().Add(p.cfg.CancelGrace)
	// Most cancelled calls end within moments of the cancel: ask soon,
	// then less often.
	poll := time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := inst.conn.Info(ctx)
		cancel()
		if err == nil && info.GetTracksCalls() && !slices.Contains(info.GetRunningCalls(), id) {
			return
		}
		if !time.Now().Before(deadline) {
			p.log.Warn("a cancelled call still runs in the plugin after the grace: killing it", "processor", p.cfg.ID, "owner", inst.owner, "call", id, "grace", p.cfg.CancelGrace)
			p.killInstance(inst, fmt.Sprintf("a cancelled call was still running %s after its cancellation", p.cfg.CancelGrace))
			select {
			case <-inst.dead:
			case <-time.After(10 * time.Second):
			}
			return
		}
		select {
		case <-inst.dead:
			return
		case <-time.After(poll):
		}
		poll = min(2*poll, 20*time.Millisecond)
	}
}

// diesSoon tells a call that failed because its plugin is going away from
// one the plugin answered: a transport failure is followed, within moments,
// by the watcher declaring the instance dead, and the task should report
// how it died rather than a bare "connection closed".
func (p *Processor) diesSoon(inst *instance, err error) bool {
	var ce *pluginclient.CallError
	if !errors.As(err, &ce) || ce.FromPlugin || (ce.Exit == nil && ce.Code != codes.Unavailable && ce.Code != codes.Canceled) {
		// A plugin's own answer (a retryable stage error is Unavailable
		// too) comes over a working connection: no death to wait for.
		return false
	}
	select {
	case <-inst.dead:
		return true
	case <-time.After(deathWait):
		return false
	}
}

// deathWait bounds how long a failed call waits for its instance's death
// to be confirmed: the watcher kills and reaps within a couple of seconds.
var deathWait = 3 * time.Second // a var for tests

func isDead(inst *instance) bool {
	select {
	case <-inst.dead:
		return true
	default:
		return false
	}
}

// waitInstance returns the running instance, waiting through starts and
// backoff.
func (p *Processor) waitInstance(ctx context.Context) (*instance, error) {
	for {
		p.mu.Lock()
		state, cur, ready, lastErr, next := p.state, p.cur, p.ready, p.lastErr, p.nextTry
		p.mu.Unlock()
		switch state {
		case Running:
			if !isDead(cur) {
				return cur, nil
			}
		case Failed:
			return nil, &FailedError{ID: p.cfg.ID, Reason: lastErr, NextTry: next}
		case Stopped:
			return nil, ErrStopped
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Status reports the processor's state.
func (p *Processor) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{
		ID:       p.cfg.ID,
		Stage:    p.cfg.Stage,
		State:    p.state,
		Restarts: p.restarts,
		InFlight: p.inFlight,
		Since:    p.since,
		NextTry:  p.nextTry,
		Cgroup:   p.cgPath,
		Confined: p.cgPath != "",
	}
	if !p.prepared {
		// No cgroup yet: whether it will have one.
		s.Confined = !p.m.Unconfined()
	}
	if p.cur != nil {
		s.Owner = p.cur.owner
		if p.state == Running {
			s.Pid = p.cur.conn.Pid()
		}
	}
	if p.lastErr != nil {
		s.LastError = p.lastErr.Error()
	}
	return s
}

// State is where the processor is now: Status without its copies (the
// host asks it for every task).
func (p *Processor) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// WaitRunning waits until the plugin is up (or has failed, or ctx ends).
func (p *Processor) WaitRunning(ctx context.Context) error {
	_, err := p.waitInstance(ctx)
	return err
}

// WaitRearmed waits while the processor is Failed: it returns nil once the
// cool-down is over and it starts its plugin again, ErrStopped once it is
// stopped, or ctx's error. A processor that never re-arms (its plugin
// does not serve the stage) keeps it waiting until ctx ends.
func (p *Processor) WaitRearmed(ctx context.Context) error {
	for {
		p.mu.Lock()
		state, ready := p.state, p.ready
		p.mu.Unlock()
		switch state {
		case Stopped:
			return ErrStopped
		case Failed:
		default:
			return nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stop stops supervising: the plugin is asked to shut down (it has until ctx
// ends), then everything left in its cgroup is killed and the cgroup
// removed. In-flight tasks fail.
func (p *Processor) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Lock()
	cur, cg, never := p.cur, p.cg, !p.ran
	p.ran = true // Run now does nothing
	p.mu.Unlock()
	if never {
		// No loop to end: nothing ran.
		p.setState(Stopped, nil, nil)
		close(p.done)
	}
	if cur != nil && !isDead(cur) {
		if err := cur.conn.Kill(ctx); err != nil {
			p.log.Warn("plugin did not stop cleanly", "error", err)
		}
	}
	<-p.done
	if cg == nil {
		return nil // never prepared
	}
	return cg.Destroy()
}

// killInstance asks the watcher to kill inst (not its successor).
func (p *Processor) killInstance(inst *instance, reason string) {
	select {
	case inst.kill <- reason:
	case <-inst.dead:
	}
}

func (p *Processor) setState(s State, cur *instance, err error) {
	p.setStateUntil(s, cur, err, time.Time{})
}

// setStateUntil enters s, which ends (with a new start) at next.
func (p *Processor) setStateUntil(s State, cur *instance, err error, next time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state, p.since, p.nextTry = s, time.Now(), next
	if cur != nil {
		p.cur = cur
	}
	if err != nil {
		p.lastErr = err
	}
	close(p.ready)
	p.ready = make(chan struct{})
}

func (p *Processor) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// loop starts, watches and restarts the plugin until Stop or a crash loop.
func (p *Processor) loop() {
	defer close(p.done)
	failures := 0
	cooldowns := 0 // cool-downs since the last stable run
	for {
		if p.stopping() {
			p.setState(Stopped, nil, nil)
			return
		}
		p.mu.Lock()
		p.n++
		owner := fmt.Sprintf("%s#%d", p.cfg.ID, p.n)
		p.mu.Unlock()
		p.setState(Starting, nil, nil)

		started := time.Now()
		err := p.runInstance(owner)
		if p.stopping() {
			p.setState(Stopped, nil, nil)
			return
		}
		var wrong *WrongStageError
		if errors.As(err, &wrong) {
			p.log.Error("processor failed", "error", err)
			p.setState(Failed, nil, err)
			return
		}
		if time.Since(started) >= p.cfg.Backoff.Stable {
			failures, cooldowns = 0, 0
		}
		failures++
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
		var wait time.Duration
		if failures >= p.cfg.Backoff.MaxFailures {
			wait = p.cfg.Backoff.Cooldown << cooldowns
			if wait > p.cfg.Backoff.CooldownMax || wait <= 0 {
				wait = p.cfg.Backoff.CooldownMax
			}
			cooldowns++
			reason := fmt.Errorf("crash loop: %d failures in a row, trying again after a cool-down of %s; last: %w", failures, wait, err)
			p.log.Error("processor failed", "error", reason, "next_try", time.Now().Add(wait).Format(time.RFC3339))
			p.setStateUntil(Failed, nil, reason, time.Now().Add(wait))
		} else {
			wait = p.cfg.Backoff.Initial << (failures - 1)
			if wait > p.cfg.Backoff.Max || wait <= 0 {
				wait = p.cfg.Backoff.Max
			}
			p.log.Warn("plugin ended; restarting after backoff", "error", err, "backoff", wait, "failures", failures)
			p.setStateUntil(Backoff, nil, err, time.Now().Add(wait))
		}
		select {
		case <-time.After(wait):
		case <-p.stop:
		}
	}
}

// runInstance starts one plugin process and returns why it ended.
func (p *Processor) runInstance(owner string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Prepare checked the digest once; the file may have been replaced
	// since, and a restart must not run an unverified binary.
	if want := p.cfg.Spec.SHA256; want != "" {
		if err := confine.VerifySHA256(p.cfg.Spec.Plugin, want); err != nil {
			if p.cfg.OnExit != nil {
				p.cfg.OnExit(owner)
			}
			return fmt.Errorf("processor %s: %w", p.cfg.ID, err)
		}
	}
	c, err := p.launch(ctx, owner)
	if err != nil {
		// Children the shim or plugin forked before failing stay in the
		// cgroup: clear it for the next attempt.
		p.killCgroup()
		if p.cfg.OnExit != nil {
			p.cfg.OnExit(owner)
		}
		return err
	}
	if err := p.checkServes(ctx, c); err != nil {
		killCtx, kc := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.Kill(killCtx)
		kc()
		p.killCgroup()
		if p.cfg.OnExit != nil {
			p.cfg.OnExit(owner)
		}
		return err
	}
	inst := &instance{owner: owner, conn: c, dead: make(chan struct{}), kill: make(chan string)}
	inst.gone, inst.goneNow = context.WithCancel(context.Background())
	inst.client, _ = c.(*pluginclient.Client)
	p.log.Info("plugin running", "owner", owner, "pid", c.Pid())
	p.setState(Running, inst, nil)
	memBefore := p.cg.Memory()

	cause := p.watch(inst)
	// Read before the cgroup is emptied: an OOM kill in it while this
	// instance ran names what killed the plugin.
	if mem := p.cg.Memory(); mem.Known && mem.OOMKills > memBefore.OOMKills {
		cause = &OOMError{Limit: mem.Limit, Peak: mem.Peak, Cause: cause}
		p.log.Error("plugin killed by the kernel's OOM killer", "owner", owner, "memory_limit", mem.Limit, "peak", mem.Peak)
		if p.cfg.OnOOM != nil {
			p.cfg.OnOOM()
		}
	}

	// Make sure the process and everything it started is gone before
	// anyone is told: a restarted plugin must not meet its predecessor.
	killCtx, kc := context.WithTimeout(context.Background(), 2*time.Second)
	_ = c.Kill(killCtx)
	kc()
	p.killCgroup()
	inst.err = cause
	close(inst.dead)
	inst.goneNow()
	if p.cfg.OnExit != nil {
		p.cfg.OnExit(owner)
	}
	return cause
}

// launch starts one plugin process, confined.
func (p *Processor) launch(ctx context.Context, owner string) (Conn, error) {
	if p.cfg.Launch != nil {
		return p.cfg.Launch(ctx, owner)
	}
	c, err := pluginclient.Start(ctx, pluginclient.Config{
		Name: p.cfg.ID,
		Cmd:  p.cg.Command(),
		// The command is the confinement shim (/proc/self/exe): logs and
		// start errors name the plugin binary it execs.
		Binary:       p.cfg.Spec.Plugin,
		Logger:       p.log,
		StartTimeout: p.cfg.StartTimeout,
		// Large payloads travel as files; keeping them in the processor's
		// own TMPDIR means they are removed with its cgroup.
		BlobDir: p.cg.TempDir(),
	})
	if err != nil {
		return nil, err // a nil *Client must not become a non-nil Conn
	}
	return c, nil
}

// WrongStageError says a plugin does not serve its processor's stage: a
// config mistake (or a plugin built without what the stage needs) that no
// restart can mend, so the processor fails at once.
type WrongStageError struct {
	ID, Stage, Plugin string
	Serves            []string
	Why               string // the plugin's own reason, when it gave one
}

func (e *WrongStageError) Error() string {
	msg := fmt.Sprintf("plugin %s does not serve stage %s (it serves %s); give processor %s a plugin that does, or remove it",
		e.Plugin, e.Stage, strings.Join(e.Serves, ", "), e.ID)
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

// checkServes asks a freshly started plugin what it serves. A plugin that
// cannot answer Info is left to the health checks.
func (p *Processor) checkServes(ctx context.Context, c Conn) error {
	if p.cfg.Stage == "" {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := c.Info(ictx)
	if err != nil {
		p.log.Warn("plugin did not answer Info", "error", err)
		return nil
	}
	var serves []string
	for _, st := range info.GetStages() {
		name := sdk.StageName(st)
		if name == p.cfg.Stage {
			return nil
		}
		serves = append(serves, name)
	}
	e := &WrongStageError{ID: p.cfg.ID, Stage: p.cfg.Stage, Plugin: info.GetName(), Serves: serves, Why: info.GetUnserved()}
	if len(serves) == 0 {
		e.Serves = []string{"nothing"}
	}
	return e
}

// watch returns when the instance's process exits, stops answering health
// checks, is to be killed, or the processor stops.
func (p *Processor) watch(inst *instance) error {
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-inst.conn.Exited():
			return inst.conn.ExitError()
		case reason := <-inst.kill:
			p.log.Warn("killing plugin", "owner", inst.owner, "reason", reason)
			return errors.New(reason)
		case <-p.stop:
			return ErrStopped
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.HealthInterval)
			err := inst.conn.Ping(ctx)
			cancel()
			if err == nil {
				misses = 0
				continue
			}
			misses++
			if misses >= p.cfg.HealthFailures {
				return fmt.Errorf("plugin stopped answering health checks (%d in a row): %w", misses, err)
			}
		}
	}
}

func (p *Processor) killCgroup() {
	if err := p.cg.Kill(); err != nil {
		p.log.Warn("could not empty the processor's cgroup", "error", err)
	}
}

// cgroupPath names the processor's cgroup for operators: its cpuset
// directory (the controller that matters most), else any, else "".
func cgroupPath(cg *confine.Cgroup) string {
	paths := cg.Paths()
	if p, ok := paths["cpuset"]; ok {
		return p
	}
	for _, p := range paths {
		return p
	}
	return ""
}
