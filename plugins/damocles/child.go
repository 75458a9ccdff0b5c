package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
)

// childSpec is what a child is started from; it does not change across
// respawns.
type childSpec struct {
	Stage      string // damocles' wire name: one of damocles.BridgeStages
	Bin        string
	Args       []string
	Env        []string
	StableWait time.Duration
	Log        hclog.Logger
}

// readyLine is what a damocles processor prints first.
func (s childSpec) readyLine() string { return damocles.ReadyLine(s.Stage) }

func (s childSpec) describe() string {
	return fmt.Sprintf("damocles %s processor %s", s.Stage, s.Bin)
}

// stderrTailLines and maxStderrLine bound what an error message quotes of
// the child's stderr; the host's log has every line.
const (
	stderrTailLines = 8
	maxStderrLine   = 512
)

// result is a call's answer: the child's output or its error text, or err
// when no answer can come (the child died, the line was unusable).
type result struct {
	output json.RawMessage
	err    error
}

// child is one running damocles processor and the calls it holds.
type child struct {
	spec   childSpec
	cmd    *exec.Cmd
	pid    int
	stdin  *os.File
	stdout *os.File
	stderr *os.File

	wmu sync.Mutex // one request line at a time

	mu      sync.Mutex
	pending map[uint64]chan result
	// killReason, once set, replaces "exited" in the error the pending
	// calls get: the plugin ended the child on purpose. forCancel says it
	// did so to stop a cancelled call, which is no sign of a sick child.
	killReason string
	forCancel  bool
	deathErr   error

	tail *lineTail
	// ready gets the first stdout line (or the read error instead).
	ready chan firstLine
	// exited is closed once the process has ended.
	exited chan struct{}
	// dead is closed once the child is reaped and every pending call has
	// its answer.
	dead chan struct{}
}

type firstLine struct {
	line string
	err  error
}

// spawn starts a child and waits for its ready line. ids are not the
// child's business: the caller numbers requests across respawns.
func spawn(spec childSpec) (*child, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Env = spec.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that killing it also kills what it
		// started (a wrapper script's real processor).
		Setpgid: true,
		// A plugin killed outright (the host's SIGKILL) takes the child
		// along; the host's cgroup kill gets the rest when confined.
		Pdeathsig: syscall.SIGKILL,
	}
	err = cmd.Start()
	closeAll(inR, outW, errW)
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, fmt.Errorf("starting %s: %v", spec.describe(), err)
	}
	c := &child{
		spec: spec, cmd: cmd, pid: cmd.Process.Pid,
		stdin: inW, stdout: outR, stderr: errR,
		pending: map[uint64]chan result{},
		tail:    newLineTail(stderrTailLines, maxStderrLine),
		ready:   make(chan firstLine, 1),
		exited:  make(chan struct{}),
		dead:    make(chan struct{}),
	}
	go c.supervise()
	timer := time.NewTimer(spec.StableWait)
	defer timer.Stop()
	select {
	case f := <-c.ready:
		switch got := strings.TrimSpace(f.line); {
		case f.err != nil:
			<-c.dead
			return nil, fmt.Errorf("%s ended before its ready line %q: %v", spec.describe(), spec.readyLine(), c.deathErr)
		case got != spec.readyLine():
			c.kill("it printed an unexpected first line")
			<-c.dead
			return nil, fmt.Errorf("%s: unexpected first line %s, want %q (a damocles processor prints it when it can take requests)%s",
				spec.describe(), quoteLine(f.line), spec.readyLine(), c.tailText())
		}
	case <-timer.C:
		c.kill("no ready line within stable_wait")
		<-c.dead
		return nil, fmt.Errorf("%s did not print %q within %v (stable_wait; raise -stable-wait if it needs longer to start)%s",
			spec.describe(), spec.readyLine(), spec.StableWait, c.tailText())
	}
	spec.Log.Info("damocles processor ready", "bin", spec.Bin, "pid", c.pid)
	return c, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// supervise runs for the child's whole life: it reads stdout and stderr,
// reaps the process, and fails what is still pending.
func (c *child) supervise() {
	readDone := make(chan struct{})
	errDone := make(chan struct{})
	go func() { defer close(readDone); c.readLoop(c.stdout, damocles.MaxLine) }()
	go func() { defer close(errDone); c.relayStderr() }()
	waitErr := c.cmd.Wait()
	close(c.exited)
	// Whatever it started in its group goes with it; a pipe held open by
	// a straggler would otherwise hide the end of the stream. (Right after
	// the reap, before its pid can be reused.)
	c.killGroup()
	// Lines written before it died are still in the pipe: read them, so
	// an answer given just before an exit is not lost. Something that
	// escaped the group may hold the pipe; stop waiting after a while.
	drain(c.stdout, readDone)
	drain(c.stderr, errDone)
	// Not under wmu: a send blocked on a pipe someone still holds must
	// not block the child's end; Close wakes it with an error.
	closeAll(c.stdout, c.stderr, c.stdin)

	status := exitStatus(c.cmd, waitErr)
	c.mu.Lock()
	what := "exited: " + status
	if c.killReason != "" {
		what = "was killed (" + c.killReason + "): " + status
	}
	c.deathErr = fmt.Errorf("%s (pid %d) %s%s", c.spec.describe(), c.pid, what, c.tailText())
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- result{err: interrupted{&sdk.Error{Message: c.deathErr.Error(), Retryable: true}}}
	}
	select {
	case c.ready <- firstLine{err: c.deathErr}:
	default:
	}
	close(c.dead)
}

func drain(f *os.File, done chan struct{}) {
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = f.SetReadDeadline(time.Now())
		<-done
	}
}

func exitStatus(cmd *exec.Cmd, err error) string {
	st := cmd.ProcessState
	if st == nil {
		if err != nil {
			return err.Error()
		}
		return "unknown exit status"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}

// kill ends the child and what it started; why names the reason in the
// errors of the calls it held.
func (c *child) kill(why string) { c.killFor(why, false) }

func (c *child) killFor(why string, forCancel bool) {
	select {
	case <-c.exited:
		// Reaped: its pid, and so its group id, may belong to another
		// process by now.
		return
	default:
	}
	c.mu.Lock()
	if c.killReason == "" {
		c.killReason, c.forCancel = why, forCancel
	}
	c.mu.Unlock()
	c.killGroup()
}

func (c *child) killGroup() {
	if c.pid <= 0 || c.cmd == nil {
		return // no process (a test's reader alone): kill(0) would hit our own group
	}
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	_ = c.cmd.Process.Kill()
}

// stop closes the child's stdin, which a damocles processor takes as the
// end, and kills it if it has not gone after grace.
func (c *child) stop(grace time.Duration) {
	_ = c.stdin.Close()
	select {
	case <-c.dead:
	case <-time.After(grace):
		c.kill("it outlived the plugin's stop")
		<-c.dead
	}
}

// interrupted is the error of a call whose processor ended while it held
// the call: retryable, except where the work may have left its files
// half-changed (see stages.PC2).
type interrupted struct{ err *sdk.Error }

func (e interrupted) Error() string { return e.err.Error() }
func (e interrupted) Unwrap() error { return e.err }

// readLoop hands the first line to spawn and every later line to the call
// it answers. A line that is not a response is logged and skipped, as
// damocles' own worker does; a response whose id can be read but whose
// rest cannot fails that call.
func (c *child) readLoop(r io.Reader, max int) {
	lr := damocles.NewLineReader(r, max)
	first := true
	for {
		line, err := lr.ReadLine()
		tooLong := errors.Is(err, damocles.ErrLineTooLong)
		if err != nil && !tooLong {
			if first {
				c.ready <- firstLine{err: err}
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
				c.spec.Log.Warn("reading the damocles processor's stdout", "error", err)
			}
			// Stdout closed: damocles counts that as the child's end.
			// Usually it has exited; one that lives on is ended.
			select {
			case <-c.exited:
			case <-time.After(time.Second):
				c.kill("it closed its stdout")
			}
			return
		}
		if first {
			first = false
			c.ready <- firstLine{line: string(line)}
			continue
		}
		if tooLong {
			c.dispatchTooLong(line, err)
			continue
		}
		c.dispatch(line)
	}
}

// dispatch delivers one response line.
func (c *child) dispatch(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	resp, err := damocles.DecodeResponse(line)
	id := resp.ID
	if err != nil {
		var ok bool
		if id, ok = damocles.LeadingID(line); !ok {
			c.spec.Log.Warn("skipping a stdout line of the damocles processor that is not a response", "error", err, "line", quoteLine(string(line)))
			return
		}
	}
	ch := c.take(id)
	if ch == nil {
		c.spec.Log.Warn("skipping an answer to no request in flight", "id", id, "line", quoteLine(string(line)))
		return
	}
	if err != nil {
		ch <- result{err: sdk.Errorf("%s answered request %d with a line that is no response: %v", c.spec.describe(), id, err)}
		return
	}
	if resp.ErrMsg != nil {
		ch <- result{err: failed(c.spec, *resp.ErrMsg)}
		return
	}
	out, err := resp.Result()
	if err != nil {
		ch <- result{err: sdk.Errorf("%s: %v", c.spec.describe(), err)}
		return
	}
	ch <- result{output: out}
}

// dispatchTooLong fails the call a line over damocles.MaxLine answers,
// when its id can be read; the reader has skipped the line.
func (c *child) dispatchTooLong(head []byte, err error) {
	id, ok := damocles.LeadingID(head)
	var ch chan result
	if ok {
		ch = c.take(id)
	}
	if ch == nil {
		c.spec.Log.Warn("skipping a stdout line of the damocles processor over the line limit", "error", err, "start", quoteLine(string(head)))
		return
	}
	ch <- result{err: sdk.Errorf("%s answered request %d with a line %v", c.spec.describe(), id, err)}
}

// take removes and returns the answer channel of request id, nil when no
// such request is in flight.
func (c *child) take(id uint64) chan result {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.pending[id]
	if !ok {
		return nil
	}
	delete(c.pending, id)
	return ch
}

// register makes room for request id's answer; nil when the child is gone.
func (c *child) register(id uint64) chan result {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return nil
	}
	ch := make(chan result, 1)
	c.pending[id] = ch
	return ch
}

// forget drops a request nobody waits for any more; its answer, if one
// comes, is skipped.
func (c *child) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// inFlight counts the requests the child holds.
func (c *child) inFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// send writes one request line. A failed write means the child can take
// no more requests: it is ended, so every caller learns why.
func (c *child) send(line []byte) error {
	c.wmu.Lock()
	_, err := c.stdin.Write(line)
	c.wmu.Unlock()
	if err != nil {
		c.kill("its stdin could not be written")
		return err
	}
	return nil
}

// relayStderr logs each stderr line of the child under the plugin's
// logger (the host logs that) and keeps the last few for errors.
func (c *child) relayStderr() {
	lr := damocles.NewLineReader(c.stderr, 64<<10)
	for {
		line, err := lr.ReadLine()
		if err != nil && !errors.Is(err, damocles.ErrLineTooLong) {
			return
		}
		s := string(bytes.TrimRight(line, "\r"))
		c.tail.add(s)
		c.spec.Log.Info("processor stderr", "pid", c.pid, "line", s)
	}
}

func (c *child) tailText() string {
	lines := c.tail.lines()
	if len(lines) == 0 {
		return ""
	}
	return "; its last stderr lines: " + strings.Join(lines, " | ")
}

// quoteLine quotes a line for a log or an error, cut to a readable size.
func quoteLine(s string) string {
	const max = 200
	if len(s) > max {
		return fmt.Sprintf("%q… (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// lineTail keeps the last lines of a stream.
type lineTail struct {
	mu       sync.Mutex
	max, cut int
	buf      []string
}

func newLineTail(max, cut int) *lineTail { return &lineTail{max: max, cut: cut} }

func (t *lineTail) add(s string) {
	if s = strings.TrimSpace(s); s == "" {
		return
	}
	if len(s) > t.cut {
		s = s[:t.cut] + "…"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, s)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}
