package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/plugintest"
)

// runTestMock is plugins/mock, built once for this test binary; scripts see
// it as $MOCK.
var runTestMock string

func init() {
	testMainHooks = append(testMainHooks, func() (func(), error) {
		dir, err := os.MkdirTemp("", "hosttest-mock")
		if err != nil {
			return nil, err
		}
		runTestMock = filepath.Join(dir, "mock")
		if out, err := exec.Command("go", "build", "-o", runTestMock, "github.com/sealhost/sealhost/plugins/mock").CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("building plugins/mock: %v\n%s", err, out)
		}
		return func() { os.RemoveAll(dir) }, nil
	})
	testSetups = append(testSetups, func(env *testscript.Env) error {
		env.Setenv("MOCK", runTestMock)
		// Sockets live in short paths: $WORK can be too long for one.
		dir, err := os.MkdirTemp("", "hs")
		if err != nil {
			return err
		}
		env.Defer(func() { os.RemoveAll(dir) })
		env.Setenv("SOCKDIR", dir)
		return nil
	})
	testScriptCmds["waithost"] = runTestCmdWaitHost
}

// runTestCmdWaitHost waits until a host answers on a socket with every processor
// running:
//
//	waithost $SOCKDIR/h.sock
func runTestCmdWaitHost(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waithost SOCKET")
	}
	if err := runTestWaitHost(args[0], 30*time.Second); err != nil {
		ts.Fatalf("%v", err)
	}
}

func runTestWaitHost(socket string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			c, err := client.Dial(socket)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			for _, p := range st.GetProcessors() {
				if p.GetState() != "running" {
					return fmt.Errorf("processor %s is %s", p.GetId(), p.GetState())
				}
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no host running on %s after %s: %v", socket, d, last)
}

// runTestHostBinary is the host command as testscript installed it: this test
// binary under the name "host", so it runs hostMain, and the confinement
// shim it re-executes (/proc/self/exe, argv[0] "host") does too.
func runTestHostBinary(t testing.TB) string {
	p, err := exec.LookPath("host")
	if err != nil {
		t.Fatalf("no host command on PATH (set up by testscript): %v", err)
	}
	return p
}

// runTestStartHost starts `host run` as a real process on a one-processor config.
func runTestStartHost(t *testing.T, name, mockArgs string, extra ...string) (cmd *exec.Cmd, socket string, stderr *bytes.Buffer) {
	t.Helper()
	src := fmt.Sprintf(`sector_size = "2KiB"
plugin "mock" {
  path = %q
  args = ["-duration", %q]
}
processor "c2" {
  plugin = "mock"
  concurrent = 2
}
`, runTestMock, mockArgs)
	return runTestStartHostConfig(t, name, src, extra...)
}

// runTestStartHostConfig starts `host run` as a real process on the config
// src and waits until every processor runs.
func runTestStartHostConfig(t testing.TB, name, src string, extra ...string) (cmd *exec.Cmd, socket string, stderr *bytes.Buffer) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.hcl")
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "hs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	socket = filepath.Join(sockDir, "h.sock")
	args := append([]string{"run", "-config", cfg, "-socket", socket, "-name", name}, extra...)
	if confine.Available() != nil {
		args = append(args, "-unconfined")
	}
	cmd = exec.Command(runTestHostBinary(t), args...)
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if err := runTestWaitHost(socket, 30*time.Second); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%v\nhost stderr:\n%s", err, stderr)
	}
	return cmd, socket, stderr
}

// runTestCgroups lists the cgroup directories of host instance name
// (any pid), in every controller.
func runTestCgroups(name string) []string {
	var dirs []string
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", confine.Root, name+"@*"))
	dirs = append(dirs, matches...)
	matches, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup", confine.Root, name+"@*"))
	return append(dirs, matches...)
}

func runTestAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(st, ')')
	return i < 0 || !bytes.HasPrefix(st[i:], []byte(") Z"))
}

// TestRunSIGTERMDrains runs the real `host run`, starts tasks, sends
// SIGTERM: the running tasks finish, the host exits 0, and no plugin
// process or cgroup is left.
func TestRunSIGTERMDrains(t *testing.T) {
	name := fmt.Sprintf("hosttest-term-%d", os.Getpid())
	cmd, socket, stderr := runTestStartHost(t, name, "1500ms", "-grace", "20s")
	c, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := plugintest.DefaultInputs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := c.C2(ctx, in.C2); errs <- err }()
	}
	var plugin int
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err == nil && len(st.GetRunning()) == 2 {
			plugin = int(st.GetProcessors()[0].GetPid())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("a task running at SIGTERM did not finish: %v", err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("host run after SIGTERM: %v, want exit 0\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "draining") || !strings.Contains(stderr.String(), "host stopped") {
		t.Errorf("the log does not tell of the drain:\n%s", stderr)
	}
	if runTestAlive(plugin) {
		t.Errorf("plugin pid %d alive after the host exited", plugin)
	}
	if left := runTestCgroups(name); len(left) > 0 {
		t.Errorf("cgroups left after a clean exit: %v", left)
	}
	if _, err := os.Stat(socket); err == nil {
		t.Errorf("socket %s left after a clean exit", socket)
	}
}

// TestRunGraceCutExits1: a drain whose -grace ends by cancelling a running
// task exits 1, and the log says that is why; work was lost, and whoever
// restarts the host should know. (Before, it exited 0.)
func TestRunGraceCutExits1(t *testing.T) {
	name := fmt.Sprintf("hosttest-cut-%d", os.Getpid())
	cmd, socket, stderr := runTestStartHost(t, name, "30s", "-grace", "300ms")
	c, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := plugintest.DefaultInputs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() { _, err := c.C2(ctx, in.C2); errs <- err }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err := c.Status(ctx); err == nil && len(st.GetRunning()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task did not start")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "grace") {
		t.Errorf("the task cut by the grace: %v, want an error naming the grace", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("host run after a cut drain: %v, want exit status 1\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "exiting 1: the drain ended by cancelling running tasks before they finished: cancelled=1") {
		t.Errorf("the log does not say why it exits 1:\n%s", stderr)
	}
}

// TestRunSIGKILLCleanup SIGKILLs a running host: its plugin dies with it
// (parent-death signal), and the next host start finds the dead host's
// cgroup, says so and removes it.
func TestRunSIGKILLCleanup(t *testing.T) {
	if err := confine.Available(); err != nil {
		t.Skipf("needs cgroups: %v", err)
	}
	// A host started meanwhile by another package's tests cleans the dead
	// host too, and may do it first: then try again.
	for attempt := 1; ; attempt++ {
		interfered := false
		t.Run(fmt.Sprintf("attempt%d", attempt), func(t *testing.T) { interfered = runSIGKILLCleanup(t, attempt) })
		if !interfered {
			return
		}
		if attempt == 3 {
			t.Fatal("another host cleaned the dead host first, 3 times in a row")
		}
		t.Logf("attempt %d: another host cleaned the dead host first; trying again", attempt)
	}
}

func runSIGKILLCleanup(t *testing.T, attempt int) (interfered bool) {
	name := fmt.Sprintf("hosttest-kill-%d-%d", os.Getpid(), attempt)
	cmd, socket, _ := runTestStartHost(t, name, "10s")
	c, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	plugin := int(st.GetProcessors()[0].GetPid())
	stale := runTestCgroups(name)
	if len(stale) == 0 {
		t.Fatalf("the host made no cgroup for instance %s", name)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for runTestAlive(plugin) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin pid %d still alive 2 s after its host was SIGKILLed", plugin)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// If the dead host's cgroups are already gone, another host removed
	// them before ours could start.
	cleanedByOther := len(runTestCgroups(name)) == 0

	// The next host (another instance name: the dead one's socket file is
	// there too, and it must not matter) cleans up.
	next := fmt.Sprintf("hosttest-next-%d-%d", os.Getpid(), attempt)
	cmd2, _, stderr2 := runTestStartHost(t, next, "1s")
	if left := runTestCgroups(name); len(left) > 0 {
		t.Errorf("the next host left the dead host's cgroups: %v", left)
	}
	cmd2.Process.Signal(syscall.SIGTERM)
	if err := cmd2.Wait(); err != nil {
		t.Errorf("next host: %v\n%s", err, stderr2)
	}
	// Read only now: the buffer is the running command's until Wait.
	if left := runTestCgroups(next); len(left) > 0 {
		t.Errorf("cgroups left after a clean exit: %v", left)
	}
	if !strings.Contains(stderr2.String(), "cleaned stale cgroup of a dead host") || !strings.Contains(stderr2.String(), name+"@") {
		// Gone, and not by the next host: another host (another
		// package's test) cleaned them between our look and its start.
		if !t.Failed() && (cleanedByOther || strings.Contains(stderr2.String(), "no stale cgroups found")) {
			return true
		}
		t.Errorf("the next host did not report the stale cgroup of %s:\n%s", name, stderr2)
	}
	return false
}

// TestRunWithoutCgroups runs `host run` as an unprivileged user (nobody),
// who cannot create cgroups: it refuses with a message that says why and
// how to opt out, and starts nothing; with -unconfined it runs, and says
// so in status.
func TestRunWithoutCgroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the host as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}

	// Everything nobody needs: a copy of the host command (named host, so
	// it runs hostMain), the plugin, the config, a folder for the socket.
	dir, err := os.MkdirTemp("", "hostnobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin, err := os.ReadFile(runTestHostBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(dir, "host")
	mock := filepath.Join(dir, "mock")
	plugin, err := os.ReadFile(runTestMock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(host, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mock, plugin, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.hcl")
	os.WriteFile(cfg, []byte("sector_size = \"2KiB\"\nplugin \"mock\" {\n  path = \"mock\"\n}\nprocessor \"c2\" {\n  plugin = \"mock\"\n}\n"), 0o644)
	sockDir := filepath.Join(dir, "s")
	os.Mkdir(sockDir, 0o700)
	os.Chown(sockDir, uid, gid)
	socket := filepath.Join(sockDir, "h.sock")

	refused := exec.Command(host, "run", "-config", cfg, "-socket", socket, "-name", "hosttest-nobody")
	refused.SysProcAttr = cred
	out, err := refused.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("host run as nobody: %v, want exit 1\n%s", err, out)
	}
	for _, want := range []string{"cgroup confinement unavailable", "confine = false", "-unconfined"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(socket); err == nil {
		t.Error("a refused host made its socket")
	}

	run := exec.Command(host, "run", "-config", cfg, "-socket", socket, "-name", "hosttest-nobody", "-unconfined")
	run.SysProcAttr = cred
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if run.ProcessState == nil {
			run.Process.Kill()
			run.Wait()
		}
	}()
	if err := runTestWaitHost(socket, 30*time.Second); err != nil {
		run.Process.Kill()
		run.Wait()
		t.Fatalf("unconfined host as nobody: %v\n%s", err, &stderr)
	}
	c, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.GetConfined() || st.GetProcessors()[0].GetConfined() {
		t.Errorf("status of an unconfined host says confined: %v", st)
	}
	run.Process.Signal(syscall.SIGTERM)
	if err := run.Wait(); err != nil {
		t.Errorf("unconfined host after SIGTERM: %v\n%s", err, &stderr)
	}
	if !strings.Contains(stderr.String(), "UNCONFINED") {
		t.Errorf("the log does not say loudly that plugins are unconfined:\n%s", &stderr)
	}
}
