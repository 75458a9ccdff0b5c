package extprocessor

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pollable returns stdin as a file the Go runtime's poller reads, when it
// is a pipe or socket (as the worker starts us), and a function that undoes
// it. Why: os.Stdin reads block a thread in read(2), and a request that
// arrives wakes that thread only to hand the task's goroutine to another
// one, a second wakeup on every task; a polled read parks instead, and the
// goroutine that reads the line runs the task's call on the same thread.
//
// The poller needs O_NONBLOCK, a flag of the pipe's open file description,
// not of the descriptor, so the undo clears it again for whoever shares
// the pipe after us. The descriptor is a dup, closed by the undo, so the
// os.File wrapping it never closes the caller's; closing it also ends a
// read still waiting, which a blocked read(2) on stdin never does.
func pollable(r io.Reader) (io.Reader, func()) {
	f, ok := r.(*os.File)
	if !ok {
		return r, func() {}
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return r, func() {}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return r, func() {}
	}
	var fd int
	var flags int
	cerr := rc.Control(func(s uintptr) {
		fd, err = unix.Dup(int(s))
		if err == nil {
			flags, err = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		}
	})
	if cerr != nil || err != nil {
		if fd > 0 {
			unix.Close(fd)
		}
		return r, func() {}
	}
	if flags&unix.O_NONBLOCK != 0 {
		// Polled already (an os.Pipe end): nothing to change.
		unix.Close(fd)
		return r, func() {}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return r, func() {}
	}
	nf := os.NewFile(uintptr(fd), f.Name())
	return nf, func() {
		nf.Close() // wakes a read still parked on it
		rc.Control(func(s uintptr) { unix.SetNonblock(int(s), false) })
	}
}
