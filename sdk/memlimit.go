package sdk

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// setMemoryLimit gives the Go runtime a soft memory limit of 90% of the
// plugin's cgroup memory limit, unless GOMEMLIMIT is set. Without it the
// Go heap grows as if the machine's memory were all the plugin's, and a
// burst (a large request, many concurrent calls) ends in the kernel's OOM
// kill of the whole plugin instead of a busier garbage collector. The 10%
// left is for what Go does not count: cgo allocations, stacks of native
// threads. Read by hand, two small files, rather than a library the sdk's
// users would all inherit.
func setMemoryLimit() (limit int64, ok bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	b, err := cgroupMemoryLimit("/proc/self/cgroup", "/sys/fs/cgroup")
	if err != nil || b <= 0 {
		return 0, false
	}
	limit = b / 10 * 9
	debug.SetMemoryLimit(limit)
	return limit, true
}

// cgroupMemoryLimit returns the memory limit in bytes of the cgroup the
// process is in, from a /proc/self/cgroup-style file and the cgroup mount
// root: memory.max of the unified hierarchy (v2) or memory.limit_in_bytes
// of the memory controller (v1), whichever the process is placed in. 0
// means no limit.
func cgroupMemoryLimit(procCgroup, root string) (int64, error) {
	f, err := os.Open(procCgroup)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var v1, v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case hasController(parts[1], "memory"):
			v1 = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if v1 != "" {
		// Hybrid machines (v1 controllers, empty unified tree) place the
		// limit in v1; v1 wins when the memory controller is there.
		return readLimit(filepath.Join(root, "memory", v1, "memory.limit_in_bytes"))
	}
	if v2 != "" {
		if n, err := readLimit(filepath.Join(root, v2, "memory.max")); err == nil {
			return n, nil
		}
		return readLimit(filepath.Join(root, "unified", v2, "memory.max"))
	}
	return 0, nil
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a limit file: a number of bytes, "max" (v2), or v1's
// page-rounded maximum, which both mean no limit (0).
func readLimit(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n >= 1<<62 { // v1 without a limit: 9223372036854771712
		return 0, nil
	}
	return n, nil
}
