package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/host/internal/dispatch"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// DefaultInstance names a host started without -name.
const DefaultInstance = "sealhost"

// DefaultGrace is how long Shutdown lets running tasks finish by default.
const DefaultGrace = 30 * time.Second

// Options says how to run a host. Only Config is required.
type Options struct {
	// Config is the decoded config; the caller has refused it already if
	// its plan has errors.
	Config *config.Config
	// Instance names the host: its cgroup parent and default socket.
	// Letters, digits, '_', '.', '-'. Default DefaultInstance.
	Instance string
	// Socket is the task API's unix socket. Default
	// client.DefaultSocket(Instance).
	Socket string
	// SocketGroup, when set, makes the socket 0660 owned by this group
	// (name or numeric gid) instead of 0600.
	SocketGroup string
	// MetricsAddr, when set, serves Prometheus metrics at
	// http://MetricsAddr/metrics. Use "127.0.0.1:0" for any free port;
	// Host.MetricsAddr says which.
	MetricsAddr string
	// Unconfined runs plugins without cgroups even when the config asks
	// for confinement (the -unconfined flag). With Config.Confine false the
	// host runs unconfined too.
	Unconfined bool
	// Logger receives the host's logs. Default: a null logger.
	Logger hclog.Logger

	// Supervision knobs; zero values take package supervise's defaults.
	// Tests shorten them.
	Backoff        supervise.BackoffPolicy
	HealthInterval time.Duration
	CancelGrace    time.Duration
	StartTimeout   time.Duration

	// beforeStop, when set (tests), runs in the teardown once the task
	// API has stopped serving and before the plugins are stopped.
	beforeStop func()
	// launch, when set (tests), gives each processor an in-process plugin
	// (supervise.Config.Launch) instead of a process.
	launch func(processor string) func(ctx context.Context, owner string) (supervise.Conn, error)
}

// Host is a running host. Its methods are safe for concurrent use.
type Host struct {
	opts     Options
	cfg      *config.Config
	log      hclog.Logger
	started  time.Time
	confined bool

	mgr  *confine.Manager
	lock *os.File // the instance lock (lockInstance)
	disp *dispatch.Dispatcher
	// preempt: the arbiter may preempt running tasks for urgent ones
	// (arbiter { preempt = {...} }).
	preempt bool
	arb     *arbiter.Arbiter
	procs   map[string]*proc
	order   []string // processor ids in config order
	stages  map[config.Stage][]string
	m       *metrics

	srv     *grpc.Server
	lis     net.Listener
	conns   *connQueue // hands lis's connections to srv, then to the teardown's answerer
	socket  string
	httpSrv *http.Server
	httpLis net.Listener

	// ctx ends when the host stops for good; background goroutines watch it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	draining bool
	// refuse ends when draining starts: waiting calls give up. abort
	// ends when the grace period does: running tasks are cancelled.
	// Both end under mu (refuseLocked, abortLocked), which also ends the
	// waits and runs of h.tasks: no callback or goroutine per task (a
	// context.AfterFunc on each was a lock and a map entry on one shared
	// context per task), and a task checks them under mu as it registers.
	refuse, abort       context.Context
	refuseNow, abortNow context.CancelFunc
	tasks               map[uint64]*task
	nextID              uint64
	stats               map[config.Stage]*counts
	running             sync.WaitGroup // calls between admission and answer

	// up is closed once Start has every processor in place: a plugin
	// that fails to start at once reports its exit while Start is still
	// filling procs and stages.
	up chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
	cancelled    int // running tasks the drain cancelled (under mu)
	done         chan struct{}
}

// proc is one processor and what the host keeps about it.
type proc struct {
	cfg config.Processor
	sp  *supervise.Processor

	mu  sync.Mutex
	gen int // bumped on every plugin exit, so a late restore is ignored

	done, failed int64 // under Host.mu
}

// counts are a stage's finished tasks.
type counts struct {
	done, failed  int64
	preempted     int64
	preemptedWork time.Duration
}

// task is one call, waiting or running.
type task struct {
	id        uint64
	stage     config.Stage
	sector    sectorRef
	requested time.Time
	started   time.Time // zero while waiting
	processor string
	waited    time.Duration
	// cancelling is when the task was cancelled (its caller left, or the
	// drain's grace ended) while its plugin call had not ended: it keeps
	// its slot and locks until supervise says the call is over.
	cancelling time.Time
	// abandon ends the task's wait for a processor, with the cause.
	abandon context.CancelCauseFunc
	// lost is the running task's Assignment.Lost and run its attempt;
	// both nil while it waits. pluginExited cancels the runs whose
	// processor the dispatcher dropped, abortLocked every run.
	lost <-chan struct{}
	run  *attempt
	// deadline is the caller's (client.WithDeadline; zero: none).
	// preemptions counts the runs preempted for urgent tasks, each
	// requeued; preempting is set while such a run's call ends.
	deadline    time.Time
	preemptions int
	preempting  bool
}

// Start runs a host: it cleans stale cgroups, starts every processor,
// and serves the task API. On error nothing is left running.
func Start(opts Options) (*Host, error) {
	if opts.Config == nil {
		return nil, errors.New("daemon: no config")
	}
	if opts.Instance == "" {
		opts.Instance = DefaultInstance
	}
	if opts.Socket == "" {
		opts.Socket = client.DefaultSocket(opts.Instance)
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	cfg := opts.Config
	unconfined := opts.Unconfined || !cfg.Confine
	h := &Host{
		opts:     opts,
		cfg:      cfg,
		log:      opts.Logger,
		started:  time.Now(),
		confined: !unconfined,
		procs:    map[string]*proc{},
		stages:   map[config.Stage][]string{},
		tasks:    map[uint64]*task{},
		stats:    map[config.Stage]*counts{},
		done:     make(chan struct{}),
		up:       make(chan struct{}),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.refuse, h.refuseNow = context.WithCancel(context.Background())
	h.abort, h.abortNow = context.WithCancel(context.Background())
	started := false
	defer func() {
		if !started {
			// Calls that came while it started are refused now.
			h.mu.Lock()
			h.draining = true
			h.refuseLocked()
			h.abortLocked()
			h.mu.Unlock()
			h.teardown(context.Background())
		}
	}()
	var err error

	if !unconfined {
		if err := confine.Available(); err != nil {
			return nil, fmt.Errorf("%w (or start with -unconfined)", err)
		}
	}
	// Before anything else of the instance's: NewManager cleans its
	// cgroups as stale, which would be another live host's.
	if h.lock, err = lockInstance(opts.Instance); err != nil {
		return nil, err
	}
	h.mgr, err = confine.NewManager(opts.Instance, h.log, unconfined)
	if err != nil {
		return nil, err
	}
	if unconfined {
		h.log.Warn("UNCONFINED: this host runs its plugins without cgroups; `host status` says so too")
	} else {
		stale, err := h.mgr.CleanStale()
		if err != nil {
			h.log.Warn("could not clean cgroups of dead hosts", "error", err)
		}
		if len(stale) == 0 {
			h.log.Info("no stale cgroups found")
		}
		for _, s := range stale {
			h.log.Warn("cleaned stale cgroup of a dead host", "cgroup", s.Cgroup, "host_pid", s.OwnerPID, "processors", s.Processors, "killed", s.Killed, "removed", s.Removed)
		}
	}

	h.preempt = cfg.Arbiter.Preempts()
	h.disp, h.arb, err = dispatch.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	h.m = newMetrics(h)

	// Listen before any plugin starts: a second host on the same socket
	// is refused before it touches anything.
	h.lis, err = listen(opts.Socket, opts.SocketGroup)
	if err != nil {
		return nil, err
	}
	h.socket = opts.Socket
	h.conns = newConnQueue(h.lis)

	plugins := map[string]config.Plugin{}
	for _, p := range cfg.Plugins {
		plugins[p.Name] = p
	}
	for _, pc := range cfg.Processors {
		pl := plugins[pc.Plugin]
		p := &proc{cfg: pc}
		id := pc.ID
		spec := confine.Spec{
			ProcessorID:   id,
			Where:         fmt.Sprintf("%s:%d", pc.Range.Filename, pc.Range.Start.Line),
			NUMAPreferred: pc.NUMAPreferred,
			MemoryLimit:   pc.MemoryLimit,
			Plugin:        pl.Path,
			Args:          pl.Args,
			SHA256:        pl.SHA256,
			Env:           pc.Env,
			InheritEnv:    pc.InheritEnv,
		}
		if pc.HasCPUs {
			spec.CPUs = pc.CPUs
		}
		var launch func(context.Context, string) (supervise.Conn, error)
		if opts.launch != nil {
			launch = opts.launch(id)
		}
		p.sp = supervise.New(h.mgr, supervise.Config{
			ID:             id,
			Stage:          string(pc.Stage),
			Spec:           spec,
			Timeout:        pc.Timeout,
			CancelGrace:    opts.CancelGrace,
			StartTimeout:   opts.StartTimeout,
			HealthInterval: opts.HealthInterval,
			Backoff:        opts.Backoff,
			Logger:         h.log,
			OnExit:         func(owner string) { h.pluginExited(p, owner) },
			OnOOM:          func() { h.m.ooms.WithLabelValues(id).Inc() },
			Launch:         launch,
		})
		h.procs[id] = p
		h.order = append(h.order, id)
		h.stages[pc.Stage] = append(h.stages[pc.Stage], id)
	}

	// Serve before any cgroup is made, digest checked or plugin started:
	// with many processors that takes seconds, and a caller is answered
	// meanwhile (status: starting; a task waits for its processor) rather
	// than refused.
	// A goroutine kept per slot (and a few for status) serves the calls:
	// gRPC's default, a new goroutine per call, grew each one's stack
	// through the handler's frames again (7% of the host's CPU at 256
	// tasks in flight). Calls beyond them, tasks that wait, get new ones.
	slots := 0
	for _, pc := range cfg.Processors {
		slots += max(pc.Concurrent, 1)
	}
	h.srv = grpc.NewServer(grpc.MaxRecvMsgSize(client.MaxMessageSize), grpc.MaxSendMsgSize(client.MaxMessageSize),
		grpc.NumStreamWorkers(uint32(min(slots+16, 4096))))
	taskv1.RegisterTasksServer(h.srv, &service{h: h})
	go func() {
		if err := h.srv.Serve(h.conns.view()); err != nil {
			h.log.Error("task API stopped serving", "error", err)
		}
	}()
	for _, id := range h.order {
		if err := h.procs[id].sp.Prepare(); err != nil {
			return nil, err
		}
	}
	// Every cgroup first, then the plugins: fifty plugin starts at once
	// would otherwise slow the cgroups of the last processors.
	for _, id := range h.order {
		h.procs[id].sp.Run()
	}
	close(h.up)

	if opts.MetricsAddr != "" {
		if err := h.serveMetrics(opts.MetricsAddr); err != nil {
			return nil, err
		}
	}
	started = true
	h.log.Info("host running", "instance", opts.Instance, "socket", h.socket, "processors", len(h.order), "confined", h.confined, "metrics", h.MetricsAddr())
	return h, nil
}

// Socket is the path of the task API's socket.
func (h *Host) Socket() string { return h.socket }

// MetricsAddr is the address metrics are served on, "" when they are not.
func (h *Host) MetricsAddr() string {
	if h.httpLis == nil {
		return ""
	}
	return h.httpLis.Addr().String()
}

// Confined reports whether plugins run in cgroups.
func (h *Host) Confined() bool { return h.confined }

// WaitRunning waits until every processor's plugin is up, or one has
// failed for good (its error), or ctx ends.
func (h *Host) WaitRunning(ctx context.Context) error {
	for _, id := range h.order {
		if err := h.procs[id].sp.WaitRunning(ctx); err != nil {
			var failed *supervise.FailedError
			if errors.As(err, &failed) {
				return err // names the processor already
			}
			return fmt.Errorf("processor %s: %w", id, err)
		}
	}
	return nil
}

// Done is closed when Shutdown has finished.
func (h *Host) Done() <-chan struct{} { return h.done }

// pluginExited runs from supervise once an instance's process is gone: its
// tasks have failed already; the dispatcher drops the processor, which
// frees their slots and locks, until a new instance runs.
func (h *Host) pluginExited(p *proc, owner string) {
	p.mu.Lock()
	p.gen++
	gen := p.gen
	p.mu.Unlock()
	n, err := h.disp.DropProcessor(p.cfg.ID)
	if err != nil {
		h.log.Debug("dropping processor", "processor", p.cfg.ID, "error", err)
	}
	// The slots and locks of its tasks are free now: a task still waiting
	// inside Do for the next instance must not run there (runOn).
	h.mu.Lock()
	for _, t := range h.tasks {
		if t.lost != nil && isClosed(t.lost) {
			t.run.cancelRun()
		}
	}
	h.mu.Unlock()
	if h.ctx.Err() != nil {
		return // the host is stopping its plugins
	}
	h.log.Info("plugin gone; processor out of service until it is back", "processor", p.cfg.ID, "owner", owner, "tasks_dropped", n)
	// Each exit (a failed start too) runs this anew: only the newest
	// exit's goroutine carries on.
	superseded := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.gen != gen
	}
	go func() {
		select {
		case <-h.up:
		case <-h.ctx.Done():
			return // Start failed
		}
		for {
			err := p.sp.WaitRunning(h.ctx)
			if err == nil {
				break
			}
			var failed *supervise.FailedError
			if !errors.As(err, &failed) || superseded() {
				return // stopped, the host is ending, or a newer exit's
			}
			if allFailed(h, h.stages[p.cfg.Stage]) {
				h.log.Error("every processor of the stage has failed: refusing its tasks until one tries again", "stage", p.cfg.Stage, "next_try", failed.NextTry)
				h.abandonWaiting(p.cfg.Stage, err)
			}
			// A processor failed by a crash loop re-arms after its
			// cool-down and starts its plugin again.
			if p.sp.WaitRearmed(h.ctx) != nil {
				return
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gen != gen {
			return // died again meanwhile: that exit's goroutine restores
		}
		if err := h.disp.RestoreProcessor(p.cfg.ID); err != nil {
			h.log.Debug("restoring processor", "processor", p.cfg.ID, "error", err)
			return
		}
		h.log.Info("processor back in service", "processor", p.cfg.ID, "owner", p.sp.Status().Owner)
	}()
}

// Shutdown drains the host: calls still waiting and new ones are refused,
// running tasks have grace to finish and are then cancelled; then the
// server stops, every plugin is stopped and its cgroup removed. ctx bounds
// the stopping of plugins after that. Calling it again waits for the first
// call and returns its result.
func (h *Host) Shutdown(ctx context.Context, grace time.Duration) error {
	h.shutdownOnce.Do(func() {
		h.mu.Lock()
		h.draining = true
		running := 0
		for _, t := range h.tasks {
			if !t.started.IsZero() {
				running++
			}
		}
		h.refuseLocked()
		h.mu.Unlock()
		h.log.Info("draining: refusing new tasks, letting running ones finish", "running", running, "grace", grace)

		finished := make(chan struct{})
		go func() { h.running.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(grace):
			n := h.cancelRunning()
			h.log.Warn("grace period over: cancelling running tasks", "grace", grace, "cancelled", n)
			select {
			case <-finished:
			case <-ctx.Done():
			}
		case <-ctx.Done():
			n := h.cancelRunning()
			h.log.Warn("told to stop now: cancelling running tasks", "cancelled", n)
		}
		h.shutdownErr = h.teardown(ctx)
		h.log.Info("host stopped")
		close(h.done)
	})
	<-h.done
	return h.shutdownErr
}

// cancelRunning ends the drain's grace: running tasks are cancelled. It
// returns how many.
func (h *Host) cancelRunning() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.tasks {
		if !t.started.IsZero() {
			h.cancelled++
		}
	}
	h.abortLocked()
	return h.cancelled
}

// refuseLocked starts refusing: tasks still waiting for a processor give
// up (await). h.mu is held.
func (h *Host) refuseLocked() {
	h.refuseNow()
	for _, t := range h.tasks {
		if t.started.IsZero() && t.abandon != nil {
			t.abandon(errDraining)
		}
	}
}

// abortLocked cancels every running task (runOn). h.mu is held.
func (h *Host) abortLocked() {
	h.abortNow()
	for _, t := range h.tasks {
		if t.run != nil {
			t.run.cancelledLocked()
		}
	}
}

// CancelledAtShutdown is how many running tasks Shutdown cancelled because
// the grace period (or its ctx) ended before they finished; 0 after a
// clean drain. `host run` exits non-zero when it is not 0: work was lost.
func (h *Host) CancelledAtShutdown() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cancelled
}

// teardown stops serving and removes every trace of the host. It copes
// with a Start that failed half way.
func (h *Host) teardown(ctx context.Context) error {
	var errs []error
	var bye *grpc.Server
	if h.conns != nil {
		// Until the socket goes, a client that arrives is told why
		// nothing serves it (Unavailable, retryable), not that there is
		// no such file.
		bye = grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
			return statusError(codes.Unavailable, true, "host %s is shutting down and takes no calls; retry once a host runs again", h.opts.Instance)
		}))
		go bye.Serve(h.conns.view())
	}
	if h.srv != nil {
		stopped := make(chan struct{})
		go func() { h.srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			h.srv.Stop()
		}
	} else if h.lis != nil && h.conns == nil {
		h.lis.Close()
	}
	if h.opts.beforeStop != nil {
		h.opts.beforeStop()
	}
	if h.httpSrv != nil {
		h.httpSrv.Close()
	}
	h.cancel()
	ids := make([]string, 0, len(h.procs))
	for id := range h.procs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var wg sync.WaitGroup
	errc := make(chan error, len(ids))
	for _, id := range ids {
		p := h.procs[id]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := p.sp.Stop(sctx); err != nil {
				errc <- fmt.Errorf("stopping processor %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		errs = append(errs, err)
	}
	if h.mgr != nil {
		if err := h.mgr.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if h.disp != nil {
		h.disp.Close()
	}
	if bye != nil {
		// Before the instance lock goes: a host started on the name next
		// must not find this one still answering.
		bye.Stop()
		h.conns.close()
	}
	if h.lock != nil {
		// Unlinked while still held: a host that failed to take it (the
		// lock is never waited for) has already given up, so no one can
		// be left holding a lock on a name that no longer exists. Hosts
		// with per-run names (host seal's seal-PID) leave nothing behind.
		os.Remove(h.lock.Name())
		h.lock.Close() // releases the flock
	}
	if h.socket != "" {
		// The listener unlinks it on close; a socket a failed Start made
		// must not stay either.
		if err := os.Remove(h.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
