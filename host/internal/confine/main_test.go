//go:build linux

package confine

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// testInstancePrefix marks the host instances these tests create, so the
// final check can tell our leftovers from those of a real host.
const testInstancePrefix = "confinetest"

// TestMain makes the test binary serve as the shim (like the host's hidden
// command), as the test plugins (helper MODE DIR) and as a host to be
// SIGKILLed, then checks that no test cgroup was left behind.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ShimCommand {
		os.Exit(RunShim(os.Args[2:]))
	}
	if len(os.Args) > 2 && os.Args[1] == "helper" {
		os.Exit(helper(os.Args[2], os.Args[3:]))
	}
	code := m.Run()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: cgroups left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// leftovers lists this test binary's cgroup directories under Root.
func leftovers() []string {
	root, err := manager.New(&cgroups.Cgroup{Path: Root, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return nil
	}
	var left []string
	for _, dir := range root.GetPaths() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			// Ours, or left by a test host that died; not those of a
			// test binary running beside us.
			_, pid, start, ok := parseInstanceDir(e.Name())
			if e.Name() == fmt.Sprintf(".probe-%d", os.Getpid()) ||
				ok && strings.HasPrefix(e.Name(), testInstancePrefix) && (pid == os.Getpid() || !alive(pid, start)) {
				left = append(left, filepath.Join(dir, e.Name()))
			}
		}
	}
	return left
}

// helper is a test plugin. Its first act is recording its own affinity.
func helper(mode string, args []string) int {
	dir := args[0]
	write := func(name, data string) {
		tmp := filepath.Join(dir, name+".tmp")
		os.WriteFile(tmp, []byte(data), 0o644)
		os.Rename(tmp, filepath.Join(dir, name)) // readers never see half a file
	}
	record := func(name string) {
		st, _ := os.ReadFile("/proc/self/status")
		nm, _ := os.ReadFile("/proc/self/numa_maps")
		write(name, fmt.Sprintf("%s\n%s\nPid:%d\n--- numa_maps\n%s", statusField(st, "Cpus_allowed_list"), statusField(st, "Mems_allowed_list"), os.Getpid(), nm))
	}
	self, _ := os.Executable()
	switch mode {
	case "record": // record, fork a child that records too, then wait to be killed
		record("plugin")
		write("env", strings.Join(os.Environ(), "\n"))
		c := exec.Command(self, "helper", "child", dir)
		if err := c.Start(); err != nil {
			write("error", err.Error())
			return 1
		}
		select {}
	case "child":
		record("child")
		select {}
	case "tree": // a child that leaves our session, then wait to be killed
		c := exec.Command(self, "helper", "sleep", dir)
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Start(); err != nil {
			write("error", err.Error())
			return 1
		}
		write("tree", fmt.Sprintf("%d %d", os.Getpid(), c.Process.Pid))
		select {}
	case "sleep":
		select {}
	case "exit":
		return 0
	case "readonly": // in a private mount namespace: cgroupfs read-only, then ask
		const ro = unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY
		for _, d := range []string{"/sys/fs/cgroup/cpuset", "/sys/fs/cgroup"} {
			if err := unix.Mount("", d, "", ro, ""); err != nil {
				write("error", fmt.Sprintf("remount %s read-only: %v", d, err))
				return 1
			}
		}
		write("available", fmt.Sprint(Available()))
		return 0
	case "host": // a host that starts a confined plugin, then waits to be SIGKILLed
		m, err := NewManager(testInstancePrefix+"-host", hclog.NewNullLogger(), false)
		if err != nil {
			write("error", err.Error())
			return 1
		}
		cg, err := m.Prepare(Spec{ProcessorID: "pc1.0", Plugin: self, Args: []string{"helper", "sleep", dir}})
		if err != nil {
			write("error", err.Error())
			return 1
		}
		cmd := cg.Command()
		if err := cmd.Start(); err != nil {
			write("error", err.Error())
			return 1
		}
		write("host", fmt.Sprintf("%d %s", cmd.Process.Pid, m.Instance()))
		select {}
	}
	return 2
}

// statusField returns the line of /proc/self/status naming field.
func statusField(status []byte, field string) string {
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, field+":") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return field + ": (missing)"
}
