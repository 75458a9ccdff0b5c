package daemon

import (
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
	for _, tc := range []struct {
		name, path, group, want string
		skip                    string
	}{
		{name: "too long", path: filepath.Join(base, strings.Repeat("s", 120)), want: "at most 107"},
		{name: "folder writable by others", path: filepath.Join(open, "h.sock"), want: "writable by others"},
		{name: "folder of another user", path: filepath.Join(foreign, "h.sock"), want: "belongs to uid 65534", skip: errString(chownErr)},
		{name: "unknown group", path: filepath.Join(base, "g.sock"), group: "no-such-group-here", want: "no such group"},
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
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
