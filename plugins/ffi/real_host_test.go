//go:build cgo && ffi

package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// runHost starts `bin/host run` on config (a path relative to the repo
// root) with its socket in a temporary folder, waits until it answers, and
// stops it (SIGTERM, then the drain) when the test ends. It returns the
// socket and the host binary. The host inherits this process's environment,
// FIL_PROOFS_PARAMETER_CACHE included, as an operator's would.
func runHost(t *testing.T, config string) (socket, host string) {
	t.Helper()
	root, _ := filepath.Abs("../..")
	host = filepath.Join(root, "bin", "host")
	for _, bin := range []string{host, filepath.Join(root, "bin", "plugins", "ffi")} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%v (make test-real builds it)", err)
		}
	}
	socket = filepath.Join(t.TempDir(), "h.sock")
	var log bytes.Buffer
	cmd := exec.Command(host, "run", "-config", filepath.Join(root, config), "-socket", socket, "-name", "realtest"+filepath.Base(filepath.Dir(socket)))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("host log:\n%s", lastLines(log.String(), 40))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return socket, host
		}
		select {
		case err := <-done:
			t.Fatalf("host run exited: %v\n%s", err, lastLines(log.String(), 40))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("host run did not listen on %s within a minute\n%s", socket, lastLines(log.String(), 40))
		}
	}
}
