package confine

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Memory is what a processor's cgroup says of its memory: how often the
// kernel's OOM killer acted in it, its limit and its peak use (bytes; 0
// when unknown or unlimited).
type Memory struct {
	OOMKills uint64
	Limit    uint64
	Peak     uint64
	// Known is false when the cgroup has no memory controller to read
	// (unconfined, or a kernel without oom_kill counts).
	Known bool
}

// readMemory reads Memory from a cgroup's memory directory: v1
// (memory.oom_control's oom_kill, memory.limit_in_bytes,
// memory.max_usage_in_bytes) when v1 is set, else v2 (memory.events'
// oom_kill, memory.max, memory.peak).
func readMemory(v1, v2 string) Memory {
	var m Memory
	switch {
	case v1 != "":
		kills, ok := keyed(filepath.Join(v1, "memory.oom_control"), "oom_kill")
		m = Memory{OOMKills: kills, Known: ok,
			Limit: number(filepath.Join(v1, "memory.limit_in_bytes")), Peak: number(filepath.Join(v1, "memory.max_usage_in_bytes"))}
	case v2 != "":
		kills, ok := keyed(filepath.Join(v2, "memory.events"), "oom_kill")
		m = Memory{OOMKills: kills, Known: ok,
			Limit: number(filepath.Join(v2, "memory.max")), Peak: number(filepath.Join(v2, "memory.peak"))}
	}
	if m.Limit >= 1<<62 { // v1's "no limit"
		m.Limit = 0
	}
	return m
}

// keyed reads the value of key from a "key value" per line file.
func keyed(path, key string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// number reads a file holding one number ("max" and errors give 0).
func number(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}
