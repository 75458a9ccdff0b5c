package plugintest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A snapshot is what /proc shows of a plugin's activity: the processes it
// started (children, grandchildren), its threads that keep running, and
// the cpu it burns. On systems without /proc it is empty, and the
// cancellation check then only sees the host's side.
type snapshot struct {
	desc    map[int]procID // descendants of the plugin
	running int            // threads found runnable in nearly every sample
	cpu     float64        // cpus' worth of time used while sampled
}

// procID tells a process from a later one reusing its pid.
type procID struct {
	start string // starttime field of /proc/PID/stat
	comm  string
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// Sampling: a thread that spins is runnable (state R) in every sample
// however loaded the machine is, while the threads of an idle Go program
// sleep in futex or epoll waits and are seen runnable only now and then.
// Thread states, unlike cpu shares, do not depend on what else runs.
const (
	samples      = 10
	sampleGap    = 30 * time.Millisecond
	runningRatio = 0.8
)

func observe(pid int) snapshot {
	s := snapshot{desc: descendants(pid)}
	t0, ok0 := cpuTicks(pid)
	w0 := time.Now()
	seen := map[string]int{}
	for i := range samples {
		if i > 0 {
			time.Sleep(sampleGap)
		}
		for _, tid := range runnableThreads(pid) {
			seen[tid]++
		}
	}
	for _, n := range seen {
		if float64(n) >= runningRatio*samples {
			s.running++
		}
	}
	t1, ok1 := cpuTicks(pid)
	if ok0 && ok1 {
		s.cpu = float64(t1-t0) / clockTicks / time.Since(w0).Seconds()
	}
	return s
}

func (s snapshot) busy() bool { return s.running > 0 }

// runnableThreads lists the plugin's threads in state R.
func runnableThreads(pid int) []string {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && strings.HasPrefix(string(b[i+1:]), " R") {
			out = append(out, e.Name())
		}
	}
	return out
}

// stillAlive lists the processes of before that are still running.
func (s snapshot) stillAlive(before snapshot) []string {
	var out []string
	for pid, id := range before.desc {
		st, ok := readStat(pid)
		if ok && st.start == id.start && st.state != "Z" {
			out = append(out, fmt.Sprintf("pid %d (%s)", pid, id.comm))
		}
	}
	return out
}

type stat struct {
	ppid  int
	state string
	start string
	comm  string
	ticks int64 // utime+stime
}

// readStat parses /proc/PID/stat. comm may hold spaces and parentheses,
// so fields are counted from the last ')'.
func readStat(pid int) (stat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, false
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return stat{}, false
	}
	f := strings.Fields(s[close+1:])
	// f[0] is field 3 (state); utime, stime are 14, 15; starttime is 22.
	if len(f) < 20 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return stat{ppid: ppid, state: f[0], start: f[19], comm: s[open+1 : close], ticks: ut + st}, true
}

func cpuTicks(pid int) (int64, bool) {
	st, ok := readStat(pid)
	return st.ticks, ok
}

func descendants(pid int) map[int]procID {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	stats := map[int]stat{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(p); ok {
			children[st.ppid] = append(children[st.ppid], p)
			stats[p] = st
		}
	}
	out := map[int]procID{}
	queue := append([]int(nil), children[pid]...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if st := stats[p]; st.state != "Z" {
			out[p] = procID{start: st.start, comm: st.comm}
		}
		queue = append(queue, children[p]...)
	}
	return out
}
