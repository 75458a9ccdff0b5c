package extprocessor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/host/internal/seal"
	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Tasks runs tasks on a host, reporting how far each got; seal.ClientHost
// wraps the task API client.
type Tasks = seal.Host

// Options configure Run.
type Options struct {
	// Stage is the damocles stage name (damocles.Stages).
	Stage string
	Tasks Tasks
	// Socket is the host's socket, for messages.
	Socket string
	Stdin  io.Reader
	Stdout io.Writer
	// Log receives what the worker's log should show (its stderr).
	Log io.Writer
	// Environ is the process environment, checked for the variables
	// damocles sets for self-confining children.
	Environ []string
	// MaxInFlight bounds the requests served at once (default 1024); a
	// worker sends at most its processor's `concurrent`.
	MaxInFlight int
	// MaxLine bounds one request line (default damocles.MaxLine).
	MaxLine int
	// ExitGrace bounds how long Run waits at stdin's end for cancelled
	// calls to return (default 5s).
	ExitGrace time.Duration
}

// Procs is the GOMAXPROCS `host processor` runs with unless $GOMAXPROCS
// says otherwise. The adapter relays: each task is a few goroutines
// handing one another a line, a call and its answer, and with a second P
// idle every handoff wakes a second thread to look for work it rarely
// finds (a futex wake and a sleep per handoff, on a box whose cores seal).
// One P runs the relay on one thread and took a quarter off the adapter's
// CPU per task (BenchmarkProcessorNoop). Nothing it does needs two:
// decoding even a 100 MB c1out is a fraction of a second, and a blocking
// write or file call hands its P on as any syscall does.
const Procs = 1

// ignoredEnv are the variables damocles-worker sets for a child that
// confines itself (vc-processors' sys/cgroup.rs and sys/numa.rs).
var ignoredEnv = []string{"VC_CG_NAME", "VC_CG_CPUSET", "VENUS_WORKER_NUMA_PREFERRED"}

// ErrStage is returned for a stage the adapter does not serve.
var ErrStage = errors.New("unknown stage")

// Run serves o.Stage on stdin and stdout until stdin ends or ctx is done.
// It returns an error only when it cannot start (unknown stage) or cannot
// write its ready line or answers.
func Run(ctx context.Context, o Options) error {
	codec, err := damocles.Lookup(o.Stage)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStage, err)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 1024
	}
	if o.MaxLine <= 0 {
		o.MaxLine = damocles.MaxLine
	}
	if o.ExitGrace <= 0 {
		o.ExitGrace = 5 * time.Second
	}
	p := &proc{
		o:        o,
		codec:    codec,
		log:      log.New(o.Log, "host processor "+o.Stage+": ", log.LstdFlags|log.Lmicroseconds),
		out:      bufio.NewWriterSize(o.Stdout, 64<<10),
		jobs:     make(chan job),
		inFlight: map[uint64]bool{},
		busy:     map[string]uint64{},
	}
	for _, kv := range o.Environ {
		for _, name := range ignoredEnv {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				p.log.Printf("ignoring %s=%s: the host confines the work (its processor's cpuset, numa_preferred and locks in config.hcl); this adapter confines nothing", name, v)
			}
		}
	}
	p.log.Printf("serving %s through the sealhost host on %s", o.Stage, o.Socket)
	if err := p.write([]byte(damocles.ReadyLine(o.Stage) + "\n")); err != nil {
		return fmt.Errorf("ready line: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go p.probe(ctx)

	// The lines are read and served on a goroutine of their own: a
	// blocked read of stdin cannot be interrupted, and Run must still end
	// on ctx. Serving there, rather than handing each line over, spares
	// each request a goroutine switch.
	stdin, undo := pollable(o.Stdin)
	defer undo()
	p.o.Stdin = stdin
	readDone := make(chan error, 1)
	go func() { readDone <- p.readLoop(ctx) }()
	var readErr error
	select {
	case readErr = <-readDone:
	case <-ctx.Done():
		readErr = ctx.Err()
	}
	// stdin's end: the worker dropped this child. Nothing will read the
	// answers; cancel what runs so the host frees its slots and locks.
	p.mu.Lock()
	p.closing = true
	left := len(p.inFlight)
	p.mu.Unlock()
	if readErr != nil {
		p.log.Printf("reading stdin: %v; cancelling %d task(s) in flight", readErr, left)
	} else if left > 0 {
		p.log.Printf("stdin closed: cancelling %d task(s) in flight", left)
	}
	cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.ExitGrace):
		p.log.Printf("calls still returning after %s; exiting (the host frees their slots when it sees the cancel)", o.ExitGrace)
	}
	return p.writeErr()
}

// readLoop serves stdin's lines until its end (nil) or a read error.
func (p *proc) readLoop(ctx context.Context) error {
	lines := damocles.NewLineReader(p.o.Stdin, p.o.MaxLine)
	for n := 1; ctx.Err() == nil; n++ {
		line, err := lines.ReadLine()
		switch {
		case errors.Is(err, damocles.ErrLineTooLong):
			if id, ok := damocles.LeadingID(line); ok {
				p.answer(damocles.Failure(id, "request %d is longer than %d bytes, the most a task carries (a 64GiB c1out is about 100 MB)", id, p.o.MaxLine))
			} else {
				p.log.Printf("line %d: skipped: longer than %d bytes and no id at its start", n, p.o.MaxLine)
			}
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		default:
			p.serve(ctx, n, line)
		}
	}
	return nil
}

type proc struct {
	o     Options
	codec *damocles.Codec
	log   *log.Logger
	wg    sync.WaitGroup

	jobs chan job // to idle workers

	mu       sync.Mutex
	closing  bool
	inFlight map[uint64]bool
	busy     map[string]uint64 // sector files in use → request id

	// Answers. Writers queue on outMu; the last one in the queue
	// flushes, so answers that finish together leave in one write.
	outMu  sync.Mutex
	queued atomic.Int32 // writers waiting for outMu
	out    *bufio.Writer
	werr   error
}

// serve handles one line: answers what cannot run at once, starts the rest.
func (p *proc) serve(ctx context.Context, n int, line []byte) {
	if len(strings.TrimSpace(string(line))) == 0 {
		p.log.Printf("line %d: skipped: empty", n)
		return
	}
	req, idOK, err := damocles.DecodeRequest(line)
	if !idOK {
		p.log.Printf("line %d: skipped, no id to answer: %v: %s", n, err, preview(line))
		return
	}
	id := req.ID
	if err != nil {
		p.log.Printf("line %d: %v", n, err)
		p.answer(damocles.Failure(id, "%v", err))
		return
	}
	task, err := p.codec.DecodeTask(req.Task)
	if err != nil {
		p.log.Printf("request %d: %v", id, err)
		p.answer(damocles.Failure(id, "request %d: %v", id, err))
		return
	}
	key := sectorKey(task)
	p.mu.Lock()
	switch {
	case p.inFlight[id]:
		p.mu.Unlock()
		p.log.Printf("request %d: refused: id %d is already in flight", id, id)
		// No answer: it would be taken for the running request's.
		return
	case len(p.inFlight) >= p.o.MaxInFlight:
		p.mu.Unlock()
		p.answer(damocles.Failure(id, "request %d: %d requests are in flight already, the most this processor takes (retryable: lower the worker's concurrent)", id, p.o.MaxInFlight))
		return
	case key != "" && p.busy[key] != 0:
		other := p.busy[key]
		p.mu.Unlock()
		p.answer(damocles.Failure(id, "request %d: request %d for the same sector files (%s) is still running; two %s tasks must not write one sector at once (retryable once it ends)", id, other, key, p.o.Stage))
		return
	}
	p.inFlight[id] = true
	if key != "" {
		p.busy[key] = id
	}
	p.mu.Unlock()
	j := job{id: id, task: task, key: key}
	select {
	case p.jobs <- j: // an idle worker takes it
	default:
		p.wg.Add(1)
		go p.worker(ctx, j)
	}
}

// job is one request that runs.
type job struct {
	id   uint64
	task proto.Message
	key  string
}

// worker runs j, then waits for more until ctx ends. Workers are kept, not
// started per request: a task API call runs deep, and a new goroutine
// regrows its stack to that depth on every task (the daemon's task API
// found the same: stack growth was 6% of its CPU).
func (p *proc) worker(ctx context.Context, j job) {
	defer p.wg.Done()
	for {
		resp := p.run(ctx, j.id, j.task)
		p.mu.Lock()
		delete(p.inFlight, j.id)
		if j.key != "" {
			delete(p.busy, j.key)
		}
		p.mu.Unlock()
		p.answer(resp)
		select {
		case j = <-p.jobs:
		case <-ctx.Done():
			return
		}
	}
}

// run forwards one task to the host and encodes its answer.
func (p *proc) run(ctx context.Context, id uint64, task proto.Message) damocles.Response {
	var finish func(ok bool, started bool)
	if r, ok := task.(*sealv1.PC2Request); ok {
		f, err := preparePC2(r.GetCachePath(), r.GetSealedPath(), p.log)
		if err != nil {
			return damocles.Failure(id, "request %d: %v", id, err)
		}
		finish = f
	}
	start := time.Now()
	resp, rep, err := p.call(ctx, task)
	if finish != nil {
		finish(err == nil, !neverRan(err, rep))
	}
	if err != nil {
		msg := p.failure(err, rep)
		p.log.Printf("request %d: failed after %s: %s", id, time.Since(start).Round(time.Millisecond), msg)
		return damocles.Failure(id, "%s", msg)
	}
	out, err := p.codec.EncodeOutput(task, resp)
	if err != nil {
		p.log.Printf("request %d: %v", id, err)
		return damocles.Failure(id, "request %d: the host answered, but %v", id, err)
	}
	p.log.Printf("request %d: done on %s (waited %s, ran %s)%s", id, rep.Processor, rep.Waited.Round(time.Millisecond), rep.Ran.Round(time.Millisecond), unverified(resp))
	return damocles.OK(id, out)
}

// unverified is what the log adds for a proof the host's plugin did not
// verify: its note (the mock's says FAKE). damocles' outputs have no field
// for it, and the worker shows the child's stderr, so it is said there.
func unverified(resp proto.Message) string {
	r, ok := resp.(interface {
		GetVerified() bool
		GetVerification() string
	})
	if !ok || r.GetVerified() {
		return ""
	}
	if r.GetVerification() == "" {
		return "; the proof was not verified"
	}
	return "; the proof was not verified: " + r.GetVerification()
}

func (p *proc) call(ctx context.Context, task proto.Message) (proto.Message, client.Report, error) {
	t := p.o.Tasks
	switch r := task.(type) {
	case *sealv1.TreeDRequest:
		return unwrap(t.TreeD(ctx, r))
	case *sealv1.PC1Request:
		return unwrap(t.PC1(ctx, r))
	case *sealv1.PC2Request:
		return unwrap(t.PC2(ctx, r))
	case *sealv1.C2Request:
		return unwrap(t.C2(ctx, r))
	case *sealv1.WindowPoStRequest:
		// Not in seal.Host, which is a sealing run's: a task API client
		// (seal.ClientHost) has it.
		if w, ok := t.(interface {
			WindowPoSt(context.Context, *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, client.Report, error)
		}); ok {
			return unwrap(w.WindowPoSt(ctx, r))
		}
	case *sealv1.UnsealRequest:
		if u, ok := t.(interface {
			Unseal(context.Context, *sealv1.UnsealRequest) (*sealv1.UnsealResponse, client.Report, error)
		}); ok {
			return unwrap(u.Unseal(ctx, r))
		}
	case *sealv1.SnapEncodeRequest:
		if u, ok := t.(interface {
			SnapEncode(context.Context, *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, client.Report, error)
		}); ok {
			return unwrap(u.SnapEncode(ctx, r))
		}
	case *sealv1.SnapProveRequest:
		if u, ok := t.(interface {
			SnapProve(context.Context, *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, client.Report, error)
		}); ok {
			return unwrap(u.SnapProve(ctx, r))
		}
	case *sealv1.WinningPoStRequest:
		if w, ok := t.(interface {
			WinningPoSt(context.Context, *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, client.Report, error)
		}); ok {
			return unwrap(w.WinningPoSt(ctx, r))
		}
	case *sealv1.AddPiecesRequest:
		if a, ok := t.(interface {
			AddPieces(context.Context, *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, client.Report, error)
		}); ok {
			return unwrap(a.AddPieces(ctx, r))
		}
	}
	return nil, client.Report{}, fmt.Errorf("no task API call for %T", task)
}

// unwrap turns a typed response into a proto.Message without a typed nil.
func unwrap[T proto.Message](resp T, rep client.Report, err error) (proto.Message, client.Report, error) {
	if err != nil {
		return nil, rep, err
	}
	return resp, rep, nil
}

// failure is the err_msg for a failed call. A host that is not there or
// went away is named as such, with "retryable" in the text: damocles keeps
// only the text, and an operator resuming the sector needs to know that
// resuming can help.
func (p *proc) failure(err error, rep client.Report) string {
	var te *client.TaskError
	if !errors.As(err, &te) {
		return err.Error()
	}
	switch {
	case te.Code == codes.Unavailable && !neverRan(err, rep):
		return fmt.Sprintf("%s: the sealhost host on %s went away during the task%s: %s (retryable: resume the sector once the host runs again)", p.o.Stage, p.o.Socket, onProcessor(rep), te.Err.Message)
	case te.Code == codes.Unavailable && shuttingDown(te):
		return fmt.Sprintf("%s: the sealhost host on %s is shutting down: %s (retryable: resume the sector once a host runs)", p.o.Stage, p.o.Socket, te.Err.Message)
	case te.Code == codes.Unavailable:
		return fmt.Sprintf("%s: no sealhost host answers on %s (start `host run`, then resume the sector): %s (retryable)", p.o.Stage, p.o.Socket, te.Err.Message)
	case te.Code == codes.Unimplemented:
		return fmt.Sprintf("%s: the sealhost host on %s has no %s processor: %s (add a processor \"%s\" block to its config)", p.o.Stage, p.o.Socket, p.o.Stage, te.Err.Message, p.o.Stage)
	}
	msg := te.Error()
	if rep.Processor != "" {
		msg += " [sealhost processor " + rep.Processor + "]"
	}
	return msg
}

// neverRan reports whether a failed call cannot have reached a plugin:
// the connection to the host was never made, or the host refused the
// request before dispatching it. A call that got a processor (its header
// named one) or lost an established connection may have.
func neverRan(err error, rep client.Report) bool {
	var te *client.TaskError
	if rep.Processor != "" || !errors.As(err, &te) {
		return false
	}
	switch te.Code {
	case codes.Unavailable:
		return strings.Contains(te.Err.Message, "while dialing") || shuttingDown(te)
	case codes.Unimplemented, codes.InvalidArgument, codes.FailedPrecondition:
		return true
	}
	return false
}

// shuttingDown reports a host's refusal while it drains (SIGTERM).
func shuttingDown(te *client.TaskError) bool {
	return strings.Contains(te.Err.Message, "shutting down") || strings.Contains(te.Err.Message, "draining")
}

func onProcessor(rep client.Report) string {
	if rep.Processor == "" {
		return ""
	}
	return " (on its processor " + rep.Processor + ")"
}

// answer writes one response line, unless the worker is gone.
func (p *proc) answer(r damocles.Response) {
	b, err := damocles.EncodeResponse(r)
	if err != nil {
		// The output did not encode (a plugin's output that is not
		// JSON): still an answer, never silence.
		b, _ = damocles.EncodeResponse(damocles.Failure(r.ID, "request %d: the answer cannot be written: %v", r.ID, err))
	}
	p.mu.Lock()
	closing := p.closing
	p.mu.Unlock()
	if closing {
		return
	}
	if err := p.write(b); err != nil {
		p.log.Printf("writing the answer to request %d: %v", r.ID, err)
	}
}

func (p *proc) write(b []byte) error {
	p.queued.Add(1)
	p.outMu.Lock()
	defer p.outMu.Unlock()
	last := p.queued.Add(-1) == 0
	if p.werr != nil {
		return p.werr
	}
	if _, err := p.out.Write(b); err != nil {
		p.werr = err
		return err
	}
	if last {
		p.werr = p.out.Flush()
	}
	return p.werr
}

func (p *proc) writeErr() error {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return p.werr
}

// probe tells the worker's log, once, whether a host answers and serves
// the stage: an operator sees a wrong socket at start, not at the first
// sector.
func (p *proc) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := p.o.Tasks.Status(ctx)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			p.log.Printf("no sealhost host answers on %s yet: %v; tasks fail (retryable) until one does", p.o.Socket, err)
		}
		return
	}
	var ids []string
	for _, pr := range st.GetProcessors() {
		if pr.GetStage() == p.codec.SealStage {
			ids = append(ids, fmt.Sprintf("%s %s", pr.GetId(), pr.GetState()))
		}
	}
	if len(ids) == 0 {
		p.log.Printf("host %q on %s has no %s processor: every task will fail until its config has one", st.GetInstance(), p.o.Socket, p.o.Stage)
		return
	}
	p.log.Printf("ready: host %q on %s serves %s with %s", st.GetInstance(), p.o.Socket, p.o.Stage, strings.Join(ids, ", "))
}

// sectorKey names the sector files a task writes, so two tasks on one
// sector do not run at once: its cache dir (snap_encode's new one), the
// staged file add_pieces writes, or for c2 its sector. snap_prove and the
// PoSts write no sector file.
func sectorKey(task proto.Message) string {
	switch r := task.(type) {
	case interface{ GetCachePath() string }:
		return r.GetCachePath()
	case *sealv1.SnapEncodeRequest:
		return r.GetNewCachePath()
	case *sealv1.AddPiecesRequest:
		return r.GetStagedPath()
	case *sealv1.C2Request:
		return fmt.Sprintf("sector %d of miner %d", r.GetSector().GetSectorNumber(), r.GetSector().GetMinerId())
	}
	return ""
}

func preview(line []byte) string {
	s := string(line)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
