package confine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
)

// Stale is a host instance's cgroup whose owner is dead, as CleanStale
// found it.
type Stale struct {
	// Cgroup is the instance's path below its Root ("sealhost/<instance>@<pid>.<start>").
	Cgroup   string
	Instance string
	OwnerPID int
	// Processors are the processor cgroups it held.
	Processors []string
	// Killed are the processes that were still running in it.
	Killed []int
	// Removed are the cgroup directories removed, absolute, in every
	// hierarchy the instance had them in, processors' before their
	// instance's; Left those that could not be.
	Removed, Left []string
}

func (s Stale) String() string {
	return fmt.Sprintf("%s (host pid %d is gone; processors %s; killed %d processes %v; removed %s)",
		s.Cgroup, s.OwnerPID, strings.Join(s.Processors, ","), len(s.Killed), s.Killed, strings.Join(s.Removed, " "))
}

// CleanStale finds the cgroups of host instances that died (their owner
// pid is gone, or now names another process), kills every process in them
// and removes them, in every cgroup hierarchy mounted here: a host's
// instance sits below the host's own cgroup in each hierarchy, and a host
// started from other cgroups (another systemd unit, a shell, after the
// unit's cgroup changed) would otherwise never see the instances of one
// that ran elsewhere. It logs each instance with every directory removed,
// and returns them. Cgroups of live hosts, this one included, are left
// alone; so are directories whose names it does not recognise, and
// instances whose processes this host cannot see (they list as pid 0:
// another pid namespace's host, whose pid means nothing here).
func (m *Manager) CleanStale() ([]Stale, error) {
	if m.unconfined {
		return nil, nil
	}
	hs, err := hierarchies("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	insts := findInstances(hs, m.log)
	names := make([]string, 0, len(insts))
	for n := range insts {
		names = append(names, n)
	}
	sort.Strings(names)

	var found []Stale
	var errs []error
	for _, name := range names {
		if name == filepath.Base(m.dir) {
			continue
		}
		inst, pid, start, ok := parseInstanceDir(name)
		if !ok {
			if !strings.HasPrefix(name, ".probe-") {
				for _, dir := range insts[name] {
					m.log.Warn("unrecognised cgroup under "+Root+", leaving it", "cgroup", dir)
				}
			}
			continue
		}
		if alive(pid, start) {
			continue
		}
		st, err := removeStale(name, inst, pid, insts[name], m)
		if err != nil {
			errs = append(errs, err)
		}
		if st != nil {
			m.log.Warn("removed the cgroups of a host that died", "cgroup", st.Cgroup, "host_pid", st.OwnerPID,
				"processors", strings.Join(st.Processors, ","), "killed", len(st.Killed), "pids", fmt.Sprint(st.Killed),
				"removed", strings.Join(st.Removed, " "))
			if len(st.Left) > 0 {
				m.log.Error("could not remove every cgroup of a host that died", "cgroup", st.Cgroup, "left", strings.Join(st.Left, " "))
			}
			found = append(found, *st)
		}
	}
	return found, errors.Join(errs...)
}

// hierarchy is one mounted cgroup hierarchy: where it is mounted and the
// manager's keys for it (its v1 controllers, "name=systemd", or "" for
// the v2 hierarchy).
type hierarchy struct {
	mount string
	keys  []string
}

// v1Controllers are the controller options a v1 cgroup mount may carry.
var v1Controllers = map[string]bool{
	"cpuset": true, "cpu": true, "cpuacct": true, "memory": true, "devices": true, "freezer": true,
	"net_cls": true, "net_prio": true, "blkio": true, "perf_event": true, "hugetlb": true,
	"pids": true, "rdma": true, "misc": true,
}

// hierarchies lists the cgroup hierarchies in a mountinfo file, each once
// (the first mount of a hierarchy mounted twice).
func hierarchies(mountinfo string) ([]hierarchy, error) {
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("listing cgroup mounts: %w", err)
	}
	return parseMountinfo(string(b)), nil
}

// parseMountinfo reads /proc/self/mountinfo's format: "id parent dev root
// mountpoint options [optional...] - fstype source superoptions".
func parseMountinfo(text string) []hierarchy {
	var hs []hierarchy
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		h := hierarchy{mount: unescapeMount(f[4])}
		switch g[0] {
		case "cgroup2":
			h.keys = []string{""}
		case "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				if v1Controllers[o] || strings.HasPrefix(o, "name=") && len(o) > len("name=") {
					h.keys = append(h.keys, o)
				}
			}
		}
		if len(h.keys) == 0 || !filepath.IsAbs(h.mount) {
			continue
		}
		id := strings.Join(h.keys, ",")
		if seen[id] {
			continue
		}
		seen[id] = true
		hs = append(hs, h)
	}
	return hs
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// maxCgroupDepth bounds the walk for Root directories.
const maxCgroupDepth = 32

// findInstances walks every hierarchy for directories named Root and
// returns, for each directory name inside one, the manager keys and the
// absolute path it has in each hierarchy.
func findInstances(hs []hierarchy, log hclog.Logger) map[string]map[string]string {
	insts := map[string]map[string]string{}
	for _, h := range hs {
		base := strings.Count(filepath.Clean(h.mount), "/")
		filepath.WalkDir(h.mount, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil // vanished or unreadable: nothing of ours
			}
			if strings.Count(path, "/")-base > maxCgroupDepth {
				return fs.SkipDir
			}
			if d.Name() != Root || path == h.mount {
				return nil
			}
			ents, err := os.ReadDir(path)
			if err != nil {
				return fs.SkipDir
			}
			for _, e := range ents {
				if !e.IsDir() {
					continue
				}
				dir := filepath.Join(path, e.Name())
				if insts[e.Name()] == nil {
					insts[e.Name()] = map[string]string{}
				}
				for _, k := range h.keys {
					if prev, ok := insts[e.Name()][k]; ok && prev != dir {
						// One host makes one instance directory per
						// hierarchy; a second is a copy of the name
						// somewhere else, not to be guessed at.
						log.Warn("an instance cgroup appears twice in one hierarchy, leaving the second", "cgroup", dir, "first", prev)
						continue
					}
					insts[e.Name()][k] = dir
				}
			}
			return fs.SkipDir // the instances are below; Root is not nested
		})
	}
	return insts
}

// removeStale kills what runs in a dead host's instance, wherever its
// directories are (paths: manager key → absolute directory), and removes
// them.
func removeStale(name, instance string, pid int, paths map[string]string, m *Manager) (*Stale, error) {
	st := &Stale{Cgroup: filepath.Join(Root, name), Instance: instance, OwnerPID: pid}
	dirs := map[string]bool{}
	procs := map[string]bool{}
	pids := map[int]bool{}
	for _, dir := range paths {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			dirs[path] = true
			if filepath.Dir(path) == dir {
				procs[d.Name()] = true
			}
			return nil
		})
		if list, err := cgroups.GetAllPids(dir); err == nil {
			for _, p := range list {
				pids[p] = true
			}
		}
	}
	if pids[0] {
		m.log.Warn("a dead-looking host's cgroup holds processes of another pid namespace: not ours, leaving it", "cgroup", st.Cgroup, "paths", fmt.Sprint(paths))
		return nil, nil
	}
	for p := range procs {
		st.Processors = append(st.Processors, p)
	}
	sort.Strings(st.Processors)
	for p := range pids {
		st.Killed = append(st.Killed, p)
	}
	sort.Ints(st.Killed)

	mgr, err := manager.NewWithPaths(&cgroups.Cgroup{Resources: &cgroups.Resources{SkipDevices: true}}, paths)
	if err != nil {
		return st, fmt.Errorf("stale cgroup %s: %w", st.Cgroup, err)
	}
	killErr := killAll(mgr, m.log)
	if killErr != nil {
		killErr = fmt.Errorf("stale cgroup %s: %w", st.Cgroup, killErr)
	}
	var destroyErr error
	if killErr == nil {
		if err := mgr.Destroy(); err != nil {
			destroyErr = fmt.Errorf("removing stale cgroup %s: %w", st.Cgroup, err)
		}
	}
	// Deepest first: what an operator would rmdir, in that order.
	all := make([]string, 0, len(dirs))
	for d := range dirs {
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool {
		di, dj := strings.Count(all[i], "/"), strings.Count(all[j], "/")
		if di != dj {
			return di > dj
		}
		return all[i] < all[j]
	})
	for _, d := range all {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			st.Removed = append(st.Removed, d)
		} else {
			st.Left = append(st.Left, d)
		}
	}
	if err := os.RemoveAll(tempBase(name)); err != nil {
		return st, errors.Join(killErr, destroyErr, fmt.Errorf("removing the stale host's temporary directories: %w", err))
	}
	return st, errors.Join(killErr, destroyErr)
}

// parseInstanceDir splits "<instance>@<pid>.<start>".
func parseInstanceDir(name string) (instance string, pid int, start uint64, ok bool) {
	at := strings.LastIndexByte(name, '@')
	if at <= 0 {
		return "", 0, 0, false
	}
	p, s, found := strings.Cut(name[at+1:], ".")
	if !found || !canonical(p) || !canonical(s) {
		return "", 0, 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return "", 0, 0, false
	}
	start, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		return "", 0, 0, false
	}
	return name[:at], pid, start, true
}

// canonical reports whether s is a number as NewManager prints it: digits,
// no sign, no leading zero.
func canonical(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// alive reports whether the process that made a cgroup still runs: same
// pid and same start time (a reused pid has a later one).
// A zombie is dead too: its cgroups are orphaned all the same.
func alive(pid int, start uint64) bool {
	got, err := startTime(pid)
	if err != nil || got != start {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
