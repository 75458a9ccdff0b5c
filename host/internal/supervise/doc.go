// Package supervise keeps one processor's plugin process alive and runs
// stage tasks on it.
//
// damocles-worker fails every in-flight task when a child exits, waits a
// fixed 3 s, respawns without limit, stops respawning for good after one
// failed respawn, and has no task timeout. A Processor instead:
//
//   - starts its plugin confined (package confine) through the real
//     go-plugin path (sdk/pluginclient), and watches it: process exit,
//     or a health service that stops answering;
//   - fails every in-flight task at once when the plugin dies, with an error
//     that says how it died (exit code or signal, last stderr lines), kills
//     whatever the plugin left in its cgroup, and tells its owner (OnExit)
//     so that the instance's lock leases are released;
//   - restarts it with exponential backoff, capped, and marks the processor
//     Failed with the reason after a run of consecutive failures (a crash
//     loop), while the rest of the host keeps working;
//   - enforces the per-task timeout: the plugin is told the deadline and has
//     a grace period to give up; a plugin that ignores cancellation is killed
//     and restarted.
//
// Each plugin process is an instance with an owner name "<processor>#<n>",
// so leases and logs of a dead instance are never confused with those of
// its successor.
package supervise
