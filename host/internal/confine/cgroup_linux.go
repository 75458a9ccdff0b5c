package confine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"k8s.io/utils/cpuset"
)

// Cgroup is one processor's confinement: its cgroup (absent when
// unconfined), environment and TMPDIR. Start its plugin with Command; stop
// it with Kill and Destroy.
type Cgroup struct {
	m      *Manager
	spec   Spec
	cpus   cpuset.CPUSet
	tmpdir string
	env    []string
	mgr    cgroups.Manager // nil when unconfined
	paths  map[string]string

	mu   sync.Mutex
	cmds []*exec.Cmd // unconfined only: started shims lead their process groups
}

// create makes the processor's cgroup and writes its limits.
func (c *Cgroup) create() error {
	mems := c.m.mems
	res := &cgroups.Resources{
		CpusetCpus:  c.cpus.String(),
		CpusetMems:  mems.String(),
		SkipDevices: true,
	}
	if c.spec.MemoryLimit > 0 {
		res.Memory = int64(c.spec.MemoryLimit)
	}
	rel := filepath.Join(c.m.dir, c.spec.ProcessorID)
	mgr, err := manager.New(&cgroups.Cgroup{Path: rel, Resources: res})
	if err != nil {
		return c.spec.errorf("cgroup %s: %v", rel, err)
	}
	if err := mgr.Apply(-1); err != nil {
		mgr.Destroy()
		return c.spec.errorf("creating cgroup %s: %v", rel, err)
	}
	c.mgr = mgr
	c.paths = copyMap(mgr.GetPaths()) // Destroy empties the manager's map
	// The manager lists devices even with SkipDevices, but never creates
	// that directory: the shim must not try to join it.
	delete(c.paths, "devices")
	// A leftover from an earlier plugin of this processor (same instance)
	// must not share the cgroup with the new one.
	if pids, _ := c.Pids(); len(pids) > 0 {
		c.m.log.Warn("killing leftover processes in a reused cgroup", "processor", c.spec.ProcessorID, "pids", pids)
		if err := killAll(mgr, c.m.log); err != nil {
			return c.spec.errorf("%v", err)
		}
	}
	if err := mgr.Set(res); err != nil {
		mgr.Destroy()
		return c.spec.errorf("writing limits of cgroup %s (cpus %s, mems %s, memory %d): %v",
			rel, res.CpusetCpus, res.CpusetMems, res.Memory, err)
	}
	return nil
}

// Paths returns the cgroup's directories by controller ("" is the v2 or
// hybrid unified directory); empty when unconfined.
func (c *Cgroup) Paths() map[string]string {
	return copyMap(c.paths)
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Memory reads the cgroup's OOM-kill count, limit and peak (Known false
// when unconfined).
func (c *Cgroup) Memory() Memory {
	if c.mgr == nil {
		return Memory{}
	}
	v1 := c.paths["memory"]
	if v1 == "" {
		return readMemory("", c.paths[""])
	}
	return readMemory(v1, "")
}

// CPUs is the cpuset the plugin runs on.
func (c *Cgroup) CPUs() cpuset.CPUSet { return c.cpus }

// TempDir is the processor's TMPDIR.
func (c *Cgroup) TempDir() string { return c.tmpdir }

// Env is the plugin's complete environment (see BuildEnv).
func (c *Cgroup) Env() []string { return append([]string(nil), c.env...) }

// Command returns a command that starts the plugin through the shim: the
// host binary (/proc/self/exe, so an upgrade of the file on disk cannot
// change it) with ShimCommand, which joins the cgroup, sets the memory
// policy and parent-death signal and then execs the plugin. Env is
// complete: use go-plugin's SkipHostEnv. Each call returns a new command,
// so a restarted plugin can use the same Cgroup.
//
// The parent-death signal fires when the OS thread that started the
// command exits, not the host process. The Go runtime only ends a thread
// when a goroutine locked to it with runtime.LockOSThread returns without
// unlocking: never call Start from such a goroutine.
func (c *Cgroup) Command() *exec.Cmd {
	s := shimSpec{
		HostPID:   os.Getpid(),
		Processor: c.spec.ProcessorID,
		Paths:     c.paths,
		NUMA:      c.spec.NUMAPreferred,
	}
	if c.m.unconfined {
		s.Affinity = c.cpus.List()
	}
	js, _ := json.Marshal(s) // plain data: cannot fail
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: append([]string{c.m.exe, ShimCommand, "--", c.spec.Plugin}, c.spec.Args...),
		Env:  append(c.Env(), shimEnv+"="+string(js)),
		SysProcAttr: &syscall.SysProcAttr{
			// Armed between fork and exec of the shim, before the shim
			// runs a single instruction; the shim checks getppid again.
			Pdeathsig: syscall.SIGKILL,
			// Without a cgroup, the process group is the only handle on
			// the plugin's children.
			Setpgid: c.m.unconfined,
		},
	}
	if c.m.unconfined {
		c.mu.Lock()
		c.cmds = append(c.cmds, cmd)
		c.mu.Unlock()
	}
	return cmd
}

// Pids lists every process in the processor's cgroup, including children
// that left the plugin's session. Unconfined, it lists the members of the
// started plugins' process groups (call it after Start returned).
func (c *Cgroup) Pids() ([]int, error) {
	if c.mgr == nil {
		return c.groupPids()
	}
	pids, err := cgroups.GetAllPids(primaryPath(c.paths))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return pids, err
}

// Kill SIGKILLs every process in the cgroup and waits (up to 5 s) until
// the cgroup is empty. Graceful shutdown is the caller's business, before.
// Processes that are the host's own children stay zombies until the
// caller waits for them; they are no longer in the cgroup.
func (c *Cgroup) Kill() error {
	if c.mgr == nil {
		return c.killGroups()
	}
	if err := killAll(c.mgr, c.m.log); err != nil {
		return c.spec.errorf("%v", err)
	}
	return nil
}

// Destroy kills whatever is left and removes the cgroup and the TMPDIR.
func (c *Cgroup) Destroy() error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.m.groups[c.spec.ProcessorID] == c {
		delete(c.m.groups, c.spec.ProcessorID)
	}
	return c.destroy()
}

func (c *Cgroup) destroy() error {
	var errs []error
	if err := c.Kill(); err != nil {
		errs = append(errs, err)
	}
	if c.mgr != nil {
		if err := c.mgr.Destroy(); err != nil {
			errs = append(errs, c.spec.errorf("removing its cgroup: %v", err))
		}
	}
	if err := os.RemoveAll(c.tmpdir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killAll empties a cgroup (and its sub-cgroups): at once with cgroup.kill
// where the kernel has it (v2, and the unified directory of hybrid
// systems, since Linux 5.14), otherwise by freezing it so that nothing can
// fork while every pid gets SIGKILL, then thawing so they die.
func killAll(mgr cgroups.Manager, log hclog.Logger) error {
	paths := mgr.GetPaths()
	list := primaryPath(paths)
	if list == "" {
		return nil
	}
	if u := paths[""]; u != "" {
		if err := cgroups.WriteFile(u, "cgroup.kill", "1"); err == nil {
			if waitEmpty(list, 2*time.Second) {
				return nil
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			log.Debug("cgroup.kill failed, using the freezer", "cgroup", u, "error", err)
		}
	}
	return freezeKill(mgr, list, log)
}

// freezeKill is killAll without cgroup.kill.
func freezeKill(mgr cgroups.Manager, list string, log hclog.Logger) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := cgroups.GetAllPids(list)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing processes of %s: %w", list, err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes %v after SIGKILL", list, pids)
		}
		frozen := mgr.Path("freezer") != "" || cgroups.IsCgroup2UnifiedMode()
		if frozen {
			if err := mgr.Freeze(cgroups.Frozen); err != nil {
				log.Debug("freezing failed, killing unfrozen", "cgroup", list, "error", err)
				frozen = false
			} else if pids, err = cgroups.GetAllPids(list); err != nil {
				pids = nil
			}
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if frozen {
			_ = mgr.Freeze(cgroups.Thawed)
		}
		waitEmpty(list, 200*time.Millisecond)
	}
}

// waitEmpty polls until the cgroup at dir (and below) has no process.
func waitEmpty(dir string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		pids, err := cgroups.GetAllPids(dir)
		if err != nil || len(pids) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupPids lists the members of the process groups led by started shims.
func (c *Cgroup) groupPids() ([]int, error) {
	leaders := map[int]bool{}
	c.mu.Lock()
	for _, cmd := range c.cmds {
		if cmd.Process != nil {
			leaders[cmd.Process.Pid] = true
		}
	}
	c.mu.Unlock()
	if len(leaders) == 0 {
		return nil, nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		// f[0] is the state, f[2] the process group.
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if pg, err := strconv.Atoi(f[2]); err == nil && leaders[pg] {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killGroups SIGKILLs the process groups of started shims.
func (c *Cgroup) killGroups() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range c.cmds {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	c.cmds = nil
	return nil
}
