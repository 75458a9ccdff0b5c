package sdk

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	protectOnce  sync.Once
	handshakeOut *os.File
)

// When this process was started as a plugin, move fd 1 out of the way as
// early as a library can: package init runs before main, so even output
// printed before Serve is called cannot reach the handshake channel.
// Started any other way (the host imports this package too), nothing
// changes — nor in the host's confinement shim, which carries the cookie to
// the plugin it execs: moving fd 1 there would hand the plugin a stdout that
// leads to stderr, and the close-on-exec copy would be gone.
func init() {
	if os.Getenv(MagicCookieKey) == MagicCookieValue && os.Getenv(ShimEnv) == "" {
		protectStdout()
	}
}

// protectStdout keeps a close-on-exec duplicate of the real stdout for the
// handshake and points fd 1 at stderr, so writes to fd 1 from anywhere
// (cgo, child processes, fmt.Print before Serve) end up in the host's log
// instead of its handshake parser. Close-on-exec keeps programs the plugin
// runs (an external PC2 binary) from holding the host's pipe open.
func protectStdout() *os.File {
	protectOnce.Do(func() {
		handshakeOut = os.Stdout
		fd, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			// No fd 1 at all: nothing to protect, and go-plugin will
			// report that it cannot write the handshake.
			return
		}
		if err := unix.Dup3(2, 1, 0); err != nil {
			// No usable stderr: send stray output nowhere rather than
			// into the handshake.
			null, nerr := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if nerr != nil {
				_ = unix.Close(fd)
				return
			}
			err = unix.Dup3(int(null.Fd()), 1, 0)
			_ = null.Close()
			if err != nil {
				_ = unix.Close(fd)
				return
			}
		}
		handshakeOut = os.NewFile(uintptr(fd), "plugin-handshake")
	})
	return handshakeOut
}
