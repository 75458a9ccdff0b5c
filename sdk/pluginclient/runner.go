package pluginclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// procRunner starts the caller's exec.Cmd for go-plugin. go-plugin's own
// command runner is internal to it and keeps the exit status to itself;
// this one records the status and the last stderr lines so that a plugin
// that dies can be explained, and it never adds the host's environment or
// stdin to the command.
//
// It hands the child plain os.Pipe ends rather than exec's StdoutPipe, so
// that the process is reaped (and exited closed) as soon as it exits, even
// while a child of the plugin still holds its stdout or stderr open;
// exec.Cmd.Wait would wait for those pipes first.
type procRunner struct {
	cmd *exec.Cmd
	// binary is what go-plugin's log lines name as the plugin.
	binary         string
	stdout, stderr io.ReadCloser
	outW, errW     *os.File
	tail           *tailBuffer
	pid            int
	// stderrDone is closed once the plugin's stderr has been read to EOF.
	stderrDone chan struct{}
	// started is set once the process exists; until then there is no exit
	// to wait for.
	started atomic.Bool
	// proc is set by Start; Kill may run in another goroutine before that.
	proc atomic.Pointer[os.Process]

	exited chan struct{}
	// Set before exited is closed.
	state   *os.ProcessState
	waitErr error
}

func newProcRunner(cmd *exec.Cmd, binary string, tail *tailBuffer) (*procRunner, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	done := make(chan struct{})
	return &procRunner{
		cmd:        cmd,
		binary:     binary,
		stdout:     outR,
		stderr:     &stderrReader{r: errR, tail: tail, done: done},
		stderrDone: done,
		outW:       outW,
		errW:       errW,
		tail:       tail,
		exited:     make(chan struct{}),
	}, nil
}

// stderrReader copies what go-plugin reads from the plugin's stderr into
// the tail buffer, and says when it has all been read: an error built
// before then could miss the line explaining the failure.
type stderrReader struct {
	r    *os.File
	tail *tailBuffer
	done chan struct{}
	once sync.Once
}

func (s *stderrReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		_, _ = s.tail.Write(p[:n])
	}
	if err != nil {
		s.once.Do(func() { close(s.done) })
	}
	return n, err
}

func (s *stderrReader) Close() error { return s.r.Close() }

func (r *procRunner) Start(context.Context) error {
	err := r.cmd.Start()
	// The child has its own copies now; ours must go for EOF to come when
	// the child's do.
	_ = r.outW.Close()
	_ = r.errW.Close()
	if err != nil {
		_ = r.stdout.Close()
		_ = r.stderr.Close()
		return err
	}
	r.pid = r.cmd.Process.Pid
	r.proc.Store(r.cmd.Process)
	r.started.Store(true)
	go func() {
		err := r.cmd.Wait()
		r.state, r.waitErr = r.cmd.ProcessState, err
		close(r.exited)
	}()
	return nil
}

// Wait is called once, by go-plugin, after stdout and stderr have reached
// EOF, so it is also where the read ends are closed.
func (r *procRunner) Wait(context.Context) error {
	<-r.exited
	_ = r.stdout.Close()
	_ = r.stderr.Close()
	return r.waitErr
}

func (r *procRunner) Kill(context.Context) error {
	p := r.proc.Load()
	if p == nil {
		return nil
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.binary }
func (r *procRunner) ID() string            { return strconv.Itoa(r.pid) }

// Diagnose's text goes into go-plugin's "unrecognized remote plugin
// message" error; ours is written by describeStartFailure instead.
func (r *procRunner) Diagnose(context.Context) string { return "" }

func (r *procRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

// exitStatus describes how the process ended, e.g. "exit status 3" or
// "killed by signal killed". Only valid once exited is closed.
func (r *procRunner) exitStatus() string {
	if r.state == nil {
		if r.waitErr != nil {
			return r.waitErr.Error()
		}
		return "unknown exit status"
	}
	if ws, ok := r.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", r.state.ExitCode())
}

// tailBuffer keeps the last lines written to it, for error messages: the
// host's log has everything, but the error that reaches an operator should
// say why the plugin died without a trip through the logs.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

// maxTailLine bounds one kept line; a plugin dumping megabytes of JSON on
// one line must not end up in an error message whole.
const maxTailLine = 512

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if room := maxTailLine - len(t.partial); room > 0 {
				t.partial = append(t.partial, p[:min(room, len(p))]...)
			}
			break
		}
		if room := maxTailLine - len(t.partial); room > 0 {
			t.partial = append(t.partial, p[:min(room, i)]...)
		}
		t.push(string(bytes.TrimRight(t.partial, "\r")))
		t.partial = t.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (t *tailBuffer) push(line string) {
	if line == "" {
		return
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// Lines returns the kept lines, oldest first, including an unterminated
// last line.
func (t *tailBuffer) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	return out
}
