package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sealhost/sealhost/sdk/client"
)

// lockInstance takes the exclusive lock of instance name: a file beside the
// instance's default socket, flock'ed for the host's life (the kernel lets
// go of it when the process ends, however it ends). Two hosts with one
// name but different -socket would otherwise both start, clean each
// other's cgroups as stale and arbitrate the same GPUs twice.
func lockInstance(instance string) (*os.File, error) {
	dir := filepath.Dir(client.DefaultSocket(instance))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("instance lock folder: %w", err)
	}
	path := filepath.Join(dir, instance+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := ""
			if p := strings.TrimSpace(string(pid)); p != "" {
				who = " (pid " + p + ")"
			}
			return nil, fmt.Errorf("another host named %q is running%s: it holds %s; stop it, or give this one another -name", instance, who, path)
		}
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	// The pid is for the message above; the lock is the flock.
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}
