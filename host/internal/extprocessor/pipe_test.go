package extprocessor

import (
	"bufio"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// blockingPipe is a pipe as a worker hands it to its child: blocking
// descriptors, which os.NewFile does not poll.
func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "stdin"), os.NewFile(uintptr(fds[1]), "worker")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func nonblock(t *testing.T, f *os.File) bool {
	t.Helper()
	var flags int
	var err error
	rc, _ := f.SyscallConn()
	rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if err != nil {
		t.Fatalf("F_GETFL on %s: %v (closed?)", f.Name(), err)
	}
	return flags&unix.O_NONBLOCK != 0
}

func TestPollable(t *testing.T) {
	t.Run("a blocking pipe is polled, then given back as it was", func(t *testing.T) {
		r, w := blockingPipe(t)
		pr, undo := pollable(r)
		if pr == io.Reader(r) || !nonblock(t, r) {
			t.Fatalf("pipe not made pollable")
		}
		io.WriteString(w, "line\n")
		b := make([]byte, 5)
		if _, err := io.ReadFull(pr, b); err != nil || string(b) != "line\n" {
			t.Fatalf("read %q, %v", b, err)
		}
		// A read still waiting when Run ends is woken by the undo, not
		// left blocked in read(2).
		done := make(chan error, 1)
		go func() { _, err := pr.Read(b); done <- err }()
		time.Sleep(20 * time.Millisecond)
		undo()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("the waiting read returned no error")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the undo did not wake the waiting read")
		}
		if nonblock(t, r) {
			t.Errorf("O_NONBLOCK left on the caller's pipe")
		}
		io.WriteString(w, "more\n") // the caller's descriptor still reads
		if _, err := io.ReadFull(r, b); err != nil || string(b) != "more\n" {
			t.Errorf("caller's pipe after the undo: %q, %v", b, err)
		}
	})
	t.Run("a polled pipe, a file and a non-file stay as given", func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		defer pw.Close()
		f, err := os.CreateTemp(t.TempDir(), "stdin")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, in := range []io.Reader{pr, f, strings.NewReader("x")} {
			got, undo := pollable(in)
			undo()
			if got != in {
				t.Errorf("%T replaced", in)
			}
		}
	})
}

// TestRunOnBlockingPipe: Run on stdin as a worker gives it, answered,
// and the pipe handed back blocking at the end.
func TestRunOnBlockingPipe(t *testing.T) {
	r, w := blockingPipe(t)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	done := make(chan error, 1)
	go func() {
		done <- Run(t.Context(), Options{Stage: "tree_d", Tasks: &fakeHost{}, Socket: "/fake.sock", Stdin: r, Stdout: outW, Log: io.Discard})
		outW.Close()
	}()
	io.WriteString(w, `{"id":4,"task":`+treeD("ok")+"}\n")
	lines := bufio.NewReader(outR)
	for _, want := range []string{"tree_d processor ready\n", `{"id":4,"err_msg":null,"output":true}` + "\n"} {
		if got, err := lines.ReadString('\n'); got != want {
			t.Fatalf("stdout line %q, %v; want %q", got, err, want)
		}
	}
	w.Close() // the worker drops us
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if nonblock(t, r) {
		t.Errorf("stdin left O_NONBLOCK after Run")
	}
}
