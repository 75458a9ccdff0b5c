package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/dispatch"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// service is the gRPC face of a Host.
type service struct {
	taskv1.UnimplementedTasksServer
	h *Host
}

// sectorRef is the sector a task works on, for status.
type sectorRef = *sealv1.Sector

func (s *service) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	return runStage(s.h, ctx, config.StageTreeD, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.TreeDResponse, error) {
		return c.TreeD(ctx, req)
	})
}

func (s *service) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error) {
	return runStage(s.h, ctx, config.StagePC1, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.PC1Response, error) {
		return c.PC1(ctx, req)
	})
}

func (s *service) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	return runStage(s.h, ctx, config.StagePC2, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.PC2Response, error) {
		return c.PC2(ctx, req)
	})
}

func (s *service) C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
	return runStage(s.h, ctx, config.StageC1, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.C1Response, error) {
		return c.C1(ctx, req)
	})
}

func (s *service) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	return runStage(s.h, ctx, config.StageC2, req, req.GetSector(), func(ctx context.Context, c stageClient) (*sealv1.C2Response, error) {
		return c.C2(ctx, req)
	})
}

// stageClient is a plugin's stage calls: *pluginclient.Client, or an
// in-process plugin's (tests: supervise.Config.Launch).
type stageClient interface {
	TreeD(context.Context, *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error)
	PC1(context.Context, *sealv1.PC1Request) (*sealv1.PC1Response, error)
	PC2(context.Context, *sealv1.PC2Request) (*sealv1.PC2Response, error)
	C1(context.Context, *sealv1.C1Request) (*sealv1.C1Response, error)
	C2(context.Context, *sealv1.C2Request) (*sealv1.C2Response, error)
}

// runStage runs one stage call as a task and returns its response only on
// success: after an error the call may still be running (Do does not wait
// for a dead plugin's call), so its response is not ours to read.
func runStage[Resp any](h *Host, ctx context.Context, stage config.Stage, req proto.Message, sector *sealv1.Sector, call func(context.Context, stageClient) (Resp, error)) (Resp, error) {
	var resp Resp
	if err := refuseHostFields(req); err != nil {
		return resp, err
	}
	err := h.run(ctx, stage, sector, func(ctx context.Context, c *pluginclient.Client) (err error) {
		var sc stageClient
		if c != nil {
			sc = c
		} else if sc, _ = supervise.ConnOf(ctx).(stageClient); sc == nil {
			return errors.New("the plugin instance has no stage client")
		}
		resp, err = call(ctx, sc)
		return err
	})
	if err != nil {
		var none Resp
		return none, err
	}
	return resp, nil
}

func (s *service) Status(ctx context.Context, _ *taskv1.StatusRequest) (*taskv1.StatusResponse, error) {
	return s.h.Status(), nil
}

// run is one task's whole life: admission, the wait for a processor and
// its locks, the run, the release. Exactly one of f's outcome or an error
// status comes back.
func (h *Host) run(ctx context.Context, stage config.Stage, sector *sealv1.Sector, f func(context.Context, *pluginclient.Client) error) error {
	ids := h.stages[stage]
	if len(ids) == 0 {
		return statusError(codes.Unimplemented, false, "no processor of this host serves %s: add a processor %q block to %s", stage, stage, h.cfg.File)
	}
	if allFailed(h, ids) {
		return statusError(codes.FailedPrecondition, false, "every %s processor has failed and takes no tasks until one tries again; `host status` says why and when", stage)
	}

	deadline, err := deadlineOf(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.draining {
		h.mu.Unlock()
		return statusError(codes.Unavailable, true, "host is shutting down and takes no new tasks")
	}
	h.nextID++
	t := &task{id: h.nextID, stage: stage, sector: sector, requested: time.Now(), deadline: deadline}
	h.tasks[t.id] = t
	h.running.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.tasks, t.id)
		h.mu.Unlock()
		h.running.Done()
	}()

	for {
		a, err := h.await(ctx, t)
		if err != nil {
			return err
		}
		err, requeue := h.runOn(ctx, t, a, f)
		if !requeue {
			return err
		}
	}
}

// await waits for a processor of t's stage and its locks. The wait ends
// with the caller, when draining starts, or when every processor of the
// stage has failed for good (abandonWaiting).
func (h *Host) await(ctx context.Context, t *task) (*dispatch.Assignment, error) {
	waitCtx, cancelWait := context.WithCancelCause(ctx)
	defer cancelWait(nil)
	h.mu.Lock()
	t.abandon = cancelWait
	if h.refuse.Err() != nil {
		// Draining began before abandon was set: refuseLocked did not
		// see this task.
		cancelWait(errDraining)
	}
	h.mu.Unlock()
	// Checked after abandon is set, so a processor failing from here on
	// finds this task in abandonWaiting.
	if allFailed(h, h.stages[t.stage]) {
		return nil, statusError(codes.FailedPrecondition, false, "every %s processor has failed and takes no tasks until one tries again; `host status` says why and when", t.stage)
	}
	waiting := h.m.stage(t.stage).waiting
	waiting.Inc()
	a, err := h.disp.AcquireDeadline(waitCtx, t.stage, t.deadline)
	waiting.Dec()
	if err == nil {
		return a, nil
	}
	var failed *supervise.FailedError
	switch {
	case ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	case errors.As(context.Cause(waitCtx), &failed):
		return nil, statusError(codes.FailedPrecondition, false, "every %s processor has failed while the task waited; last: %v", t.stage, failed)
	case h.refuse.Err() != nil:
		return nil, statusError(codes.Unavailable, true, "host is shutting down; the task was still waiting for a %s processor and did not start", t.stage)
	}
	return nil, statusError(codes.Internal, true, "waiting for a %s processor: %v", t.stage, err)
}

// attempt is one run of a task on its assigned processor (runOn): what
// the callbacks of the run share, in one allocation rather than a closure
// and a variable each.
type attempt struct {
	h         *Host
	t         *task
	a         *dispatch.Assignment
	locks     bool
	cancelRun context.CancelFunc
	ended     bool // under h.mu: Do returned
	preempted atomic.Bool
	called    atomic.Bool
	// Metrics count a start once the task reaches the plugin (or fails
	// for good before), so a requeued attempt is not a start.
	startOnce sync.Once
	f         func(context.Context, *pluginclient.Client) error
}

// cancelled ends the run for its caller leaving or the drain's grace
// ending. Do returns once the plugin's call has ended, not when the gRPC
// call does; until then the task is cancelling.
func (r *attempt) cancelled() {
	r.h.mu.Lock()
	r.cancelledLocked()
	r.h.mu.Unlock()
}

func (r *attempt) cancelledLocked() {
	r.cancelRun()
	if !r.ended {
		r.t.cancelling = time.Now()
	}
}

func (r *attempt) markStarted() { r.startOnce.Do(r.countStart) }

func (r *attempt) countStart() { r.h.m.taskStarted(r.t, r.locks) }

// call is Do's f.
func (r *attempt) call(ctx context.Context, c *pluginclient.Client) error {
	if isClosed(r.a.Lost()) {
		// The plugin instance this task was handed to died and its slot
		// and locks went back: Do may have found the successor before
		// runCtx's cancel arrived, and a call there would run beside the
		// task the freed slot went to. (Lost can close only after an
		// instance's death, and the successor starts after that, so a
		// call that passes this check holds a live slot.)
		return errLost
	}
	r.called.Store(true)
	r.markStarted()
	// A literal, not metadata.Pairs: the keys are lower case already.
	_ = grpc.SetHeader(ctx, metadata.MD{
		client.HeaderTask:      {strconv.FormatUint(r.t.id, 10)},
		client.HeaderProcessor: {r.a.Processor},
		client.HeaderWaited:    {r.t.waited.String()},
	})
	return r.f(ctx, c)
}

// runOn runs t on its assigned processor and releases the assignment.
// requeue is true when the processor was lost (its plugin died, or failed
// to start) before the task reached the plugin: it then goes back to
// waiting, since it never ran.
func (h *Host) runOn(ctx context.Context, t *task, a *dispatch.Assignment, f func(context.Context, *pluginclient.Client) error) (err error, requeue bool) {
	defer func() {
		if !requeue {
			// Out of status before its slot and locks go to the next
			// task: released first, status could show both holding a
			// lock of capacity 1 (TestSealThroughSocket saw it).
			h.mu.Lock()
			delete(h.tasks, t.id)
			h.mu.Unlock()
		}
		a.Release()
	}()
	p := h.procs[a.Processor]
	stage := t.stage
	r := &attempt{h: h, t: t, a: a, locks: len(p.cfg.Locks) > 0, f: f}

	// The run ends with the caller, when the drain's grace is over
	// (abortLocked), or when the dispatcher drops the processor: a task
	// still waiting inside Do for a restarted plugin must not keep
	// running after its slot and locks were handed to others. Callbacks,
	// not a goroutine per task: pluginExited cancels the runs on a
	// dropped processor.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	r.cancelRun = cancelRun
	defer context.AfterFunc(ctx, r.cancelled)()

	h.mu.Lock()
	t.started, t.processor, t.waited = time.Now(), a.Processor, time.Since(t.requested)
	t.lost, t.run = a.Lost(), r
	if h.abort.Err() != nil {
		// The grace ended before the run was registered: abortLocked did
		// not see it.
		r.cancelledLocked()
	}
	h.mu.Unlock()
	if isClosed(a.Lost()) {
		// Dropped before the task was registered: pluginExited did not
		// see it.
		cancelRun()
	}
	if h.preempt {
		// Only with preemption configured: a goroutine per task is what
		// the hot path avoids otherwise.
		go func() {
			select {
			case <-a.Preempted():
				r.preempted.Store(true)
				h.mu.Lock()
				if !r.ended {
					t.preempting = true
				}
				h.mu.Unlock()
				h.log.Info("preempting a task for an urgent one", "task", t.id, "stage", stage, "processor", a.Processor)
				cancelRun()
			case <-runCtx.Done():
			}
		}()
	}

	err = p.sp.Do(runCtx, r.call)
	h.mu.Lock()
	r.ended = true
	t.lost, t.run = nil, nil
	h.mu.Unlock()
	ran := time.Since(t.started)

	if err != nil && !r.called.Load() && isClosed(a.Lost()) && ctx.Err() == nil && h.refuse.Err() == nil {
		h.log.Debug("processor lost before the task reached it: waiting again", "task", t.id, "processor", a.Processor, "error", err)
		h.mu.Lock()
		t.started, t.processor, t.cancelling = time.Time{}, "", time.Time{}
		h.mu.Unlock()
		return nil, true
	}

	if err != nil && r.preempted.Load() && ctx.Err() == nil && h.refuse.Err() == nil {
		r.markStarted()
		h.mu.Lock()
		t.preemptions++
		c := h.countsFor(stage)
		c.preempted++
		c.preemptedWork += ran
		t.started, t.processor, t.cancelling, t.preempting = time.Time{}, "", time.Time{}, false
		h.mu.Unlock()
		h.m.taskPreempted(t, ran, r.locks, a.Processor)
		h.log.Info("preempted task back to waiting: its work is lost", "task", t.id, "stage", stage, "processor", a.Processor, "lost", ran.Round(time.Millisecond))
		return nil, true
	}

	r.markStarted()
	h.mu.Lock()
	if err == nil {
		p.done++
		h.countsFor(stage).done++
	} else {
		p.failed++
		h.countsFor(stage).failed++
	}
	h.mu.Unlock()
	h.m.taskEnded(t, ran, r.locks, err)
	if err != nil {
		h.log.Debug("task failed", "task", t.id, "stage", stage, "processor", a.Processor, "error", err)
		return h.taskStatus(ctx, a.Processor, err), false
	}
	return nil, false
}

var errDraining = errors.New("host draining")

// errLost ends a run whose processor was dropped before the call began.
var errLost = errors.New("processor lost before the call began")

// abandonWaiting ends the waits of a stage whose processors have all
// failed for good: nothing would ever serve them.
func (h *Host) abandonWaiting(stage config.Stage, cause error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.tasks {
		if t.stage == stage && t.started.IsZero() {
			t.abandon(cause)
		}
	}
}

func (h *Host) countsFor(stage config.Stage) *counts {
	c := h.stats[stage]
	if c == nil {
		c = &counts{}
		h.stats[stage] = c
	}
	return c
}

func allFailed(h *Host, ids []string) bool {
	for _, id := range ids {
		if h.procs[id].sp.State() != supervise.Failed {
			return false
		}
	}
	return true
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// taskStatus turns a failed run into the caller's status. The code says
// who failed: Aborted the plugin process (died or was killed),
// DeadlineExceeded the processor's task timeout, Canceled the caller or the
// drain, FailedPrecondition a processor in a crash loop, and otherwise the
// plugin's own answer, whose message and retry flag pass through.
func (h *Host) taskStatus(ctx context.Context, processor string, err error) error {
	var (
		died    *supervise.DiedError
		timeout *supervise.TimeoutError
		failed  *supervise.FailedError
		sdkErr  *sdk.Error
		call    *pluginclient.CallError
		exit    *pluginclient.ExitError
	)
	switch {
	case errors.As(err, &died):
		return statusError(codes.Aborted, true, "%v", died)
	case errors.As(err, &exit):
		// The call saw the process end before supervise did.
		return statusError(codes.Aborted, true, "processor %s: plugin died during the task: %v", processor, exit)
	case errors.As(err, &timeout):
		return statusError(codes.DeadlineExceeded, false, "%v", timeout)
	case errors.As(err, &failed):
		return statusError(codes.FailedPrecondition, false, "%v", failed)
	case errors.Is(err, supervise.ErrStopped):
		return statusError(codes.Unavailable, true, "processor %s is stopping (host shutting down)", processor)
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case h.abort.Err() != nil:
		return statusError(codes.Unavailable, true, "host shut down: the task on %s was cancelled after the drain's grace period", processor)
	case errors.As(err, &call) && call.Err != nil:
		code := call.Code
		if code == codes.OK {
			code = codes.Unknown
		}
		return statusError(code, call.Err.Retryable, "processor %s: %s", processor, call.Err.Message)
	case errors.As(err, &sdkErr):
		return statusError(codes.Unknown, sdkErr.Retryable, "processor %s: %s", processor, sdkErr.Message)
	}
	return statusError(codes.Unknown, false, "processor %s: %v", processor, err)
}

// statusError is a gRPC status carrying the plugin protocol's Error
// detail, so clients read message and retry flag the same way whether the
// plugin or the host failed.
func statusError(code codes.Code, retryable bool, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	st, err := status.New(code, msg).WithDetails(&sealv1.Error{Message: msg, Retryable: retryable})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
