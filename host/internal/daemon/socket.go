package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// umaskMu serialises the umask change around socket creation: the umask
// is process-wide.
var umaskMu sync.Mutex

// listen creates the task API's socket, owner-only (0600) or, with group,
// 0660 for that group. An existing socket with a live host behind it is an
// error; a dead one's file is replaced.
func listen(path, group string) (net.Listener, error) {
	if len(path) > 107 {
		return nil, fmt.Errorf("socket path %s is %d bytes; a unix socket path may have at most 107: choose a shorter -socket", path, len(path))
	}
	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("socket folder: %w", err)
	}
	if err := safeDir(dir); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			// Only a stale socket is ever replaced: -socket pointing at
			// a config file or a folder by mistake must not delete it.
			return nil, fmt.Errorf("-socket %s exists and is not a socket (%s); refusing to replace it: choose another -socket", path, describeMode(fi.Mode()))
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another host is listening there; stop it, or give this one another -name or -socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	}
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err == nil {
			err = os.Chmod(path, 0o660)
		}
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("socket %s: giving it to group %s: %w", path, group, err)
		}
	}
	return l, nil
}

func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return 0, fmt.Errorf("-socket-group %s: no such group", name)
		}
		return 0, fmt.Errorf("-socket-group %s: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}

// safeDir refuses a socket folder another user could use to replace the
// socket (a pre-made /tmp/sealhost-0, say): it must be ours and writable by
// no one else.
func safeDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("socket folder: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("socket folder %s belongs to uid %d, not to this user (uid %d): another user could replace the socket; remove it or choose another -socket", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("socket folder %s is writable by others (mode %v): another user could replace the socket; chmod go-w it or choose another -socket", dir, fi.Mode().Perm())
	}
	return nil
}

func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m.IsRegular():
		return "a regular file"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return m.Type().String()
}

// connQueue accepts on the task socket for the host's whole life and hands
// the connections to whichever server is serving: the task API, and while
// the host tears down, one that answers every call "host is shutting
// down". A listener closed by gRPC's Stop would unlink the socket at once,
// and a client arriving during the teardown would be told there is no
// such file, as if no host had ever run there.
type connQueue struct {
	l     net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnQueue(l net.Listener) *connQueue {
	q := &connQueue{l: l, conns: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Out of descriptors and the like: try again shortly.
				select {
				case <-time.After(10 * time.Millisecond):
					continue
				case <-q.done:
					return
				}
			}
			select {
			case q.conns <- c:
			case <-q.done:
				c.Close()
				return
			}
		}
	}()
	return q
}

// view is a listener for one server; closing it leaves the socket open.
func (q *connQueue) view() net.Listener {
	return &queueView{q: q, closed: make(chan struct{})}
}

// close closes the socket for good (the unix listener unlinks it).
func (q *connQueue) close() error {
	var err error
	q.once.Do(func() {
		close(q.done)
		err = q.l.Close()
	})
	return err
}

type queueView struct {
	q      *connQueue
	closed chan struct{}
	once   sync.Once
}

func (v *queueView) Accept() (net.Conn, error) {
	select {
	case c := <-v.q.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.q.done:
		return nil, net.ErrClosed
	}
}

func (v *queueView) Close() error {
	v.once.Do(func() { close(v.closed) })
	return nil
}

func (v *queueView) Addr() net.Addr { return v.q.l.Addr() }
