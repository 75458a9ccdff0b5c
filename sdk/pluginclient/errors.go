package pluginclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// quotedStderrLines is how many stderr lines an error message quotes; the
// error values keep up to stderrTailLines.
const quotedStderrLines = 5

// StartError says why a plugin could not be started.
type StartError struct {
	Plugin string
	Path   string
	// Reason is the diagnosis in words, e.g. "exited before completing
	// the handshake".
	Reason string
	// Err is the underlying error (go-plugin's, exec's or ctx's).
	Err error
	// Exit is how the process ended ("exit status 1"), empty if it never
	// started or could not be reaped in time.
	Exit string
	// Stderr holds the plugin's last stderr lines.
	Stderr []string
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %q (%s) failed to start: %s", e.Plugin, e.Path, e.Reason)
	if e.Exit != "" {
		fmt.Fprintf(&b, " [%s]", e.Exit)
	}
	// go-plugin's "Unrecognized remote plugin message" says nothing the
	// reason has not said better.
	if e.Err != nil && !strings.HasPrefix(e.Err.Error(), "Unrecognized remote plugin message") {
		fmt.Fprintf(&b, ": %s", firstLine(e.Err.Error()))
	}
	writeTail(&b, e.Stderr)
	return b.String()
}

func (e *StartError) Unwrap() error { return e.Err }

// ExitError says how a plugin process ended when it did not exit cleanly.
type ExitError struct {
	Plugin string
	Pid    int
	// Status is "exit status N" or "killed by signal S".
	Status string
	// Code is the exit code, -1 when killed by a signal.
	Code int
	// Killed is true when the host asked for the exit (Kill).
	Killed bool
	Stderr []string
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %q (pid %d) exited: %s", e.Plugin, e.Pid, e.Status)
	if e.Killed {
		b.WriteString(" (killed by the host)")
	}
	writeTail(&b, e.Stderr)
	return b.String()
}

// CallError is a failed stage call. Its chain holds an *sdk.Error (the
// plugin's message and retry flag, or the host's reading of a transport
// failure), an *ExitError when the plugin died during the call, and the
// context's error when the caller's ctx ended; so errors.As(err,
// new(*sdk.Error)), sdk.IsRetryable(err) and errors.Is(err,
// context.DeadlineExceeded) all work.
type CallError struct {
	Plugin string
	// Stage is tree_d, pc1, pc2, c1, c2, info or health.
	Stage string
	// Code is the gRPC status code; codes.Unimplemented means the plugin
	// does not serve Stage.
	Code codes.Code
	Err  *sdk.Error
	Exit *ExitError
	// FromPlugin says the plugin itself answered with this error (its
	// status carries the sdk's detail): the connection is fine, whatever
	// the code, so nobody needs to wait for the plugin to die.
	FromPlugin bool
	ctx        error
}

func (e *CallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %q %s: %s", e.Plugin, e.Stage, e.Err.Error())
	if e.Exit != nil {
		fmt.Fprintf(&b, "; %s", e.Exit.Error())
	}
	return b.String()
}

func (e *CallError) Unwrap() []error {
	errs := []error{e.Err}
	if e.Exit != nil {
		errs = append(errs, e.Exit)
	}
	if e.ctx != nil {
		errs = append(errs, e.ctx)
	}
	return errs
}

func (c *Client) callError(ctx context.Context, stage string, err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	ce := &CallError{Plugin: c.name, Stage: stage, Code: st.Code(), ctx: ctx.Err()}
	if ce.ctx == nil && (ce.Code == codes.Canceled || ce.Code == codes.DeadlineExceeded) {
		// The plugin's side of the call carries our deadline and may
		// notice it expire a hair before our own timer does.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < time.Second {
			select {
			case <-ctx.Done():
				ce.ctx = ctx.Err()
			case <-time.After(time.Until(dl) + 100*time.Millisecond):
			}
		}
	}
	for _, d := range st.Details() {
		if e, ok := d.(*sealv1.Error); ok {
			ce.Err = &sdk.Error{Message: e.GetMessage(), Retryable: e.GetRetryable()}
			ce.FromPlugin = true
		}
	}
	if ce.Err != nil {
		return ce
	}
	switch {
	case ce.ctx != nil && (ce.Code == codes.Canceled || ce.Code == codes.DeadlineExceeded):
		// Our side gave up; the request itself may be fine.
		ce.Err = &sdk.Error{Message: st.Message(), Retryable: true}
	case ce.Code == codes.Unavailable || ce.Code == codes.Canceled:
		// Most often the plugin died under the call. Give the reaper a
		// moment so the error can say how it died.
		select {
		case <-c.run.exited:
			ce.Exit = c.exitError()
			ce.Err = &sdk.Error{Message: "plugin exited during the call (" + st.Message() + ")", Retryable: true}
		case <-time.After(time.Second):
			ce.Err = &sdk.Error{Message: st.Message(), Retryable: true}
		}
	default:
		// Errors without our detail come from gRPC itself (a message over
		// the size limit) or a plugin not using the SDK: nothing says a
		// retry would help.
		ce.Err = &sdk.Error{Message: st.Message()}
	}
	return ce
}

func (c *Client) startError(r *procRunner, err error, timeout time.Duration) error {
	e := &StartError{Plugin: c.name, Path: c.path, Err: err}
	started := r != nil && r.started.Load()
	exitCode := -1
	if started {
		// Wait (briefly: a child of the plugin may hold stderr open) for
		// the exit status and the last words on stderr.
		bound := time.NewTimer(2 * time.Second)
		defer bound.Stop()
		select {
		case <-r.exited:
			e.Exit = r.exitStatus()
			if r.state != nil {
				exitCode = r.state.ExitCode()
			}
		case <-bound.C:
			return e.finish(c, started, exitCode, timeout)
		}
		// Its last lines are in the pipe already; only a child of the
		// plugin holding stderr open would delay EOF, so wait little.
		select {
		case <-r.stderrDone:
		case <-time.After(500 * time.Millisecond):
		}
	}
	return e.finish(c, started, exitCode, timeout)
}

func (e *StartError) finish(c *Client, started bool, exitCode int, timeout time.Duration) *StartError {
	e.Stderr = c.tail.Lines()
	e.Reason = diagnose(started, exitCode, e.Err, e.Stderr, timeout)
	return e
}

// diagnose turns go-plugin's start errors, which are written for plugin
// developers who know go-plugin, into what an operator can act on.
func diagnose(started bool, exitCode int, err error, stderr []string, timeout time.Duration) string {
	msg := err.Error()
	for _, l := range stderr {
		if strings.Contains(l, "This binary is a plugin. These are not meant to be executed directly") {
			return "wrong magic cookie: the program is a go-plugin plugin but expects another host's cookie (is it built with github.com/sealhost/sealhost/sdk?)"
		}
		if strings.Contains(l, `"plugin init error"`) {
			return "could not open its go-plugin listener (a unix socket path over ~108 bytes is the usual cause: set a shorter Config.SocketDir)"
		}
	}
	const unrecognized = "Unrecognized remote plugin message: "
	switch {
	case !started:
		return "could not be executed (check the path and that it is executable)"
	case errors.Is(err, errAbandoned):
		return "start abandoned: the caller's context ended first; the process was killed"
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Sprintf("no handshake within the start timeout of %s (hangs at start?); the process was killed", timeout)
	case strings.HasPrefix(msg, unrecognized):
		line := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(msg, unrecognized), "\n", 2)[0])
		if line == "" {
			if exitCode > 0 {
				return "exited before completing the handshake"
			}
			return "exited without writing the go-plugin handshake (not a sealhost plugin?)"
		}
		return fmt.Sprintf("wrote %q on stdout where the go-plugin handshake was expected (not a sealhost plugin, or something printed to stdout before sdk.Serve)", truncate(line, 120))
	case strings.Contains(msg, "plugin exited before we could connect"):
		return "exited before completing the handshake"
	case strings.Contains(msg, "incompatible API version"):
		return "speaks no protocol version this host offers (" + sdkVersionHint() + ")"
	case strings.Contains(msg, "unsupported plugin protocol"):
		return "serves net/rpc; sealhost plugins must serve gRPC (sdk.Serve does)"
	case strings.Contains(msg, "incompatible core API version"):
		return "was built with an incompatible hashicorp/go-plugin"
	case strings.Contains(msg, "health check"):
		return "completed the handshake but its gRPC health check failed"
	}
	return "handshake failed"
}

func sdkVersionHint() string {
	return fmt.Sprintf("host offers protocol %d, SDK %s", sdk.ProtocolVersion, sdk.SDKVersion)
}

func writeTail(b *strings.Builder, lines []string) {
	if len(lines) == 0 {
		return
	}
	if len(lines) > quotedStderrLines {
		lines = lines[len(lines)-quotedStderrLines:]
	}
	b.WriteString("; last stderr lines:")
	for _, l := range lines {
		b.WriteString("\n\t")
		b.WriteString(truncate(l, 200))
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
