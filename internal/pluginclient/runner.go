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
	"syscall"
)

// procRunner starts the caller's exec.Cmd for go-plugin. go-plugin's own
// command runner is internal to it and keeps the exit status to itself;
// this one records the status and the last stderr lines so that a plugin
// that dies can be explained, and it never adds the host's environment or
// stdin to the command.
type procRunner struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr io.ReadCloser
	tail   *tailBuffer
	pid    int

	exited chan struct{}
	// Set before exited is closed.
	state   *os.ProcessState
	waitErr error
}

func newProcRunner(cmd *exec.Cmd, tail *tailBuffer) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{
		cmd:    cmd,
		stdout: stdout,
		stderr: teeReadCloser{Reader: io.TeeReader(stderr, tail), Closer: stderr},
		tail:   tail,
		exited: make(chan struct{}),
	}, nil
}

type teeReadCloser struct {
	io.Reader
	io.Closer
}

func (r *procRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.pid = r.cmd.Process.Pid
	return nil
}

// Wait is called exactly once, by go-plugin, after the process's stdout
// and stderr have reached EOF.
func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.state, r.waitErr = r.cmd.ProcessState, err
	close(r.exited)
	return err
}

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.cmd.Path }
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
