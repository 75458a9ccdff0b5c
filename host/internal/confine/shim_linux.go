package confine

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/sealhost/sealhost/sdk"
)

// ShimCommand is the hidden host subcommand (os.Args[1]) that runs RunShim.
// A test binary that starts confined plugins must do the same in TestMain:
//
//	if len(os.Args) > 1 && os.Args[1] == confine.ShimCommand {
//		os.Exit(confine.RunShim(os.Args[2:]))
//	}
const ShimCommand = "confine-shim"

// shimEnv carries the shimSpec from host to shim. The shim removes it
// before exec, so the plugin never sees it.
const shimEnv = sdk.ShimEnv

// shimSpec is what the shim needs beyond its argv.
type shimSpec struct {
	HostPID   int               `json:"host_pid"`
	Processor string            `json:"processor"`
	Paths     map[string]string `json:"paths,omitempty"` // cgroup dirs to join
	NUMA      *int              `json:"numa,omitempty"`
	Affinity  []int             `json:"affinity,omitempty"` // unconfined only
}

// RunShim is the shim: args are "--", the plugin path and its arguments.
// It joins the processor's cgroups, sets the parent-death signal and the
// memory policy, then replaces itself with the plugin. It returns (an exit
// status, after writing the reason to stderr) only when that fails; it
// never writes to stdout, which belongs to go-plugin's handshake.
func RunShim(args []string) int {
	if err := runShim(args); err != nil {
		fmt.Fprintf(os.Stderr, "sealhost confine shim: %v\n", err)
		return 126
	}
	return 0 // not reached: runShim execs or fails
}

func runShim(args []string) error {
	// set_mempolicy sets the policy of the calling thread only, and execve
	// keeps the policy of the thread that calls it: both must happen on
	// this one thread.
	runtime.LockOSThread()
	// Reached only when the shim fails: a test calling RunShim must not
	// lose its thread (the runtime ends a thread whose goroutine exits
	// locked to it).
	defer runtime.UnlockOSThread()

	if len(args) < 2 || args[0] != "--" {
		return fmt.Errorf("usage: %s -- PLUGIN [ARGS...] (started by the host, not by hand)", ShimCommand)
	}
	raw, ok := os.LookupEnv(shimEnv)
	if !ok {
		return fmt.Errorf("%s is not set: the shim is started by the host, not by hand", shimEnv)
	}
	var s shimSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return fmt.Errorf("decoding %s: %w", shimEnv, err)
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, shimEnv+"=") {
			env = append(env, kv)
		}
	}

	// The host armed this already (SysProcAttr.Pdeathsig); doing it again
	// costs nothing and keeps the shim safe if started another way. Then,
	// if the host died before it was armed, nobody will ever kill us.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("processor %s: setting the parent-death signal: %w", s.Processor, err)
	}
	if s.HostPID != 0 && os.Getppid() != s.HostPID {
		return fmt.Errorf("processor %s: the host (pid %d) died before its plugin started", s.Processor, s.HostPID)
	}

	// Join every controller's cgroup (moving the whole process, all
	// threads); on v1 attaching to the cpuset also resets our affinity to
	// its cpus. Order is fixed only to make failures reproducible.
	ctrls := make([]string, 0, len(s.Paths))
	for k := range s.Paths {
		ctrls = append(ctrls, k)
	}
	sort.Strings(ctrls)
	for _, k := range ctrls {
		if err := cgroups.WriteCgroupProc(s.Paths[k], os.Getpid()); err != nil {
			return fmt.Errorf("processor %s: joining cgroup %s: %w", s.Processor, s.Paths[k], err)
		}
	}
	if len(s.Affinity) > 0 {
		var set unix.CPUSet
		for _, cpu := range s.Affinity {
			set.Set(cpu)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("processor %s: setting cpu affinity %v: %w", s.Processor, s.Affinity, err)
		}
	}
	if s.NUMA != nil {
		var mask unix.CPUSet // a bitmask like any other: bit n = node n
		mask.Set(*s.NUMA)
		if err := unix.SetMemPolicy(unix.MPOL_PREFERRED, &mask); err != nil {
			return fmt.Errorf("processor %s: set_mempolicy(MPOL_PREFERRED, node %d): %w", s.Processor, *s.NUMA, err)
		}
	}
	plugin := args[1]
	if err := syscall.Exec(plugin, args[1:], env); err != nil {
		return fmt.Errorf("processor %s: exec %s: %w", s.Processor, plugin, err)
	}
	return nil
}
