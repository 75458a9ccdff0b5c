//go:build linux

package confine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"k8s.io/utils/cpuset"
)

// requireCgroups skips a test that needs real cgroups where they cannot
// be made; as root on a normal Linux machine (and in CI) it runs.
func requireCgroups(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to create cgroups (running as uid %d)", os.Geteuid())
	}
	if err := Available(); err != nil {
		t.Skipf("cannot create a throwaway cgroup here: %v", err)
	}
}

// newManager returns a manager for this test, closed (and checked to have
// removed its cgroup) when the test ends.
func newManager(t *testing.T, unconfined bool) *Manager {
	t.Helper()
	name := testInstancePrefix + "-" + regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(t.Name(), "_")
	m, err := NewManager(name, hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug}), unconfined)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var paths map[string]string
		if m.inst != nil {
			paths = copyMap(m.inst.GetPaths()) // Destroy empties the manager's own map
		}
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("cgroup %s still exists after Close", p)
			}
		}
		if _, err := os.Stat(m.tmp); err == nil {
			t.Errorf("temporary directory %s still exists after Close", m.tmp)
		}
	})
	return m
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// helperSpec is a Spec running this test binary as a helper plugin.
func helperSpec(t *testing.T, mode, dir string) Spec {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{ProcessorID: "pc1.0", Where: "config.hcl:30", Plugin: self, Args: []string{"helper", mode, dir}, InheritEnv: true}
}

// proc is a started command reaped in the background (a killed plugin
// must not stay a zombie): done closes when it ended, err is Wait's.
type proc struct {
	done chan struct{}
	err  error
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	// A file, not a pipe: Wait would otherwise wait for every descendant
	// holding the pipe, and killing those is what is under test.
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitFile waits up to 10 s for a helper to write dir/name.
func waitFile(t *testing.T, dir, name string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, "error")); err == nil {
			t.Fatalf("helper failed: %s", b)
		}
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			return string(b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("helper did not write %s within 10 s", name)
	return ""
}

// gone reports whether pid no longer runs (a zombie has stopped running;
// pid 1 of a container may never reap it).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func TestConfinedFromFirstInstruction(t *testing.T) {
	requireCgroups(t)
	m := newManager(t, false)
	dir := t.TempDir()
	spec := helperSpec(t, "record", dir)
	spec.CPUs = cpuset.New(1)
	spec.Env = map[string]string{"SEALHOST_TEST": "processor"}
	spec.HostEnv = []string{"SEALHOST_TEST=host", "PATH=/usr/bin", "KEPT=1"}
	cg, err := m.Prepare(spec)
	if err != nil {
		t.Fatal(err)
	}
	start(t, cg.Command())
	_, mems := m.Allowed()
	wantMems := "Mems_allowed_list: " + mems.String()
	for _, who := range []string{"plugin", "child"} {
		rec := waitFile(t, dir, who)
		lines := strings.Split(rec, "\n")
		if lines[0] != "Cpus_allowed_list: 1" {
			t.Errorf("%s's first act saw %q, want Cpus_allowed_list: 1", who, lines[0])
		}
		if lines[1] != wantMems {
			t.Errorf("%s saw %q, want %q", who, lines[1], wantMems)
		}
	}
	env := strings.Split(waitFile(t, dir, "env"), "\n")
	want := map[string]bool{"SEALHOST_TEST=processor": true, "KEPT=1": true, "TMPDIR=" + cg.TempDir(): true}
	for _, kv := range env {
		if strings.HasPrefix(kv, shimEnv+"=") {
			t.Errorf("plugin sees the shim's spec: %s", kv)
		}
		delete(want, kv)
	}
	if len(want) > 0 {
		t.Errorf("plugin environment %q lacks %v", env, want)
	}
	if fi, err := os.Stat(cg.TempDir()); err != nil || !fi.IsDir() {
		t.Errorf("TMPDIR %s: %v", cg.TempDir(), err)
	}
	pids, err := cg.Pids()
	if err != nil || len(pids) != 2 {
		t.Errorf("Pids = %v, %v; want the plugin and its child", pids, err)
	}
}

func TestNUMAPreferred(t *testing.T) {
	requireCgroups(t)
	if _, err := os.Stat("/sys/devices/system/node/node0"); err != nil {
		t.Skip("this machine has no NUMA node 0")
	}
	m := newManager(t, false)
	dir := t.TempDir()
	spec := helperSpec(t, "record", dir)
	node := 0
	spec.NUMAPreferred = &node
	cg, err := m.Prepare(spec)
	if err != nil {
		t.Fatal(err)
	}
	start(t, cg.Command())
	for _, who := range []string{"plugin", "child"} {
		if rec := waitFile(t, dir, who); !strings.Contains(rec, " prefer:0 ") {
			t.Errorf("%s's numa_maps has no prefer:0:\n%s", who, rec)
		}
	}
}

// TestRefusedBeforeStart covers requests the host's cgroup cannot grant:
// they fail in Prepare, with the processor and config line, and leave no
// cgroup.
func TestRefusedBeforeStart(t *testing.T) {
	requireCgroups(t)
	m := newManager(t, false)
	cpus, mems := m.Allowed()
	seven, zero := 7, 0
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want []string
	}{
		{"cpu the cgroup cannot have", func(s *Spec) { s.CPUs = cpuset.New(1, 64) },
			[]string{"processor pc1.0 (config.hcl:30): cpuset 1,64 asks for cpus 64 that this host's cgroup cannot have (allowed: " + cpus.String() + "); change cpuset"}},
		{"missing NUMA node", func(s *Spec) { s.NUMAPreferred = &seven },
			[]string{"processor pc1.0 (config.hcl:30): numa_preferred = 7", "no NUMA node 7 (nodes: " + mems.String() + ")"}},
		{"sha256 mismatch", func(s *Spec) { s.SHA256 = strings.Repeat("ab", 32) },
			[]string{"processor pc1.0 (config.hcl:30)", "config pins " + strings.Repeat("ab", 32), "refusing to launch"}},
		{"plugin missing", func(s *Spec) { s.Plugin = "/nonexistent/plugin"; s.NUMAPreferred = &zero },
			[]string{"processor pc1.0 (config.hcl:30): plugin /nonexistent/plugin"}},
		{"relative plugin", func(s *Spec) { s.Plugin = "plugin" },
			[]string{"not absolute"}},
		{"bad processor id", func(s *Spec) { s.ProcessorID = "../x" },
			[]string{`processor id "../x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := helperSpec(t, "sleep", t.TempDir())
			tc.edit(&spec)
			cg, err := m.Prepare(spec)
			if err == nil {
				cg.Destroy()
				t.Fatal("Prepare succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			for _, p := range m.inst.GetPaths() {
				if ents, _ := os.ReadDir(p); hasDir(ents) {
					t.Errorf("a cgroup was created under %s", p)
				}
			}
		})
	}
}

func hasDir(ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}

// TestKillTree kills a plugin and a child that left its session: both
// gone, then Destroy leaves no directory.
func TestKillTree(t *testing.T) {
	requireCgroups(t)
	for _, tc := range []struct {
		name string
		kill func(*Cgroup) error
	}{
		{"Kill", (*Cgroup).Kill},
		{"freezer", func(c *Cgroup) error { return freezeKill(c.mgr, primaryPath(c.paths), c.m.log) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, false)
			dir := t.TempDir()
			cg, err := m.Prepare(helperSpec(t, "tree", dir))
			if err != nil {
				t.Fatal(err)
			}
			done := start(t, cg.Command())
			var plugin, detached int
			fmt.Sscan(waitFile(t, dir, "tree"), &plugin, &detached)
			if pids, _ := cg.Pids(); !containsAll(pids, plugin, detached) {
				t.Fatalf("Pids = %v, want %d and %d", pids, plugin, detached)
			}
			if err := tc.kill(cg); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done.done:
				var ee *exec.ExitError
				if err := done.err; !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Errorf("plugin ended with %v, want SIGKILL", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("plugin still running 2 s after Kill")
			}
			deadline := time.Now().Add(time.Second)
			for !gone(detached) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if !gone(detached) {
				t.Errorf("detached child %d survived Kill", detached)
			}
			if pids, err := cg.Pids(); len(pids) != 0 || err != nil {
				t.Errorf("Pids after Kill = %v, %v", pids, err)
			}
			paths := cg.Paths()
			if err := cg.Destroy(); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s exists after Destroy", p)
				}
			}
			if _, err := os.Stat(cg.TempDir()); err == nil {
				t.Errorf("TMPDIR %s exists after Destroy", cg.TempDir())
			}
		})
	}
}

func containsAll(pids []int, want ...int) bool {
	have := map[int]bool{}
	for _, p := range pids {
		have[p] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

func TestLimitsWritten(t *testing.T) {
	requireCgroups(t)
	m := newManager(t, false)
	spec := helperSpec(t, "sleep", t.TempDir())
	spec.CPUs = cpuset.New(1)
	spec.MemoryLimit = 64 << 20
	cg, err := m.Prepare(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := cg.Paths()
	_, mems := m.Allowed()
	for _, tc := range []struct{ dir, v1, v2, want string }{
		{p["cpuset"], "cpuset.cpus", "cpuset.cpus", "1"},
		{p["cpuset"], "cpuset.mems", "cpuset.mems", mems.String()},
		{p["memory"], "memory.limit_in_bytes", "memory.max", strconv.Itoa(64 << 20)},
	} {
		dir, file := tc.dir, tc.v1
		if cgroups.IsCgroup2UnifiedMode() {
			dir, file = p[""], tc.v2
		}
		got, err := cgroups.ReadFile(dir, file)
		if err != nil || strings.TrimSpace(got) != tc.want {
			t.Errorf("%s/%s = %q, %v; want %q", dir, file, got, err, tc.want)
		}
	}
}

// TestCleanStale simulates a host that died while its plugin ran: a
// cgroup named for a dead owner holding a live process.
func TestCleanStale(t *testing.T) {
	requireCgroups(t)
	// As in TestHostSIGKILL: a host started by another package's tests may
	// clean this fixture first.
	for attempt := 1; ; attempt++ {
		interfered := false
		t.Run(fmt.Sprintf("attempt%d", attempt), func(t *testing.T) { interfered = cleanStaleOnce(t) })
		if !interfered {
			return
		}
		if attempt == 3 {
			t.Fatal("another host cleaned this test's stale cgroup first, 3 times in a row")
		}
		t.Logf("attempt %d: another host cleaned the stale cgroup first; trying again", attempt)
	}
}

func cleanStaleOnce(t *testing.T) (interfered bool) {
	// A real dead owner: a process that ran and was reaped.
	dead := exec.Command("/bin/true")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := startTime(dead.Process.Pid)
	if err != nil {
		st = 1 // exited already: any start time names a dead process
	}
	dead.Wait()
	rel := filepath.Join(Root, fmt.Sprintf("%s-dead@%d.%d", testInstancePrefix, dead.Process.Pid, st), "pc2.0")
	mgr, err := manager.New(&cgroups.Cgroup{Path: rel, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Apply(-1); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	orphan := exec.Command(self, "helper", "sleep", t.TempDir())
	done := start(t, orphan)
	if err := mgr.Apply(orphan.Process.Pid); err != nil {
		t.Fatal(err)
	}

	m := newManager(t, false)
	found, err := m.CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	// Other dead hosts may be found too (a test run that was killed).
	var s Stale
	for _, f := range found {
		if f.Cgroup == filepath.Dir(rel) {
			s = f
		}
	}
	if s.Cgroup == "" && !cgroupExists(filepath.Dir(rel)) {
		return true
	}
	if s.Cgroup != filepath.Dir(rel) || s.OwnerPID != dead.Process.Pid || s.Instance != testInstancePrefix+"-dead" ||
		strings.Join(s.Processors, ",") != "pc2.0" || fmt.Sprint(s.Killed) != fmt.Sprint([]int{orphan.Process.Pid}) {
		t.Errorf("CleanStale reported %+v", s)
	}
	t.Log(s)
	select {
	case <-done.done:
	case <-time.After(2 * time.Second):
		t.Error("the stale cgroup's process survived CleanStale")
	}
	for _, p := range mgr.GetPaths() {
		if _, err := os.Stat(filepath.Dir(p)); err == nil {
			t.Errorf("%s exists after CleanStale", filepath.Dir(p))
		}
	}
	// Our own, live instance is not stale (dead hosts of other packages'
	// tests running meanwhile may be).
	again, err := m.CleanStale()
	if err != nil {
		t.Errorf("second CleanStale: %v", err)
	}
	for _, f := range again {
		if f.Cgroup == m.Instance() || f.Cgroup == filepath.Dir(rel) {
			t.Errorf("second CleanStale removed %v; want neither our live instance nor the one already cleaned", f)
		}
	}
	return false
}

// TestHostSIGKILL: a host that is SIGKILLed takes its plugin with it within
// a second, and the next host's CleanStale removes its cgroup.
func TestHostSIGKILL(t *testing.T) {
	requireCgroups(t)
	// Another package's tests may start a host meanwhile, whose own
	// CleanStale removes this dead host first; then try again.
	for attempt := 1; ; attempt++ {
		interfered := false
		t.Run(fmt.Sprintf("attempt%d", attempt), func(t *testing.T) { interfered = hostSIGKILL(t) })
		if !interfered {
			return
		}
		if attempt == 3 {
			t.Fatal("another host cleaned this test's dead host first, 3 times in a row")
		}
		t.Logf("attempt %d: another host cleaned the dead host first; trying again", attempt)
	}
}

// hostSIGKILL runs the scenario once. It reports true when someone else's
// CleanStale removed the dead host's cgroup before this test's could.
func hostSIGKILL(t *testing.T) (interfered bool) {
	dir := t.TempDir()
	self, _ := os.Executable()
	host := exec.Command(self, "helper", "host", dir)
	done := start(t, host)
	var plugin int
	var inst string
	fmt.Sscan(waitFile(t, dir, "host"), &plugin, &inst)
	m := newManager(t, false)
	// Even when the test fails, the dead host's cgroup must go.
	t.Cleanup(func() { m.CleanStale() })
	if gone(plugin) {
		t.Fatalf("plugin %d is not running", plugin)
	}
	host.Process.Signal(syscall.SIGKILL)
	<-done.done
	killed := time.Now()
	for !gone(plugin) && time.Since(killed) < time.Second {
		time.Sleep(time.Millisecond)
	}
	if !gone(plugin) {
		t.Fatalf("plugin %d still runs 1 s after its host was SIGKILLed", plugin)
	}
	t.Logf("plugin gone %v after its host's SIGKILL", time.Since(killed))
	// A dead plugin stays listed in its cgroup until its new parent reaps
	// it; the next host starts long after that, so wait for it here rather
	// than count the zombie as something CleanStale had to kill.
	for reaped := time.Now(); time.Since(reaped) < 2*time.Second; time.Sleep(time.Millisecond) {
		if _, err := os.Stat("/proc/" + strconv.Itoa(plugin)); err != nil {
			break
		}
	}

	found, err := m.CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	ok, seen := false, false
	for _, f := range found {
		if f.Cgroup == inst {
			ok, seen = len(f.Killed) == 0, true
		}
	}
	if !seen && !cgroupExists(inst) {
		return true
	}
	if !ok {
		t.Errorf("CleanStale = %v, want %s with nothing left to kill", found, inst)
	}
	if _, err := os.Stat(tempBase(filepath.Base(inst))); err == nil {
		t.Errorf("the dead host's temporary directory %s survived CleanStale", tempBase(filepath.Base(inst)))
	}
	return false
}

// cgroupExists reports whether the cgroup rel (relative to the host's own
// cgroups) still has a directory in any controller.
func cgroupExists(rel string) bool {
	mgr, err := manager.New(&cgroups.Cgroup{Path: rel, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return false
	}
	for _, p := range mgr.GetPaths() {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

func TestUnconfined(t *testing.T) {
	m := newManager(t, true)
	dir := t.TempDir()
	spec := helperSpec(t, "record", dir)
	spec.CPUs = cpuset.New(1)
	spec.MemoryLimit = 1 << 30
	cg, err := m.Prepare(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(cg.Paths()) != 0 {
		t.Errorf("unconfined processor has cgroups %v", cg.Paths())
	}
	done := start(t, cg.Command())
	for _, who := range []string{"plugin", "child"} {
		if rec := waitFile(t, dir, who); !strings.HasPrefix(rec, "Cpus_allowed_list: 1\n") {
			t.Errorf("%s's affinity: %q", who, rec)
		}
	}
	if pids, err := cg.Pids(); err != nil || len(pids) != 2 {
		t.Errorf("Pids = %v, %v; want plugin and child", pids, err)
	}
	if err := cg.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done.done:
	case <-time.After(2 * time.Second):
		t.Fatal("unconfined plugin survived Kill")
	}
	if _, err := m.Prepare(Spec{ProcessorID: "x", Plugin: spec.Plugin, CPUs: cpuset.New(1, 999)}); err == nil ||
		!strings.Contains(err.Error(), "cpus 999 that this machine does not have online") {
		t.Errorf("cpu 999 unconfined: %v", err)
	}
}

func TestAvailable(t *testing.T) {
	err := Available()
	if os.Geteuid() == 0 {
		if err != nil {
			t.Skipf("as root, confinement is unavailable here: %v", err)
		}
		return
	}
	t.Logf("as uid %d: %v", os.Geteuid(), err)
	if err == nil || !strings.Contains(err.Error(), "confine = false") {
		t.Errorf("Available as uid %d = %v, want a reason and the opt-out", os.Geteuid(), err)
	}
}

func TestShimRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no plugin", []string{"--"}},
		{"no separator", []string{"/bin/true"}},
		{"no spec", []string{"--", "/bin/true"}}, // must not exec without its spec
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := RunShim(tc.args); code != 126 {
				t.Errorf("RunShim(%q) = %d, want 126", tc.args, code)
			}
		})
	}
}

// TestAvailableReadOnly: a read-only cgroup filesystem (as in many
// containers) is named as the reason. The helper remounts it read-only in
// its own mount namespace, which Go makes private before the helper runs,
// so this machine's mounts are untouched.
func TestAvailableReadOnly(t *testing.T) {
	requireCgroups(t)
	dir := t.TempDir()
	self, _ := os.Executable()
	cmd := exec.Command(self, "helper", "readonly", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if out, err := cmd.CombinedOutput(); err != nil {
		if b, _ := os.ReadFile(filepath.Join(dir, "error")); len(b) > 0 {
			t.Skipf("cannot make a read-only cgroup filesystem here: %s", b)
		}
		t.Fatalf("helper: %v\n%s", err, out)
	}
	got := waitFile(t, dir, "available")
	if !strings.Contains(got, "cgroup filesystem is read-only") || !strings.Contains(got, "confine = false") {
		t.Errorf("Available on a read-only cgroupfs = %q", got)
	}
	if err := Available(); err != nil {
		t.Errorf("this machine's cgroupfs was changed: %v", err)
	}
}

// TestCloseLeavesOnlyTheTopFolder is what README's "Run the host" promises
// about cleanup: once a host's Manager is closed, its instance folder is
// gone from every hierarchy, and the shared top-level sealhost folder stays
// (like a systemd slice), so its presence alone is no leak.
func TestCloseLeavesOnlyTheTopFolder(t *testing.T) {
	requireCgroups(t)
	m := newManager(t, false)
	cg, err := m.Prepare(helperSpec(t, "sleep", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	paths := cg.Paths()
	if len(paths) == 0 {
		t.Fatal("no cgroup paths")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for ctl, p := range paths {
		// p is .../sealhost/<instance>/<processor>.
		instance := filepath.Dir(p)
		top := filepath.Dir(instance)
		if filepath.Base(top) != "sealhost" {
			t.Fatalf("%s: %s is not under a sealhost folder", ctl, p)
		}
		if _, err := os.Stat(instance); !os.IsNotExist(err) {
			t.Errorf("%s: instance folder %s still there after Close (%v)", ctl, instance, err)
		}
		if st, err := os.Stat(top); err != nil || !st.IsDir() {
			t.Errorf("%s: the top-level folder %s is gone (%v); it is meant to stay", ctl, top, err)
		}
	}
}
