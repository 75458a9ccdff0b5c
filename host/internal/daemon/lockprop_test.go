package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The lock property: at no instant do more calls run inside a plugin than
// its processor's `concurrent` allows, or inside the plugins holding a lock
// than the lock's capacity — whatever callers cancel, plugins crash or
// fail to start, or tasks time out, and however long a plugin keeps
// working after a call was cancelled on the host's side.
//
// Each schedule is a random host (locks, processors, timeouts) started
// through the real Start, with the real dispatcher, arbiter, task
// admission (Host.run) and supervision; only the plugin process is an
// in-process fake (supervise.Config.Launch) that records when a call's
// work begins and ends inside it, as a plugin's handler would, and that
// ignores or honours cancellation at random, as filecoin-ffi and well
// behaved plugins do.
var (
	lockPropSeed  = flag.Int64("lockprop.seed", -1, "run only this seed of TestLockProperty")
	lockPropCount = flag.Int("lockprop.n", 2000, "how many random schedules TestLockProperty runs")
)

func TestLockProperty(t *testing.T) {
	n := *lockPropCount
	if testing.Short() {
		n = 200
	}
	lo := uint64(0)
	if *lockPropSeed >= 0 {
		lo, n = uint64(*lockPropSeed), 1
	}
	// Schedules run side by side (each is mostly waiting on timers).
	const workers = 48
	seeds := make(chan uint64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	calls, cancels, crashes, kills := 0, 0, 0, 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				r, err := lockSchedule(t, seed)
				mu.Lock()
				if err != nil {
					failed = append(failed, fmt.Sprintf("seed %d: %v\n  rerun: go test ./host/internal/daemon -run TestLockProperty -lockprop.seed=%d", seed, err, seed))
				}
				calls, cancels, crashes, kills = calls+r.calls, cancels+r.cancels, crashes+r.crashes, kills+r.kills
				mu.Unlock()
			}
		}()
	}
	for s := lo; s < lo+uint64(n); s++ {
		seeds <- s
	}
	close(seeds)
	wg.Wait()
	t.Logf("%d schedules: %d calls entered plugins, %d callers cancelled, %d plugin crashes or failed starts, %d plugins killed by the host", n, calls, cancels, crashes, kills)
	slices.Sort(failed)
	for i, f := range failed {
		if i == 5 {
			t.Errorf("… and %d more failing seeds", len(failed)-5)
			break
		}
		t.Error(f)
	}
	if calls == 0 {
		t.Fatal("no call ever reached a plugin: the schedules test nothing")
	}
}

// schedResult counts what a schedule exercised.
type schedResult struct{ calls, cancels, crashes, kills int }

// lockWorld is one schedule's plugins and the record of calls inside them.
type lockWorld struct {
	mu       sync.Mutex
	conc     map[string]int      // processor -> concurrent
	locks    map[string][]string // processor -> locks
	caps     map[string]int      // lock -> capacity
	inside   map[string]int      // processor -> calls inside its plugin now
	insts    map[string]*fakeInst
	violated error
	res      schedResult
	stopping bool       // the host is shutting down: kills are its own
	rng      *rand.Rand // under mu
}

func (w *lockWorld) intn(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rng.IntN(n)
}

// enter records a call's work starting inside proc's plugin and checks
// the property at that instant.
func (w *lockWorld) enter(proc string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inside[proc]++
	w.res.calls++
	if w.violated != nil {
		return
	}
	if w.inside[proc] > w.conc[proc] {
		w.violated = fmt.Errorf("%d calls inside %s's plugin, concurrent = %d", w.inside[proc], proc, w.conc[proc])
		return
	}
	for _, l := range w.locks[proc] {
		use := 0
		var who []string
		for p, n := range w.inside {
			if n > 0 && slices.Contains(w.locks[p], l) {
				use += n
				who = append(who, fmt.Sprintf("%s:%d", p, n))
			}
		}
		if use > w.caps[l] {
			slices.Sort(who)
			w.violated = fmt.Errorf("%d calls inside plugins holding lock %s (capacity %d): %s", use, l, w.caps[l], strings.Join(who, " "))
			return
		}
	}
}

func (w *lockWorld) leave(proc string) {
	w.mu.Lock()
	w.inside[proc]--
	w.mu.Unlock()
}

// fakeInst is one in-process plugin instance: it tracks the calls whose
// work runs in it (as the sdk does for Info) and ends them all when it
// dies, as a process's death does.
type fakeInst struct {
	w      *lockWorld
	proc   string
	stage  sealv1.Stage
	mu     sync.Mutex
	calls  map[string]chan struct{} // running call -> closed when its work ends
	exited chan struct{}
	err    error
	once   sync.Once
}

func (f *fakeInst) Info(ctx context.Context) (*sealv1.InfoResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.isDead() {
		return nil, errors.New("connection closed")
	}
	info := &sealv1.InfoResponse{Name: "fake", Stages: []sealv1.Stage{f.stage}, TracksCalls: true}
	for id := range f.calls {
		info.RunningCalls = append(info.RunningCalls, id)
	}
	return info, nil
}

func (f *fakeInst) Ping(ctx context.Context) error {
	if f.isDead() {
		return errors.New("connection closed")
	}
	return nil
}
func (f *fakeInst) Exited() <-chan struct{} { return f.exited }
func (f *fakeInst) ExitError() error        { return f.err }
func (f *fakeInst) Pid() int                { return 1 }
func (f *fakeInst) Kill(ctx context.Context) error {
	f.w.mu.Lock()
	if !f.isDead() && !f.w.stopping {
		f.w.res.kills++
	}
	f.w.mu.Unlock()
	f.die(errors.New("killed"))
	return nil
}

func (f *fakeInst) isDead() bool {
	select {
	case <-f.exited:
		return true
	default:
		return false
	}
}

// die ends the process: every call's work stops with it.
func (f *fakeInst) die(err error) {
	f.once.Do(func() {
		f.mu.Lock()
		for id, end := range f.calls {
			delete(f.calls, id)
			f.w.leave(f.proc)
			close(end)
		}
		f.err = err
		close(f.exited)
		f.mu.Unlock()
	})
}

// call is the plugin side of one stage call plus the gRPC client's view of
// it: the work runs for a random time, honouring cancellation or not; the
// client returns when the work answers, when its context ends (gRPC does
// not wait for the handler) or when the connection dies.
func (f *fakeInst) call(ctx context.Context) error {
	md, _ := metadata.FromOutgoingContext(ctx)
	ids := md.Get(sdk.CallMetadata)
	if len(ids) != 1 {
		return fmt.Errorf("call without %s metadata", sdk.CallMetadata)
	}
	id := ids[0]
	end := make(chan struct{})
	f.mu.Lock()
	if f.isDead() {
		f.mu.Unlock()
		return errors.New("connection closed")
	}
	f.calls[id] = end
	f.w.enter(f.proc)
	f.mu.Unlock()

	work := time.Duration(f.w.intn(25)) * time.Millisecond
	deaf := f.w.intn(2) == 0
	answered := make(chan struct{})
	go func() {
		cancelled := ctx.Done()
		if deaf {
			cancelled = nil
		}
		select {
		case <-time.After(work):
		case <-cancelled:
		case <-end:
			return // died
		}
		f.mu.Lock()
		if _, ok := f.calls[id]; ok {
			delete(f.calls, id)
			f.w.leave(f.proc)
			close(end)
		}
		f.mu.Unlock()
		close(answered)
	}()
	select {
	case <-answered:
		if f.w.intn(10) == 0 {
			return &pluginclient.CallError{Plugin: "fake", Code: codes.Unavailable, FromPlugin: true, Err: &sdk.Error{Message: "fake: stage failed", Retryable: true}}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-end:
		return errors.New("transport is closing")
	}
}

// lockSchedule runs one random schedule and returns the first violation.
func lockSchedule(t *testing.T, seed uint64) (schedResult, error) {
	rng := rand.New(rand.NewPCG(seed, 0x10c4))
	w := &lockWorld{conc: map[string]int{}, locks: map[string][]string{}, caps: map[string]int{}, inside: map[string]int{}, insts: map[string]*fakeInst{},
		rng: rand.New(rand.NewPCG(seed, 0xfa4e))}

	var src strings.Builder
	fmt.Fprintf(&src, "sector_size = \"2KiB\"\nconfine = false\nplugin \"fake\" {\n  path = %q\n}\n", mockBin)
	lockNames := []string{"gpu0", "gpu1"}[:1+rng.IntN(2)]
	for _, l := range lockNames {
		w.caps[l] = 1 + rng.IntN(2)
		fmt.Fprintf(&src, "lock %q {\n  capacity = %d\n}\n", l, w.caps[l])
	}
	stages := []config.Stage{config.StagePC2, config.StageC2, config.StageC1}
	var served []config.Stage
	nproc := 2 + rng.IntN(3)
	for range nproc {
		st := stages[rng.IntN(len(stages))]
		served = append(served, st)
		conc := 1 + rng.IntN(3)
		var locks []string
		for _, l := range lockNames {
			if rng.IntN(3) > 0 {
				locks = append(locks, fmt.Sprintf("%q", l))
			}
		}
		timeout := ""
		if rng.IntN(3) == 0 {
			timeout = fmt.Sprintf("  timeout = \"%dms\"\n", 5+rng.IntN(20))
		}
		fmt.Fprintf(&src, "processor %q {\n  plugin = \"fake\"\n  concurrent = %d\n  locks = [%s]\n%s}\n", st, conc, strings.Join(locks, ", "), timeout)
	}
	dir, err := os.MkdirTemp("", "lp")
	if err != nil {
		return w.res, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "c.hcl")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		return w.res, err
	}
	cfg, diags := config.Load(file)
	if diags.HasErrors() {
		return w.res, fmt.Errorf("schedule config: %v\n%s", diags, src.String())
	}
	for _, pc := range cfg.Processors {
		w.conc[pc.ID] = max(pc.Concurrent, 1)
		w.locks[pc.ID] = pc.Locks
	}

	h, err := Start(Options{
		Config:         cfg,
		Instance:       fmt.Sprintf("%s-lp%d-%d", testInstance, seed, instanceSeq.Add(1)),
		Socket:         filepath.Join(dir, "s"),
		Unconfined:     true,
		Logger:         hclog.NewNullLogger(),
		Backoff:        supervise.BackoffPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Stable: time.Millisecond, MaxFailures: 1000},
		HealthInterval: time.Second,
		CancelGrace:    time.Duration(5+rng.IntN(15)) * time.Millisecond,
		launch: func(proc string) func(context.Context, string) (supervise.Conn, error) {
			var stage sealv1.Stage
			for _, pc := range cfg.Processors {
				if pc.ID == proc {
					stage = StageProto(pc.Stage)
				}
			}
			return func(ctx context.Context, owner string) (supervise.Conn, error) {
				if w.intn(8) == 0 {
					w.mu.Lock()
					w.res.crashes++
					w.mu.Unlock()
					return nil, errors.New("fake: plugin failed to start")
				}
				f := &fakeInst{w: w, proc: proc, stage: stage, calls: map[string]chan struct{}{}, exited: make(chan struct{})}
				w.mu.Lock()
				w.insts[proc] = f
				w.mu.Unlock()
				return f, nil
			}
		},
	})
	if err != nil {
		return w.res, fmt.Errorf("Start: %w", err)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Callers: each submits a few tasks, cancelling some at a random
	// moment (waiting or running).
	for c := 0; c < 3+rng.IntN(10); c++ {
		stage := served[rng.IntN(len(served))]
		tasks := 1 + rng.IntN(4)
		cancelAfter := make([]time.Duration, tasks)
		for i := range cancelAfter {
			if rng.IntN(3) == 0 {
				cancelAfter[i] = time.Duration(1+rng.IntN(30)) * time.Millisecond
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, after := range cancelAfter {
				tctx, cancel := context.WithCancel(ctx)
				if after > 0 {
					time.AfterFunc(after, func() {
						w.mu.Lock()
						w.res.cancels++
						w.mu.Unlock()
						cancel()
					})
				}
				_ = h.run(tctx, stage, nil, func(ctx context.Context, _ *pluginclient.Client) error {
					f, _ := supervise.ConnOf(ctx).(*fakeInst)
					if f == nil {
						return errors.New("no in-process plugin for the call")
					}
					return f.call(ctx)
				})
				cancel()
			}
		}()
	}
	// Crashes: plugins die at random moments, mid-call or idle.
	crashes := rng.IntN(4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < crashes; i++ {
			select {
			case <-time.After(time.Duration(1+w.intn(40)) * time.Millisecond):
			case <-ctx.Done():
				return
			}
			procs := make([]string, 0, len(w.conc))
			for p := range w.conc {
				procs = append(procs, p)
			}
			slices.Sort(procs)
			p := procs[w.intn(len(procs))]
			w.mu.Lock()
			f := w.insts[p]
			w.res.crashes++
			w.mu.Unlock()
			if f != nil {
				f.die(errors.New("fake: crashed"))
			}
		}
	}()
	callersDone := make(chan struct{})
	go func() { wg.Wait(); close(callersDone) }()
	select {
	case <-callersDone:
	case <-time.After(20 * time.Second):
		stop()
		return w.res, errors.New("the schedule's calls did not end within 20s")
	}
	stop()
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(sctx, 0); err != nil {
		return w.res, fmt.Errorf("Shutdown: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, n := range w.inside {
		if n != 0 && w.violated == nil {
			w.violated = fmt.Errorf("%d calls still inside %s's plugin after shutdown", n, p)
		}
	}
	return w.res, w.violated
}
