package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenRefuses(t *testing.T) {
	base, err := os.MkdirTemp("", "ls")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777)
	foreign := filepath.Join(base, "foreign")
	os.Mkdir(foreign, 0o755)
	chownErr := os.Chown(foreign, 65534, 65534)
	file := filepath.Join(base, "config.hcl")
	os.WriteFile(file, []byte("precious"), 0o644)
	folder := filepath.Join(base, "folder")
	os.Mkdir(folder, 0o755)
	for _, tc := range []struct {
		name, path, group, want string
		skip                    string
	}{
		{name: "too long", path: filepath.Join(base, strings.Repeat("s", 120)), want: "at most 107"},
		{name: "folder writable by others", path: filepath.Join(open, "h.sock"), want: "writable by others"},
		{name: "folder of another user", path: filepath.Join(foreign, "h.sock"), want: "belongs to uid 65534", skip: errString(chownErr)},
		{name: "unknown group", path: filepath.Join(base, "g.sock"), group: "no-such-group-here", want: "no such group"},
		// Before the fix both were removed as if stale sockets.
		{name: "a regular file", path: file, want: "is not a socket (a regular file); refusing to replace it"},
		{name: "a folder", path: folder, want: "is not a socket (a folder); refusing to replace it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skipf("cannot set up: %s", tc.skip)
			}
			l, err := listen(tc.path, tc.group)
			if err == nil {
				l.Close()
				t.Fatalf("listen(%s) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("listen(%s): %v; want it to say %q", tc.path, err, tc.want)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != "precious" {
				t.Errorf("the regular file at -socket: %q, %v", b, err)
			}
			if st, err := os.Stat(folder); err != nil || !st.IsDir() {
				t.Errorf("the folder at -socket: %v", err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestOneHostPerName: a second host with the same instance name is refused
// even on another socket, and names the first; after the first stops, the
// name is free again.
func TestOneHostPerName(t *testing.T) {
	name := fmt.Sprintf("%s-lock-%d", testInstance, instanceSeq.Add(1))
	first, err := lockInstance(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(first.Name()) })
	if _, err := lockInstance(name); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("another host named %q is running (pid %d)", name, os.Getpid())) {
		t.Fatalf("second lock of %s: %v, want it refused naming the first", name, err)
	}
	first.Close()
	again, err := lockInstance(name)
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	again.Close()
}
