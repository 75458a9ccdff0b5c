//go:build !linux

package confine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"k8s.io/utils/cpuset"
)

// Outside Linux there are no cgroups, memory policies or parent-death
// signals: only the unconfined mode exists, so that a host can be tried
// out (`confine = false`) on a laptop. Plugins start directly, without the
// shim, in their own process group.

const ShimCommand = "confine-shim"

const Root = "sealhost"

func RunShim([]string) int {
	fmt.Fprintf(os.Stderr, "sealhost confine shim: only Linux confines plugins\n")
	return 126
}

func Available() error {
	return fmt.Errorf("cgroup confinement unavailable: cgroups exist only on Linux (this is %s); set `confine = false` at the top of the config to run plugins unconfined", runtime.GOOS)
}

type Stale struct {
	Cgroup, Instance string
	OwnerPID         int
	Processors       []string
	Killed           []int
	Removed, Left    []string
}

type Manager struct {
	log    hclog.Logger
	tmp    string
	mu     sync.Mutex
	groups map[string]*Cgroup
}

func NewManager(instance string, log hclog.Logger, unconfined bool) (*Manager, error) {
	if !unconfined {
		return nil, Available()
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if !validName.MatchString(instance) {
		return nil, fmt.Errorf("host instance name %q: use only letters, digits, '_', '.' and '-'", instance)
	}
	tmp, err := os.MkdirTemp("", "sealhost-"+instance+"-")
	if err != nil {
		return nil, err
	}
	m := &Manager{log: log.Named("confine"), tmp: tmp, groups: map[string]*Cgroup{}}
	m.log.Warn("UNCONFINED: plugins run WITHOUT cgroups (confine = false; " + runtime.GOOS + " has none): cpusets, numa_preferred and memory limits are ignored, and plugins outlive a crashed host")
	return m, nil
}

func (m *Manager) Instance() string                    { return "" }
func (m *Manager) Unconfined() bool                    { return true }
func (m *Manager) Allowed() (cpus, mems cpuset.CPUSet) { return cpuset.New(), cpuset.New() }
func (m *Manager) CleanStale() ([]Stale, error)        { return nil, nil }

func (m *Manager) Prepare(spec Spec) (*Cgroup, error) {
	if !validName.MatchString(spec.ProcessorID) {
		return nil, fmt.Errorf("processor id %q: use only letters, digits, '_', '.' and '-'", spec.ProcessorID)
	}
	if spec.SHA256 != "" {
		if err := VerifySHA256(spec.Plugin, spec.SHA256); err != nil {
			return nil, spec.errorf("%v", err)
		}
	}
	tmpdir := filepath.Join(m.tmp, spec.ProcessorID)
	if err := os.MkdirAll(tmpdir, 0o700); err != nil {
		return nil, spec.errorf("creating its TMPDIR: %v", err)
	}
	host := spec.HostEnv
	if host == nil {
		host = os.Environ()
	}
	c := &Cgroup{m: m, spec: spec, tmpdir: tmpdir, env: BuildEnv(host, spec.InheritEnv, spec.Env, tmpdir)}
	m.mu.Lock()
	m.groups[spec.ProcessorID] = c
	m.mu.Unlock()
	return c, nil
}

func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, c := range m.groups {
		errs = append(errs, c.Kill())
	}
	errs = append(errs, os.RemoveAll(m.tmp))
	return errors.Join(errs...)
}

type Cgroup struct {
	m      *Manager
	spec   Spec
	tmpdir string
	env    []string
	mu     sync.Mutex
	cmds   []*exec.Cmd
}

func (c *Cgroup) Paths() map[string]string { return map[string]string{} }
func (c *Cgroup) Memory() Memory           { return Memory{} }
func (c *Cgroup) CPUs() cpuset.CPUSet      { return c.spec.CPUs }
func (c *Cgroup) TempDir() string          { return c.tmpdir }
func (c *Cgroup) Env() []string            { return append([]string(nil), c.env...) }

func (c *Cgroup) Command() *exec.Cmd {
	cmd := exec.Command(c.spec.Plugin, c.spec.Args...)
	cmd.Env = c.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd)
	c.mu.Unlock()
	return cmd
}

func (c *Cgroup) Pids() ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pids []int
	for _, cmd := range c.cmds {
		if cmd.Process != nil && cmd.ProcessState == nil {
			pids = append(pids, cmd.Process.Pid)
		}
	}
	return pids, nil
}

func (c *Cgroup) Kill() error {
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

func (c *Cgroup) Destroy() error {
	c.m.mu.Lock()
	if c.m.groups[c.spec.ProcessorID] == c {
		delete(c.m.groups, c.spec.ProcessorID)
	}
	c.m.mu.Unlock()
	return errors.Join(c.Kill(), os.RemoveAll(c.tmpdir))
}
