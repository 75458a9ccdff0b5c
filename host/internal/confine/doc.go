// Package confine starts plugin processes inside per-processor cgroups,
// already confined from their first instruction, and removes every trace
// of them when they stop.
//
// # Why a shim
//
// damocles lets each child create and join its cgroup after it started: it
// runs unconfined for a while, threads and children it made before stay
// outside, and a failure only logs. Starting the plugin and then moving
// its pid (Manager.Apply(pid)) has the same race. Go's
// SysProcAttr.UseCgroupFD would place the child atomically, but only on a
// pure cgroup v2 system; on v1 and hybrid systems clone3 returns EBADF for
// a cpuset directory.
//
// So the host re-executes its own binary (/proc/self/exe) with the hidden
// command ShimCommand. The shim (RunShim) writes its own pid into the
// processor's cgroup in every mounted controller (cpuset with the
// configured cpus and all allowed memory nodes, memory with the limit,
// freezer and pids for killing and listing), sets MPOL_PREFERRED with
// set_mempolicy when the processor has numa_preferred, arms the
// parent-death signal, and execs the plugin. Memory policy is per thread
// and survives execve, so the shim locks its OS thread and does both there.
// The shim's instructions come from the shimSpec in an environment
// variable it removes before exec: the plugin sees only its own
// environment and arguments.
//
// # Cgroups
//
// Cgroups are made with github.com/opencontainers/cgroups' manager only
// (never libcontainer's container API, which changes the host's mounts).
// Their paths are relative, so they nest under the host's own cgroup in
// each controller: Root/<instance>@<pid>.<start>/<processor>. Requests are
// checked against the host cgroup's effective cpus and mems before
// anything is written, so a cpuset the host cannot grant is an error that
// names the processor and its config line, not an ERANGE.
//
// Because the paths are relative, a processor's memory limit nests inside
// the host's own memory cgroup. A host started from other cgroups than a
// dead one's (another unit, a shell) would not find that one's instances
// below its own, so CleanStale walks every mounted hierarchy (each v1
// controller, name=systemd, the v2 hierarchy) for Root directories, and
// logs every directory it removes. It leaves alone an instance whose
// processes list as pid 0 (another pid namespace: a container's host,
// whose owner pid says nothing here). memory_limit limits memory, not
// swap.
//
// Kill empties a cgroup: cgroup.kill where the kernel offers it (v2, and
// the unified directory of hybrid systems), else freeze, SIGKILL every pid
// (listed from the cpuset directory, since devices is skipped), thaw.
// Destroy kills what is left and removes the directories; removing a
// cgroup with live processes would otherwise fail after seconds.
//
// # Host death
//
// The plugin gets SIGKILL when the host thread that started it exits. The
// Go runtime ends OS threads only when a goroutine locked with
// runtime.LockOSThread returns without unlocking, so Cmd.Start must not be
// called from such a goroutine; the shim also checks getppid after arming
// the signal, in case the host died first. Processes the plugin forked do
// not get the signal, but they stay in the cgroup, and the next host's
// Manager.CleanStale kills them and removes the cgroup: the owner pid and
// start time in the directory name tell it the owner is dead.
//
// # Unconfined
//
// With NewManager(…, unconfined = true) (config `confine = false`) the same
// API runs plugins in their own process group with no cgroup: memory policy
// and parent-death signal still apply, the cpuset becomes cpu affinity
// (which a plugin can undo), memory limits are ignored, and the log says
// so loudly. Available tells why confinement is impossible (not root,
// read-only cgroup filesystem, no cpuset controller).
package confine
