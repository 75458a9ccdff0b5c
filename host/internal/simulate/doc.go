// Package simulate predicts what a config produces by running the real
// dispatcher (package dispatch) and lock arbiter (package arbiter) on a
// virtual clock over the damocles sealing pipeline. It backs `host
// simulate`.
//
// # Model
//
// Each sector passes tree_d → pc1 → pc2 → wait seed → c1 → c2. At most
// sealing_threads sectors are in flight; when one finishes, its sealing
// thread starts the next after Request.Turnaround (`host simulate` passes
// one minute, sealcalc's, unless told otherwise with -turnaround). Each
// stage runs in one of three ways:
//
//   - processors: the stage has processor blocks. Each task goes through
//     the dispatcher and holds a processor slot, a place under the stage
//     limit, the stagger and its processor's locks for its duration.
//   - in-worker: no processor, but the simulation block gives a duration.
//     The stage runs inside the sealing thread with no limit, as c1 does in
//     damocles-worker. Waiting for the seed is always of this kind.
//   - skipped: neither processor nor simulation duration. The built-in
//     table never brings in a stage without processors, so a config
//     without a simulation block simulates exactly what it configures.
//
// Durations come from the simulation block, else from the built-in table
// for the sector size (durations.go cites its sources). Without
// sealing_threads, the simulator picks enough sectors to keep the slowest
// stage busy (Little's law; see sealingThreads). Events at the same instant
// happen in the order they were scheduled, and timeline points are taken
// after everything at their minute, so a result counts everything up to and
// including its minute. The same request always gives the same result.
//
// # PoSt and preemption
//
// The simulation block's post block adds proving to the sealing: a
// WindowPoSt deadline opens every window_post_every (default 30m, from
// the start) with window_post_partitions tasks (default 1), each due
// window_post_deadline (30m) after it opens; each 30-second epoch is won
// with probability winning_post_per_day ÷ 2880 (default 10 a day), from a
// fixed seed so runs compare, and each win is a WinningPoSt due
// winning_post_deadline (25s) later. They go through Core.SubmitDeadline
// to the processors of window_post and winning_post, which must exist:
// the same dispatcher and arbiter, so the urgent class and its bounds act
// as in `host run`. Without a post block, a config with window_post or
// winning_post processors runs the default workload for the stages it
// serves (Defaults says so: the GPUs those processors share are not
// simulated as if they only sealed); a sealing-only config's results do
// not move.
//
// With arbiter.preempt, the dispatcher names running sealing tasks to
// preempt (Core.OnPreempt); the simulation does what the real host does:
// it cancels each at once, its work so far lost, and submits it again, to
// wait (that wait counts in the stage's waits) and run from the start.
// The loss is counted per victim stage and checked against the arbiter's
// own count. Preemption costs sealing throughput, so the tests show where
// it pays: a WinningPoSt sharing a GPU with a backlogged c2 waits up to a
// c2 hold (15 min) and misses its 25 s without it, and starts within the
// bound with it; a WindowPoSt has 30 minutes and meets them without.
// Urgent work is never preempted for urgent work, so a WinningPoSt on the
// GPU a WindowPoSt runs on may wait one WindowPoSt (4 min) even so.
//
// # Agreement with sealcalc
//
// Where the models overlap — no locks, no limits beyond concurrency, whole
// minutes — the simulator finishes the same sectors at the same minutes as
// damocles-worker-util's sealcalc, given sealcalc's one-minute turnaround
// (its loop hands a finished sector's thread back after tree_d's turn).
// sealcalc_test.go checks this against an independent reference model.
//
// # Bound
//
// Result.Bound is what the layout's resources allow at most, in sectors a
// day, before any queueing (bound.go): each dispatched stage's slots × a
// day ÷ its duration; each lock's capacity × a day ÷ the time a sector
// holds it; with the machine (Request.Plan), each GPU's day ÷ the GPU time
// a sector needs from it, and the pc1 tasks memory holds × a day ÷ pc1's
// duration; and the sealing threads × a day ÷ a sector's whole cycle. The
// PoSt workload's expected time a day on a lock or GPU comes off that
// lock's or GPU's day first (preempted work lost does not: the bound stays
// an upper one). A lock or GPU serves some of a stage's processors, so the time a sector
// needs from it depends on how the stage's tasks split over them: by
// concurrency, as the least-loaded dispatcher splits alike processors,
// unless the run split them otherwise by more than 5% (then the run's
// split, counting tasks that were not preempted), and at the run's split
// for every stage when the run beat the bound read so (PoSt on one of
// alike GPUs moves a few percent of sealing off it), so a run never beats
// its bound — except where pc1 runs more tasks than its
// multicore SDR units: the simulator runs those at full speed, the bound
// counts only the units, and an achieved fraction above 1 says the run is
// optimistic. The lowest limit is the bound, those within 0.1%
// of it bind (the physical one named first, the bottleneck), and Achieved
// is the run's sectors a day over it: the first hours of a run fill the
// pipeline, so 30 days reach ~99%.
//
// # Output
//
// Result is the JSON of `host simulate -json`: finished, sectors_per_day,
// the bound, the defaults applied (sealing_threads picked, durations from
// the built-in table), the pipeline as simulated, a timeline of running
// and waiting tasks per stage, per-stage done/utilization/wait quantiles
// (tasks still waiting at the end count with the wait so far, so
// starvation shows) and backlog (mean, most and last of the timeline's
// waiting counts), and per-lock busy fraction, idle-while-waiting time
// (from the arbiter's own measurement), share of busy time per stage and
// grants; with a post block, per PoSt stage the tasks submitted, done,
// missed and pending at the end, and waits in seconds (post), and per
// stage preempted the tasks and minutes of work lost (preempted).
// WriteText leads with sectors a day against the bound and every
// limit, then waits and backlogs, PoSt and preemption, locks, the
// pipeline and the defaults;
// the timeline only on request. WriteComparison puts fair, fifo and
// greedy side by side (ComparePolicies). WriteSVG shows each lock's
// holders, PoSt's too (bars averaged to at least 10 px, 12 h each over 30
// days) and
// each stage's backlog over time, in hours.
package simulate
