package main

import (
	"fmt"
	"slices"
)

// ref names one value in the benchmark output: a benchmark, keyed as
// "<last element of its package path>.<name without Benchmark and
// GOMAXPROCS>", and a unit exactly as `go test` printed it.
type ref struct {
	bench string
	unit  string
}

// row is one line of the table: num over den.
type row struct {
	what     string
	num      ref
	baseline string // what den is, for a reader
	den      ref
	// target is the ratio the project aims to stay under; 0 when it set
	// none (the row is then informative).
	target float64
	// extra, when set, is shown beside the measurement (throughputs).
	extra, extraBase *ref
}

// rows are the project's speed claims, in the order `make bench` prints
// them: the arbiter's grid where the arbiter's benchmarks run, before the
// plugin start rows.
var rows = func() []row {
	at := slices.IndexFunc(baseRows, func(r row) bool { return r.num.bench == "startbench.Start/plugin" })
	if at < 0 {
		at = len(baseRows)
	}
	return slices.Concat(baseRows[:at], arbiterRows(), baseRows[at:])
}()

var baseRows = []row{
	{
		what: "stage call through go-plugin (no-op C2)", num: ref{"pluginclient.NoopCall", "ns/op"},
		baseline: "same server, plain gRPC on a unix socket", den: ref{"pluginclient.NoopCall", "plain-ns/op"}, target: 2,
	},
	{
		what: "64 MiB request host→plugin", num: ref{"pluginclient.Payload64MiB/host-to-plugin", "ns/op"},
		baseline: "same, plain gRPC", den: ref{"pluginclient.Payload64MiB/host-to-plugin", "plain-ns/op"},
		extra: &ref{"pluginclient.Payload64MiB/host-to-plugin", "MB/s"}, extraBase: &ref{"pluginclient.Payload64MiB/host-to-plugin", "plain-MB/s"},
	},
	{
		what: "64 MiB response plugin→host", num: ref{"pluginclient.Payload64MiB/plugin-to-host", "ns/op"},
		baseline: "same, plain gRPC", den: ref{"pluginclient.Payload64MiB/plugin-to-host", "plain-ns/op"},
		extra: &ref{"pluginclient.Payload64MiB/plugin-to-host", "MB/s"}, extraBase: &ref{"pluginclient.Payload64MiB/plugin-to-host", "plain-MB/s"},
	},
	{
		what: "no-op c2 through host processor (damocles protocol)", num: ref{"host.ProcessorNoop", "ns/op"},
		baseline: "same c2 straight through the task API", den: ref{"host.ProcessorNoop", "taskapi-ns/op"}, target: 1.5,
	},
	{
		// Issue 14: the socket answers within 100 ms of the exec.
		what: "host run with 50 processors: first status answer", num: ref{"host.RunServes50", "ns/op"},
		baseline: "100 ms (the target, slept)", den: ref{"host.RunServes50", "target-ns/op"}, target: 1,
	},
	{
		what: "no-op c2 tasks through the host, 1 in flight (time per task)", num: ref{"daemon.InFlight/inflight=1", "ns/op"},
		baseline: "same calls straight to the plugin", den: ref{"daemon.InFlight/inflight=1", "direct-ns/op"},
	},
	{
		what: "no-op c2 tasks through the host, 16 in flight", num: ref{"daemon.InFlight/inflight=16", "ns/op"},
		baseline: "same calls straight to the plugin", den: ref{"daemon.InFlight/inflight=16", "direct-ns/op"},
	},
	{
		// Issue 14: at least 0.6× the direct tasks/s, i.e. at most
		// 1/0.6 ≈ 1.67× the time per task.
		what: "no-op c2 tasks through the host, 256 in flight", num: ref{"daemon.InFlight/inflight=256", "ns/op"},
		baseline: "same calls straight to the plugin", den: ref{"daemon.InFlight/inflight=256", "direct-ns/op"}, target: 1.67,
	},
	{
		// The ceiling of the row above: a task API server that only
		// relays each call to the plugin crosses the same two gRPC hops
		// as the host and does none of its work.
		what: "no-op c2 through a bare relay (no host work), 256 in flight", num: ref{"daemon.InFlight/inflight=256", "relay-ns/op"},
		baseline: "same calls straight to the plugin", den: ref{"daemon.InFlight/inflight=256", "direct-ns/op"},
	},
	{
		what: "the host's own cost: its tasks, 256 in flight", num: ref{"daemon.InFlight/inflight=256", "ns/op"},
		baseline: "same calls through the bare relay", den: ref{"daemon.InFlight/inflight=256", "relay-ns/op"},
	},
	{
		what: "plugin start (mock, to serving)", num: ref{"startbench.Start/plugin", "ns/op"},
		baseline: "bare exec of the same binary", den: ref{"startbench.Start/exec", "ns/op"},
	},
	{
		what: "confined start through the shim", num: ref{"confine.Start/confined", "ns/op"},
		baseline: "direct start, no cgroup", den: ref{"confine.Start/direct", "ns/op"},
	},
	{
		what: "tree_d of an 8 MiB sector in memory (tmpfs)", num: ref{"ffi.TreeD8MiB/build-tmpfs", "ns/op"},
		baseline: "one SHA-256 pass, 1 core, paired with it", den: ref{"ffi.TreeD8MiB/build-tmpfs", "sha256-ns/op"},
		// Issue 14: at least 0.45× the one-core linear rate, i.e. at
		// most 1/0.45 ≈ 2.2× its time, on 2 cores (a binary tree of
		// 64-byte nodes needs 4× the compressions of one linear pass).
		// In memory: the builder's own hashing and copying.
		target: 2.2,
		extra:  &ref{"ffi.TreeD8MiB/build-tmpfs", "MB/s"}, extraBase: &ref{"ffi.TreeD8MiB/sha256", "MB/s"},
	},
	{
		what: "tree_d of an 8 MiB sector on disk (+ fsync of 16 MiB)", num: ref{"ffi.TreeD8MiB/build", "ns/op"},
		baseline: "one SHA-256 pass, 1 core, paired with it", den: ref{"ffi.TreeD8MiB/build", "sha256-ns/op"},
		extra: &ref{"ffi.TreeD8MiB/build", "MB/s"}, extraBase: &ref{"ffi.TreeD8MiB/sha256", "MB/s"},
	},
	{
		what: "simulate 30 days of Plan B (fair)", num: ref{"simulate.PlanB30Days", "ns/op"},
		baseline: "1 s (the target, slept)", den: ref{"simulate.OneSecond", "ns/op"}, target: 1,
	},
	{
		what: "simulate 30 days of Plan B (fair)", num: ref{"simulate.PlanB30Days", "ns/op"},
		baseline: "sealcalc's minute-step model, 30 days", den: ref{"simulate.SealcalcModel30Days", "ns/op"},
	},
	{
		what: "host suggest on the seed machine (3 candidates, 30 days each)", num: ref{"suggest.SuggestSeed", "ns/op"},
		baseline: "1 s (slept): the target is under 2 s", den: ref{"simulate.OneSecond", "ns/op"}, target: 2,
	},
	{
		what: "host suggest on the seed machine", num: ref{"suggest.SuggestSeed", "ns/op"},
		baseline: "one simulate of config.hcl, 30 days", den: ref{"suggest.SimulateConfigHCL", "ns/op"},
	},
	{
		// Issue 14: the dispatcher's cost per event must not grow with
		// the processors: 4× the farm seals 4× the sectors.
		what: "simulate 30 days of a 4× Plan B farm", num: ref{"dispatch.Farm", "x4-ns/op"},
		baseline: "the 1× farm, 30 days", den: ref{"dispatch.Farm", "x1-ns/op"}, target: 4.5,
	},
	{
		what: "arbiter alone, 30-day §5 scenario", num: ref{"arbiter.Scenario30Days", "ns/op"},
		baseline: "1 s (slept)", den: ref{"simulate.OneSecond", "ns/op"},
	},
	{
		what: "host validate: 128 KiB of random bytes", num: ref{"config.HostileConfig/128-KiB-of-random-bytes", "ns/op"},
		baseline: "1 s (the target, slept)", den: ref{"simulate.OneSecond", "ns/op"}, target: 1,
	},
	{
		what: "host validate: 100,000 nested parentheses", num: ref{"config.HostileConfig/100000-nested-parentheses", "ns/op"},
		baseline: "1 s (the target, slept)", den: ref{"simulate.OneSecond", "ns/op"}, target: 1,
	},
	{
		what: "host validate: 10,000 unknown attributes", num: ref{"config.HostileConfig/10000-unknown-attributes", "ns/op"},
		baseline: "1 s (the target, slept)", den: ref{"simulate.OneSecond", "ns/op"}, target: 1,
	},
	{
		what: "host plan: 2000 processors on one cpu", num: ref{"plan.Plan2000Processors", "ns/op"},
		baseline: "1 s (the target, slept)", den: ref{"simulate.OneSecond", "ns/op"}, target: 1,
	},
	{
		what: "host validate: a 200 KB config, 2000 processors on one cpu", num: ref{"plan.Plan2000ProcessorsConfig", "ns/op"},
		baseline: "1 s (the target, slept)", den: ref{"simulate.OneSecond", "ns/op"}, target: 1,
	},
	{
		what: "host validate: 128 KiB of random bytes, memory allocated", num: ref{"config.HostileConfig/128-KiB-of-random-bytes", "B/op"},
		baseline: "100 MB (the target, allocated)", den: ref{"config.HostileConfigTarget100MB", "B/op"}, target: 1,
	},
	{
		what: "host validate: 100,000 nested parentheses, memory allocated", num: ref{"config.HostileConfig/100000-nested-parentheses", "B/op"},
		baseline: "100 MB (the target, allocated)", den: ref{"config.HostileConfigTarget100MB", "B/op"}, target: 1,
	},
	{
		what: "host validate: 10,000 unknown attributes, memory allocated", num: ref{"config.HostileConfig/10000-unknown-attributes", "B/op"},
		baseline: "100 MB (the target, allocated)", den: ref{"config.HostileConfigTarget100MB", "B/op"}, target: 1,
	},
	{
		what: "host plan: 2000 processors on one cpu, memory allocated", num: ref{"plan.Plan2000Processors", "B/op"},
		baseline: "100 MB (the target, allocated)", den: ref{"config.HostileConfigTarget100MB", "B/op"}, target: 1,
	},
	{
		what: "host validate: a 200 KB config, 2000 processors on one cpu, memory allocated", num: ref{"plan.Plan2000ProcessorsConfig", "B/op"},
		baseline: "100 MB (the target, allocated)", den: ref{"config.HostileConfigTarget100MB", "B/op"}, target: 1,
	},
	{
		what: "real 2KiB c2 (filecoin-ffi), in the plugin's child process", num: ref{"ffi.RealSeal2KiB", "c2-child-ns/op"},
		baseline: "same call in one process (direct)", den: ref{"ffi.RealSeal2KiB", "c2-direct-ns/op"}, target: 1.05,
	},
	{
		what: "real 2KiB c2 through host seal (run time on the processor)", num: ref{"ffi.RealSeal2KiB", "c2-host-ns/op"},
		baseline: "same call in one process (direct)", den: ref{"ffi.RealSeal2KiB", "c2-direct-ns/op"}, target: 1.05,
	},
	{
		what: "real 2KiB pc1 (tens of ms), child process", num: ref{"ffi.RealSeal2KiB", "pc1-child-ns/op"},
		baseline: "direct; the difference is the child's start", den: ref{"ffi.RealSeal2KiB", "pc1-direct-ns/op"},
	},
	{
		what: "real 2KiB pc1 through host seal", num: ref{"ffi.RealSeal2KiB", "pc1-host-ns/op"},
		baseline: "direct", den: ref{"ffi.RealSeal2KiB", "pc1-direct-ns/op"},
	},
	{
		what: "real 2KiB pc2, child process", num: ref{"ffi.RealSeal2KiB", "pc2-child-ns/op"},
		baseline: "direct", den: ref{"ffi.RealSeal2KiB", "pc2-direct-ns/op"},
	},
	{
		what: "real 2KiB pc2 through host seal", num: ref{"ffi.RealSeal2KiB", "pc2-host-ns/op"},
		baseline: "direct", den: ref{"ffi.RealSeal2KiB", "pc2-direct-ns/op"},
	},
	{
		what: "real 2KiB c1, child process", num: ref{"ffi.RealSeal2KiB", "c1-child-ns/op"},
		baseline: "direct", den: ref{"ffi.RealSeal2KiB", "c1-direct-ns/op"},
	},
	{
		what: "real 2KiB c1 through host seal", num: ref{"ffi.RealSeal2KiB", "c1-host-ns/op"},
		baseline: "direct", den: ref{"ffi.RealSeal2KiB", "c1-direct-ns/op"},
	},
	{
		what: "one filecoin-ffi call in a child process (fixed cost)", num: ref{"ffi.RealChildStart", "ns/op"},
		baseline: "the same near-empty call in-process", den: ref{"ffi.RealChildStart", "direct-ns/op"},
	},
}

// arbiterRows are issue 14's grid: the blocking face against one
// x/sync/semaphore per lock, at 1 to 4096 goroutines taking one lock, or
// two of 4 or 16 at once (target under 3 in every cell); the arbiter's own
// time at 4096 goroutines against 8 (flat in waiters: under 1.5); and one
// goroutine alone on one lock (uncontended: under 3). Beside them, for
// reading the flatness rows: the semaphores' own growth, and the event
// face the host uses, flat or not without goroutine wake-ups.
func arbiterRows() []row {
	var out []row
	cell := func(locks, waiters int) string {
		return fmt.Sprintf("arbiter.AcquireRelease/locks=%d/waiters=%d", locks, waiters)
	}
	what := func(locks int) string {
		if locks == 1 {
			return "1 lock"
		}
		return fmt.Sprintf("2 of %d locks", locks)
	}
	out = append(out, row{
		what: "arbiter acquire+release, uncontended (1 lock, 1 goroutine)", num: ref{cell(1, 1), "ns/op"},
		baseline: "x/sync semaphore.Weighted(1)", den: ref{cell(1, 1), "sem-ns/op"}, target: 3,
	})
	for _, locks := range []int{1, 4, 16} {
		for _, waiters := range []int{8, 64, 512, 4096} {
			out = append(out, row{
				what: fmt.Sprintf("arbiter acquire+release, %s, %d waiters", what(locks), waiters), num: ref{cell(locks, waiters), "ns/op"},
				baseline: "one x/sync semaphore per lock", den: ref{cell(locks, waiters), "sem-ns/op"}, target: 3,
			})
		}
		if locks > 1 {
			out = append(out, row{
				what: fmt.Sprintf("arbiter acquire+release, %s, 1 goroutine", what(locks)), num: ref{cell(locks, 1), "ns/op"},
				baseline: "one x/sync semaphore per lock", den: ref{cell(locks, 1), "sem-ns/op"}, target: 3,
			})
		}
	}
	for _, locks := range []int{1, 4, 16} {
		out = append(out, row{
			what: fmt.Sprintf("arbiter acquire+release, %s, 4096 waiters", what(locks)), num: ref{cell(locks, 4096), "ns/op"},
			baseline: "the same at 8 waiters", den: ref{cell(locks, 8), "ns/op"}, target: 1.5,
		})
		// The same for the semaphores: how much of the growth above is
		// waking goroutines, which they pay too.
		out = append(out, row{
			what: fmt.Sprintf("x/sync semaphores alone, %s, 4096 waiters", what(locks)), num: ref{cell(locks, 4096), "sem-ns/op"},
			baseline: "the same at 8 waiters", den: ref{cell(locks, 8), "sem-ns/op"},
		})
	}
	// The face the host's dispatcher drives: Submit and Release from one
	// loop, no goroutine parked in the arbiter, so the arbiter's own work
	// alone, with 4096 requests waiting against 8.
	for _, locks := range []int{1, 4, 16} {
		out = append(out, row{
			what:     fmt.Sprintf("arbiter release+submit (the dispatcher's face), %s, 4096 waiting", what(locks)),
			num:      ref{fmt.Sprintf("arbiter.EventFace/locks=%d/waiting=4096", locks), "ns/op"},
			baseline: "the same at 8 waiting", den: ref{fmt.Sprintf("arbiter.EventFace/locks=%d/waiting=8", locks), "ns/op"}, target: 1.5,
		})
	}
	return out
}
