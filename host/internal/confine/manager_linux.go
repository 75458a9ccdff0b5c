package confine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
	"k8s.io/utils/cpuset"
)

// Root is the cgroup directory, below the host's own cgroup in every
// controller, that holds one directory per running host instance.
const Root = "sealhost"

// Manager creates and removes the cgroups of one host instance's
// processors. Its cgroups live in Root/<instance>@<pid>.<start>/<processor>:
// the instance name tells an operator which host made them, the pid and
// its start time (clock ticks since boot, from /proc/<pid>/stat) let a later
// host tell a dead owner from a live one even after pid reuse.
type Manager struct {
	instance   string
	log        hclog.Logger
	unconfined bool
	exe        string // argv[0] of shims, for ps; the binary run is /proc/self/exe

	dir  string          // relative cgroup path of this instance
	inst cgroups.Manager // the instance directory, nil when unconfined
	tmp  string          // parent of the processors' TMPDIRs

	// base cpus and mems: what the host's own cgroup may use.
	cpus, mems cpuset.CPUSet

	mu     sync.Mutex
	groups map[string]*Cgroup
	closed bool
}

// NewManager prepares confinement for one host instance. instance should
// identify the host to an operator (a name flag, or a hash of the config
// file) and may contain letters, digits, '_', '.' and '-'.
//
// With unconfined false it fails, saying why, when cgroups cannot be used
// (see Available). With unconfined true no cgroup is made: plugins still
// get their memory policy, cpu affinity (which they could undo) and
// parent-death signal, and the log says loudly that they are not confined.
func NewManager(instance string, log hclog.Logger, unconfined bool) (*Manager, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if !validName.MatchString(instance) {
		return nil, fmt.Errorf("host instance name %q: use only letters, digits, '_', '.' and '-' (it names a cgroup)", instance)
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "sealhost"
	}
	start, err := startTime(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("reading this host's start time: %w", err)
	}
	name := fmt.Sprintf("%s@%d.%d", instance, os.Getpid(), start)
	m := &Manager{
		instance:   instance,
		log:        log.Named("confine"),
		unconfined: unconfined,
		exe:        exe,
		dir:        filepath.Join(Root, name),
		tmp:        tempBase(name),
		groups:     map[string]*Cgroup{},
	}
	// Mkdir, not MkdirAll: the name is predictable, so an existing one
	// is not ours to use.
	if err := os.Mkdir(m.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating the processors' temporary directories: %w", err)
	}
	if unconfined {
		m.log.Warn("UNCONFINED: plugins run WITHOUT cgroups (confine = false): cpusets are only cpu affinity a plugin can undo, memory limits are not applied, and a plugin's children can outlive it")
		m.cpus, err = onlineSet("/sys/devices/system/cpu/online")
		if err == nil {
			m.mems, err = onlineSet("/sys/devices/system/node/online")
			if errors.Is(err, os.ErrNotExist) { // a kernel without NUMA
				m.mems, err = cpuset.New(0), nil
			}
		}
		if err != nil {
			os.RemoveAll(m.tmp)
			return nil, err
		}
		return m, nil
	}
	if err := Available(); err != nil {
		os.RemoveAll(m.tmp)
		return nil, err
	}
	if err := m.createInstance(); err != nil {
		os.RemoveAll(m.tmp)
		return nil, err
	}
	m.log.Info("confining plugins", "cgroup", m.dir, "cpus", m.cpus.String(), "mems", m.mems.String())
	return m, nil
}

// createInstance makes this instance's cgroup directory and learns what
// cpus and memory nodes the host's own cgroup allows.
func (m *Manager) createInstance() error {
	inst, err := manager.New(&cgroups.Cgroup{Path: m.dir, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", m.dir, err)
	}
	if err := inst.Apply(-1); err != nil {
		return fmt.Errorf("creating cgroup %s: %w", m.dir, err)
	}
	m.inst = inst
	dir := primaryPath(inst.GetPaths())
	base := filepath.Dir(filepath.Dir(dir)) // the host's own cgroup
	m.cpus, m.mems, err = effective(base)
	if err != nil {
		inst.Destroy()
		return err
	}
	if !cgroups.IsCgroup2UnifiedMode() {
		// On v1 a new cpuset copies its parent's cpus once, when made. A
		// Root made earlier, while the host's cgroup had fewer cpus, would
		// silently narrow every processor: widen Root and the instance to
		// what the base allows now.
		for _, d := range []string{filepath.Dir(dir), dir} {
			for file, set := range map[string]cpuset.CPUSet{"cpuset.cpus": m.cpus, "cpuset.mems": m.mems} {
				cur, _ := cgroups.ReadFile(d, file)
				if strings.TrimSpace(cur) == set.String() {
					continue
				}
				if err := cgroups.WriteFile(d, file, set.String()); err != nil {
					m.log.Warn("cannot widen cgroup to the host's cgroup", "cgroup", d, "file", file, "want", set.String(), "error", err)
				}
			}
		}
	}
	return nil
}

// Instance returns the relative cgroup path of this host instance
// ("sealhost/<instance>@<pid>.<start>").
func (m *Manager) Instance() string { return m.dir }

// Unconfined reports whether the manager runs plugins without cgroups.
func (m *Manager) Unconfined() bool { return m.unconfined }

// Allowed returns the cpus and NUMA nodes processors may ask for: those of
// the host's own cgroup (or, unconfined, those online).
func (m *Manager) Allowed() (cpus, mems cpuset.CPUSet) { return m.cpus, m.mems }

// Prepare checks spec against what the host may use and creates the
// processor's cgroup with its limits written, before anything starts. It
// fails with an error naming the processor and spec.Where. A cgroup left
// by an earlier run of the same processor in this instance is emptied and
// reused, so a restarted plugin never shares it with a leftover child.
func (m *Manager) Prepare(spec Spec) (*Cgroup, error) {
	if !validName.MatchString(spec.ProcessorID) {
		return nil, fmt.Errorf("processor id %q: use only letters, digits, '_', '.' and '-' (it names a cgroup)", spec.ProcessorID)
	}
	if !filepath.IsAbs(spec.Plugin) {
		return nil, spec.errorf("plugin path %q is not absolute", spec.Plugin)
	}
	if st, err := os.Stat(spec.Plugin); err != nil {
		return nil, spec.errorf("plugin %s: %v", spec.Plugin, err)
	} else if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return nil, spec.errorf("plugin %s is not an executable file; chmod +x it or fix the path", spec.Plugin)
	}
	if spec.SHA256 != "" {
		if err := VerifySHA256(spec.Plugin, spec.SHA256); err != nil {
			return nil, spec.errorf("%v", err)
		}
	}
	cpus := spec.CPUs
	if cpus.IsEmpty() {
		cpus = m.cpus
	}
	if !cpus.IsSubsetOf(m.cpus) {
		what := "this host's cgroup cannot have"
		fix := "run the host in a cgroup that has them"
		if m.unconfined {
			what, fix = "this machine does not have online", "bring them online"
		}
		return nil, spec.errorf("cpuset %s asks for cpus %s that %s (allowed: %s); change cpuset or %s",
			cpus, cpus.Difference(m.cpus), what, m.cpus, fix)
	}
	if n := spec.NUMAPreferred; n != nil && !m.mems.Contains(*n) {
		if _, err := os.Stat(fmt.Sprintf("/sys/devices/system/node/node%d", *n)); err != nil {
			return nil, spec.errorf("numa_preferred = %d: this machine has no NUMA node %d (nodes: %s); pick one of them or remove numa_preferred", *n, *n, m.mems)
		}
		return nil, spec.errorf("numa_preferred = %d names a NUMA node this host's cgroup cannot use (allowed: %s); pick one of them or run the host in a cgroup that has it", *n, m.mems)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, spec.errorf("confinement manager is closed")
	}
	if old := m.groups[spec.ProcessorID]; old != nil {
		if err := old.destroy(); err != nil {
			return nil, spec.errorf("removing its previous cgroup: %v", err)
		}
		delete(m.groups, spec.ProcessorID)
	}
	tmpdir := filepath.Join(m.tmp, spec.ProcessorID)
	if err := os.MkdirAll(tmpdir, 0o700); err != nil {
		return nil, spec.errorf("creating its TMPDIR: %v", err)
	}
	host := spec.HostEnv
	if host == nil {
		host = os.Environ()
	}
	c := &Cgroup{
		m:      m,
		spec:   spec,
		cpus:   cpus,
		tmpdir: tmpdir,
		env:    BuildEnv(host, spec.InheritEnv, spec.Env, tmpdir),
	}
	if !m.unconfined {
		if err := c.create(); err != nil {
			os.RemoveAll(tmpdir)
			return nil, err
		}
	}
	m.groups[spec.ProcessorID] = c
	numa := "none"
	if spec.NUMAPreferred != nil {
		numa = fmt.Sprint(*spec.NUMAPreferred)
	}
	if m.unconfined {
		m.log.Warn("processor UNCONFINED: cpuset applied as cpu affinity only, memory limit ignored",
			"processor", spec.ProcessorID, "cpus", cpus.String(), "numa_preferred", numa)
	} else {
		m.log.Info("processor cgroup ready", "processor", spec.ProcessorID, "cgroup", filepath.Join(m.dir, spec.ProcessorID),
			"cpus", cpus.String(), "mems", m.mems.String(), "numa_preferred", numa, "memory_limit", spec.MemoryLimit, "tmpdir", tmpdir)
	}
	return c, nil
}

// Close kills every process in this instance's cgroups and removes them,
// with the instance directory and the processors' TMPDIRs.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	ids := make([]string, 0, len(m.groups))
	for id := range m.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := m.groups[id].destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.inst != nil {
		if err := killAll(m.inst, m.log); err != nil {
			errs = append(errs, err)
		}
		if err := m.inst.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", m.dir, err))
		}
	}
	if err := os.RemoveAll(m.tmp); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Available says why cgroup confinement cannot work here, or returns nil.
// It creates and removes a throwaway cgroup, so it answers for this very
// process: root, a writable cgroup filesystem, and a cpuset controller.
func Available() error {
	const fix = "run the host as root with a writable /sys/fs/cgroup, or set `confine = false` at the top of the config to run plugins unconfined"
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return fmt.Errorf("cgroup confinement unavailable: no cgroup filesystem at /sys/fs/cgroup; %s", fix)
	}
	probe := filepath.Join(Root, fmt.Sprintf(".probe-%d", os.Getpid()))
	mgr, err := manager.New(&cgroups.Cgroup{Path: probe, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return fmt.Errorf("cgroup confinement unavailable: %v; %s", err, fix)
	}
	paths := mgr.GetPaths()
	if !cgroups.IsCgroup2UnifiedMode() && paths["cpuset"] == "" {
		return fmt.Errorf("cgroup confinement unavailable: no cpuset controller is mounted (cgroup v1); %s", fix)
	}
	err = mgr.Apply(-1)
	defer mgr.Destroy()
	switch {
	case err == nil:
	case errors.Is(err, unix.EROFS):
		return fmt.Errorf("cgroup confinement unavailable: the cgroup filesystem is read-only (a container?); %s", fix)
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		return fmt.Errorf("cgroup confinement unavailable: not permitted to create cgroups as uid %d; %s", os.Geteuid(), fix)
	default:
		return fmt.Errorf("cgroup confinement unavailable: creating a test cgroup: %v; %s", err, fix)
	}
	if cgroups.IsCgroup2UnifiedMode() {
		ctrl, _ := cgroups.ReadFile(filepath.Dir(paths[""]), "cgroup.subtree_control")
		if !strings.Contains(" "+ctrl+" ", " cpuset ") {
			return fmt.Errorf("cgroup confinement unavailable: the cpuset controller is not enabled for %s (cgroup v2); %s", filepath.Dir(paths[""]), fix)
		}
	}
	return nil
}

// primaryPath is where a cgroup's processes are listed: the cpuset
// directory on v1 (devices is skipped, and cpuset is always present when
// confining), the single directory on v2.
func primaryPath(paths map[string]string) string {
	if p := paths["cpuset"]; p != "" {
		return p
	}
	if p := paths[""]; p != "" {
		return p
	}
	// A dead host's instance found only in some hierarchies: any one
	// lists its processes.
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if paths[k] != "" {
			return paths[k]
		}
	}
	return ""
}

// effective reads the cpus and memory nodes a cgroup may use (v1 and v2
// spell the files differently).
func effective(dir string) (cpus, mems cpuset.CPUSet, err error) {
	read := func(names ...string) (cpuset.CPUSet, error) {
		var last error
		for _, n := range names {
			s, err := cgroups.ReadFile(dir, n)
			if err != nil {
				last = err
				continue
			}
			set, err := cpuset.Parse(strings.TrimSpace(s))
			if err != nil {
				return set, fmt.Errorf("%s/%s: %w", dir, n, err)
			}
			return set, nil
		}
		return cpuset.CPUSet{}, fmt.Errorf("reading the host cgroup's allowed cpus/nodes: %w", last)
	}
	if cpus, err = read("cpuset.effective_cpus", "cpuset.cpus.effective"); err != nil {
		return
	}
	mems, err = read("cpuset.effective_mems", "cpuset.mems.effective")
	return
}

// tempBase is the folder holding a host instance's processor TMPDIRs. It
// is named like the instance's cgroup so that CleanStale can find it, and
// kept short: go-plugin puts the plugin's Unix socket in TMPDIR and socket
// paths are limited to 108 bytes.
func tempBase(name string) string {
	return filepath.Join(os.TempDir(), "sealhost-"+name)
}

// onlineSet reads a sysfs cpu or node list.
func onlineSet(path string) (cpuset.CPUSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuset.CPUSet{}, err
	}
	set, err := cpuset.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return set, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// startTime returns a process's start time in clock ticks since boot
// (field 22 of /proc/<pid>/stat). With the pid it names a process uniquely.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces and parentheses: fields start after
	// the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
