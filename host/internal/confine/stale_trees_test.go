//go:build linux

package confine

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/opencontainers/cgroups"
)

// TestCleanStaleAcrossCgroupTrees: a host that died while it ran in other
// cgroups than this one (here: below a parent cgroup of its own in every
// hierarchy, cgroup v1 controllers, name=systemd and the v2 hierarchy
// alike) left its instance there with a live process in it. CleanStale
// finds it in every hierarchy, kills the process, removes every directory
// and logs each path it removed. Before, it looked only below this host's
// own cgroup and left them all ("no stale cgroups found").
func TestCleanStaleAcrossCgroupTrees(t *testing.T) {
	requireCgroups(t)
	for attempt := 1; ; attempt++ {
		interfered := false
		t.Run(fmt.Sprintf("attempt%d", attempt), func(t *testing.T) { interfered = cleanStaleElsewhereOnce(t) })
		if !interfered {
			return
		}
		if attempt == 3 {
			t.Fatal("another host cleaned this test's stale cgroups first, 3 times in a row")
		}
		t.Logf("attempt %d: another host cleaned the stale cgroups first; trying again", attempt)
	}
}

func cleanStaleElsewhereOnce(t *testing.T) (interfered bool) {
	hs, err := hierarchies("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("/bin/true")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := startTime(dead.Process.Pid)
	if err != nil {
		st = 1
	}
	dead.Wait()
	name := fmt.Sprintf("%s-elsewhere@%d.%d", testInstancePrefix, dead.Process.Pid, st)
	other := fmt.Sprintf("%s-other-%d", testInstancePrefix, os.Getpid())

	self, _ := os.Executable()
	orphan := exec.Command(self, "helper", "sleep", t.TempDir())
	done := start(t, orphan)

	var want []string // the directories CleanStale must remove, deepest first
	var made []string // the parents this test made, removed at the end
	for _, h := range hs {
		parent := filepath.Join(h.mount, other)
		proc := filepath.Join(parent, Root, name, "pc1.0")
		for _, d := range []string{parent, filepath.Join(parent, Root), filepath.Dir(proc), proc} {
			if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
				t.Fatalf("making the fixture %s: %v", d, err)
			}
			if slices.Contains(h.keys, "cpuset") {
				// A v1 cpuset takes no process before it has cpus and mems.
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					v, _ := cgroups.ReadFile(filepath.Dir(d), f)
					if err := cgroups.WriteFile(d, f, strings.TrimSpace(v)); err != nil {
						t.Fatalf("%s/%s: %v", d, f, err)
					}
				}
			}
		}
		made = append(made, filepath.Join(parent, Root), parent)
		if err := cgroups.WriteFile(proc, "cgroup.procs", strconv.Itoa(orphan.Process.Pid)); err != nil {
			t.Fatalf("putting the orphan into %s: %v", proc, err)
		}
		want = append(want, proc, filepath.Dir(proc))
	}
	t.Cleanup(func() {
		// Whatever CleanStale left (when it fails): the orphan first,
		// then the directories, deepest first.
		orphan.Process.Kill()
		<-done.done
		for _, d := range append(append([]string(nil), want...), made...) {
			os.Remove(d)
		}
	})
	wantRemoved := append([]string(nil), want...)
	slices.SortFunc(wantRemoved, func(a, b string) int {
		if da, db := strings.Count(a, "/"), strings.Count(b, "/"); da != db {
			return db - da
		}
		return strings.Compare(a, b)
	})

	// NewManager and CleanStale log from this goroutine only.
	var log bytes.Buffer
	m, err := NewManager(testInstancePrefix+"-trees", hclog.New(&hclog.LoggerOptions{Output: &log, Level: hclog.Info}), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	found, err := m.CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	var s Stale
	for _, f := range found {
		if f.Cgroup == filepath.Join(Root, name) {
			s = f
		}
	}
	if s.Cgroup == "" {
		if _, err := os.Stat(want[1]); os.IsNotExist(err) {
			return true
		}
		t.Fatalf("CleanStale did not find the instance made elsewhere (%v); it found %v\nlog:\n%s", want, found, log.String())
	}
	t.Log(s)
	if s.OwnerPID != dead.Process.Pid || strings.Join(s.Processors, ",") != "pc1.0" || fmt.Sprint(s.Killed) != fmt.Sprint([]int{orphan.Process.Pid}) {
		t.Errorf("CleanStale reported %+v", s)
	}
	if !slices.Equal(s.Removed, wantRemoved) || len(s.Left) > 0 {
		t.Errorf("removed %v, left %v; want removed %v", s.Removed, s.Left, wantRemoved)
	}
	select {
	case <-done.done:
	case <-time.After(2 * time.Second):
		t.Error("the stale cgroups' process survived CleanStale")
	}
	for _, d := range want {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s exists after CleanStale", d)
		}
		// The log names every directory it removed.
		if !strings.Contains(log.String(), d) {
			t.Errorf("the log does not name %s:\n%s", d, log.String())
		}
	}
	if len(hs) < 2 {
		t.Logf("only %d cgroup hierarchies here", len(hs))
	}
	return false
}

func TestParseMountinfo(t *testing.T) {
	const hybrid = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
37 31 0:32 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
38 31 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,memory
90 25 0:33 / /mnt/again\040memory rw,relatime - cgroup cgroup rw,memory
91 25 0:34 / /mnt/odd\040dir rw,relatime - cgroup cgroup rw,pids`
	for _, tc := range []struct {
		name, in string
		want     []hierarchy
	}{
		{"hybrid, a hierarchy mounted twice, an escaped space", hybrid, []hierarchy{
			{"/sys/fs/cgroup/unified", []string{""}},
			{"/sys/fs/cgroup/systemd", []string{"name=systemd"}},
			{"/sys/fs/cgroup/cpu,cpuacct", []string{"cpu", "cpuacct"}},
			{"/sys/fs/cgroup/cpuset", []string{"cpuset"}},
			{"/sys/fs/cgroup/memory", []string{"memory"}},
			{"/mnt/odd dir", []string{"pids"}},
		}},
		{"pure v2", "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot", []hierarchy{{"/sys/fs/cgroup", []string{""}}}},
		{"garbage", "not mountinfo\n - \n1 2 3 4 5 - cgroup\n1 2 3 4 rel - cgroup2 x rw", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseMountinfo(tc.in)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parseMountinfo =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// FuzzParseMountinfo: any text parses without a panic into absolute
// mount points with at least one key each, every hierarchy once.
func FuzzParseMountinfo(f *testing.F) {
	f.Add("32 31 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n36 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct")
	f.Add(`1 2 3 / /a\040b\1 rw - cgroup c rw,name=x,memory`)
	f.Add(" - - - ")
	f.Fuzz(func(t *testing.T, text string) {
		seen := map[string]bool{}
		for _, h := range parseMountinfo(text) {
			id := strings.Join(h.keys, ",")
			if !filepath.IsAbs(h.mount) || len(h.keys) == 0 || seen[id] {
				t.Fatalf("bad hierarchy %+v from %q", h, text)
			}
			seen[id] = true
		}
	})
}
