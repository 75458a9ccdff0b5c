// Package statusview renders a host's status (taskv1.StatusResponse) as
// text for a terminal: a headline (instance, pid, uptime, and loudly when
// plugins run unconfined or the host is draining), then one table each for
// processors, stages, running tasks and locks, so an operator finds at a
// glance what runs, what waits and what failed. `host status` prints it;
// `host status -json` prints the message itself.
package statusview
