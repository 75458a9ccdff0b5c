// Package daemon is the run-time of `host run`: it turns a checked config
// into running, confined, supervised processors and serves the task API
// (package sdk/proto/taskv1) on a unix socket.
//
// Data flows one way. The caller loads the config and refuses it when the
// plan has errors (host/cmd_run.go); Start then cleans cgroups left by a
// host that died, builds the dispatcher and lock arbiter (package
// dispatch), listens and serves, and only then prepares one cgroup per
// processor (checking plugin digests) and starts its plugin through
// package supervise. Until a processor's plugin runs, status shows it
// starting and its tasks wait for it; a processor whose cgroup cannot be
// made still fails Start, and the calls that came meanwhile are refused
// (Unavailable).
//
// # One task
//
// A stage call waits in the dispatcher until a processor of its stage has a
// free slot, the stage is under its limit and stagger, and the processor's
// locks are granted; it then runs through supervise.Processor.Do and
// releases everything when it ends. The caller going away (its context)
// frees a waiting task's place at once; a running one's slot and locks
// stay held until its plugin call has ended (or the plugin is killed
// after the cancel grace), since the plugin may still be using the GPU
// they stand for, and `host status` shows it as cancelling. When a plugin dies,
// supervise fails its in-flight tasks at once and calls OnExit; the host
// then drops the processor from the dispatcher, which frees their slots
// and locks, and puts it back once a new instance runs. A task handed to a
// processor that is lost before the task reached its plugin (the plugin
// failed to start) never ran, so it goes back to waiting. Waiting tasks of
// a stage whose processors have all failed (a crash loop) are refused, and
// so are new ones, until a processor re-arms after its cool-down and its
// plugin runs again; `host status` says when that is.
//
// A caller may give a task a deadline (client.WithDeadline, the
// sealhost-deadline header); the tasks of an urgent stage (arbiter {
// urgent = [...] }, PoSt) wait by it and their lock requests go before
// the fair order. With arbiter { preempt = {...} }, a running task the
// arbiter chooses for an urgent one is cancelled like a task whose caller
// left (its slot and locks stay held until the plugin's call ends, so the
// GPU is free when the urgent task gets it), and goes back to waiting,
// its work lost: `host status` shows it as preempting, then counts it per
// stage, and so do the metrics. The caller sees one answer, from the run
// that finished.
//
// Each call gets exactly one answer: the plugin's response, or a gRPC
// status with a sealv1.Error detail (message, retryable) whose code says
// who failed:
//
//	Aborted             the plugin died during the task (retryable)
//	DeadlineExceeded    the processor's task timeout
//	Canceled            the caller gave up
//	Unavailable         the host is draining (retryable)
//	FailedPrecondition  every processor of the stage is in a crash loop
//	Unimplemented       no processor serves the stage
//	anything else       the plugin's own answer, passed through
//
// # Shutdown
//
// Shutdown drains: new calls and calls still waiting are refused
// (Unavailable, retryable), running tasks get the grace period to finish,
// then are cancelled (CancelledAtShutdown counts them; `host run` then
// exits 1); the server stops, every processor is stopped, its cgroup
// emptied and removed, the socket unlinked. Until it is unlinked, a
// client that connects during the teardown is answered "host is shutting
// down" (Unavailable, retryable) for every call, never "no such file". A host that is
// SIGKILLed instead leaves its plugins to their parent-death signal and its
// cgroups to the next start's cleanup.
//
// # The socket
//
// The socket is created mode 0600 (the umask is narrowed while it is
// made, so there is no window where it is wider), or 0660 with
// Options.SocketGroup. A live host already answering on the path is an
// error; a dead one's leftover socket file is replaced.
//
// # Metrics
//
// With Options.MetricsAddr the host serves Prometheus metrics at /metrics
// from its own registry (see metrics.go for the names).
package daemon
