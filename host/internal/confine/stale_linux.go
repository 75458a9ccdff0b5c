package confine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
)

// Stale is a host instance's cgroup whose owner is dead, as CleanStale
// found it.
type Stale struct {
	// Cgroup is the relative path ("sealhost/<instance>@<pid>.<start>").
	Cgroup   string
	Instance string
	OwnerPID int
	// Processors are the processor cgroups it held.
	Processors []string
	// Killed are the processes that were still running in it.
	Killed []int
}

func (s Stale) String() string {
	return fmt.Sprintf("%s (host pid %d is gone; processors %s; killed %d processes %v)",
		s.Cgroup, s.OwnerPID, strings.Join(s.Processors, ","), len(s.Killed), s.Killed)
}

// CleanStale finds cgroups under Root left by hosts that died (their
// owner pid is gone, or now names another process), kills every process
// in them and removes them. It logs and returns what it found. Cgroups of
// live hosts, this one included, are left alone; so are directories whose
// names it does not recognise (logged).
func (m *Manager) CleanStale() ([]Stale, error) {
	if m.unconfined {
		return nil, nil
	}
	root, err := manager.New(&cgroups.Cgroup{Path: Root, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, dir := range root.GetPaths() {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // this controller has no Root: nothing left there
		}
		for _, e := range ents {
			if e.IsDir() {
				names[e.Name()] = true
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	var found []Stale
	var errs []error
	for _, name := range sorted {
		rel := filepath.Join(Root, name)
		if rel == m.dir {
			continue
		}
		inst, pid, start, ok := parseInstanceDir(name)
		if !ok {
			if !strings.HasPrefix(name, ".probe-") {
				m.log.Warn("unrecognised cgroup under "+Root+", leaving it", "cgroup", rel)
			}
			continue
		}
		if alive(pid, start) {
			continue
		}
		st, err := removeStale(rel, inst, pid, m)
		if err != nil {
			errs = append(errs, err)
		}
		if st != nil {
			m.log.Warn("removed the cgroup of a host that died", "cgroup", st.Cgroup, "host_pid", st.OwnerPID,
				"processors", strings.Join(st.Processors, ","), "killed", len(st.Killed), "pids", fmt.Sprint(st.Killed))
			found = append(found, *st)
		}
	}
	return found, errors.Join(errs...)
}

func removeStale(rel, instance string, pid int, m *Manager) (*Stale, error) {
	mgr, err := manager.New(&cgroups.Cgroup{Path: rel, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return nil, err
	}
	st := &Stale{Cgroup: rel, Instance: instance, OwnerPID: pid}
	procs := map[string]bool{}
	for _, dir := range mgr.GetPaths() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				procs[e.Name()] = true
			}
		}
	}
	for p := range procs {
		st.Processors = append(st.Processors, p)
	}
	sort.Strings(st.Processors)
	if list := primaryPath(mgr.GetPaths()); list != "" {
		st.Killed, _ = cgroups.GetAllPids(list)
		sort.Ints(st.Killed)
	}
	if err := killAll(mgr, m.log); err != nil {
		return st, fmt.Errorf("stale cgroup %s: %w", rel, err)
	}
	if err := mgr.Destroy(); err != nil {
		return st, fmt.Errorf("removing stale cgroup %s: %w", rel, err)
	}
	if err := os.RemoveAll(tempBase(filepath.Base(rel))); err != nil {
		return st, fmt.Errorf("removing the stale host's temporary directories: %w", err)
	}
	return st, nil
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
