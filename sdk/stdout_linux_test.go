package sdk

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

const stdoutHelperEnv = "SDK_TEST_STDOUT_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(stdoutHelperEnv) != "" {
		stdoutHelper()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stdoutHelper runs in a child started with the magic cookie set, so this
// package's init has already moved fd 1. It writes to fd 1 every way a
// plugin might, then writes the "handshake" where Serve would.
func stdoutHelper() {
	fmt.Println("noise: fmt.Println")
	_, _ = syscall.Write(1, []byte("noise: raw fd 1\n"))
	child := exec.Command("sh", "-c", "echo noise: child")
	child.Stdout = os.Stdout
	_ = child.Run()
	hs := protectStdout() // what Serve hands go-plugin
	fmt.Fprintln(hs, "HANDSHAKE")
	// The handshake fd is close-on-exec: a child cannot inherit it.
	target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", hs.Fd()))
	fmt.Fprintf(os.Stderr, "handshake pipe: %s\n", target)
	lister := exec.Command("sh", "-c", `for fd in /proc/$$/fd/*; do echo "child fd $fd -> $(readlink $fd)"; done`)
	lister.Stderr = os.Stderr
	lister.Stdout = os.Stderr
	_ = lister.Run()
}

func TestProtectStdout(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe)
	cmd.Env = []string{stdoutHelperEnv + "=1", MagicCookieKey + "=" + MagicCookieValue, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	if stdout.String() != "HANDSHAKE\n" {
		t.Errorf("stdout = %q, want only the handshake", stdout.String())
	}
	var pipe string
	if _, err := fmt.Sscanf(stderr.String()[bytes.Index(stderr.Bytes(), []byte("handshake pipe: ")):], "handshake pipe: %s", &pipe); err != nil || pipe == "" {
		t.Fatalf("helper did not report its handshake pipe:\n%s", stderr.String())
	}
	if !bytes.Contains(stderr.Bytes(), []byte("child fd")) {
		t.Fatalf("child listed no fds:\n%s", stderr.String())
	}
	for _, line := range bytes.Split(stderr.Bytes(), []byte("\n")) {
		if bytes.HasPrefix(line, []byte("child fd")) && bytes.HasSuffix(line, []byte(pipe)) {
			t.Errorf("a child process inherited the handshake pipe: %s", line)
		}
	}
	for _, noise := range []string{"noise: fmt.Println", "noise: raw fd 1", "noise: child"} {
		if !bytes.Contains(stderr.Bytes(), []byte(noise)) {
			t.Errorf("stderr lacks %q:\n%s", noise, stderr.String())
		}
	}
}

// Without the magic cookie (the host, tests, a plugin run by hand) the
// package leaves fd 1 alone.
func TestNoProtectionWithoutCookie(t *testing.T) {
	if os.Getenv(MagicCookieKey) != "" {
		t.Skip("test process itself has the magic cookie")
	}
	if handshakeOut != nil {
		t.Errorf("fd 1 was moved in a process started without the magic cookie")
	}
}
