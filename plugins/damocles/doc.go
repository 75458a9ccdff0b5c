// Command damocles is a sealhost plugin that runs a damocles-worker
// external processor — any binary speaking damocles' processor protocol,
// often closed-source — as its child, and serves that processor's stage
// to the host. An operator keeps the pc2 or c2 processor he already has
// and gains what sealhost adds around it: confinement from the first
// instruction, fair locks, timeouts, restarts and host status.
//
// Why a child of the plugin: the host confines the plugin's process in
// the processor's cgroup (cpuset, memory limit, NUMA preference) before
// the plugin runs, and a child inherits all of it. So the damocles
// processor is confined exactly like any plugin, without the VC_CG_* and
// VENUS_WORKER_NUMA_PREFERRED variables damocles-worker would set to ask
// the child to confine itself; those are removed from its environment if
// present. The rest of the environment is the plugin's, i.e. what the
// processor block's env and inherit_env made.
//
// Configuration is the plugin block's args, one plugin block per damocles
// processor (damocles, too, runs one binary per stage):
//
//	plugin "damocles-pc2" {
//	  path = "bin/plugins/damocles"
//	  args = ["-stage", "pc2", "-stable-wait", "5s", "--", "/opt/bin/pc2", "processor", "pc2"]
//	}
//	processor "pc2" {
//	  plugin = "damocles-pc2"
//	  env    = { CUDA_VISIBLE_DEVICES = "0" }
//	}
//
// The binary runs with exactly the arguments after it; damocles' default
// ("processor STAGE" when a block has no args) is not assumed.
//
// Lifecycle. The child is started before the plugin answers the host's
// handshake, and its first stdout line must be "STAGE processor ready"
// within -stable-wait (default 5 s, damocles' stable_wait). A missing or
// wrong ready line fails the plugin's start with the line quoted and the
// child's last stderr lines, so the host reports it and retries with
// backoff. Keep -stable-wait well below the host's plugin start timeout
// (1 min).
//
// Calls. Each sealhost call becomes one damocles request with the next
// id (from 1, growing across respawns), encoded by internal/damocles; many
// calls are in flight at once over the one child (the processor block's
// concurrent), and answers are matched by id in whatever order they come.
// An answer with err_msg fails its call, not retryable (damocles' protocol
// has no retry flag), quoting the message after the stage and binary, and
// with a fix when the message names a cause this plugin knows (a missing
// path, permissions, a full disk, the GPU; failed.go). An output of the
// wrong shape fails the call saying what is wrong with it. A stdout line that answers no request in flight
// (not JSON, no readable id, an id nobody waits for) is logged and
// skipped, as damocles-worker does; a line with the id of a call in flight
// that cannot be read otherwise fails that call, so it does not wait for
// ever.
//
// Cancellation. Damocles' protocol cannot cancel one request, and the sdk
// reports a call as running (Info's running_calls, which the host keeps
// a cancelled task's locks on) until its handler returns. So a cancelled
// call returns only when its work has stopped: alone in the child, it
// kills the child at once; sharing it, it waits -cancel-grace (default
// 5 s, below the host's 10 s cancel grace) for its own answer, and then
// kills the child, failing the other calls as retryable with the reason.
// The child is respawned.
//
// Child death. When the child exits, every call it held fails at once as
// retryable, with its exit status or signal and its last stderr lines,
// and a new child is started. A pc2 is the exception: it encodes the
// sealed file in place, so one cut short leaves the file half-encoded and
// a retry over it seals wrong data (damocles#837); its task names no
// staged file to restore from, so such a pc2 fails as not retryable,
// saying what to restore (so does a pc2 whose processor was killed to
// stop it after a cancel) — unless the cache holds damocles-worker's
// .pc2_running marker, whose worker restores the file itself before it
// retries. A child that cannot be started again, or
// dies more than 5 times within a minute (deaths this plugin caused to
// stop a cancelled call do not count), ends the plugin instead: the host
// then restarts it with backoff or marks the processor failed, with the
// reason in its status. The child runs in its own process group, killed
// whole, and gets SIGKILL when the plugin dies.
//
// Proofs (c2, snap_prove, window_post, winning_post) come back
// unverified: the protocol says nothing about verification, and this
// plugin has no verifier; the responses' verification says so, naming
// the binary.
//
// Where a damocles task says less than sealhost's request, the plugin
// makes up the difference or refuses, never guesses. add_pieces: a damocles
// processor writes its pieces back to back, so the zero pieces sealhost's
// add_pieces aligns and fills with are sent as pledge pieces, and the
// answer must hold one piece per piece sent (zero pieces with the zero
// commitment, a piece with a piece_cid that CID) and leave the staged file
// the sector size. snap_encode: the processor's comm_r_last_new has no
// field in the answer; `host processor` reads it from the new cache's
// p_aux, so it must agree with the p_aux the processor wrote. snap_prove:
// the task carries only vanilla proofs, so a request without them is
// refused with what to do, and one naming files that are not there is
// refused too (its proofs are of those). The proof type a snap or PoSt
// task names stands for its sectors' seal proofs, which must be of its
// size.
//
// testdata/fakeproc is a damocles processor with FAKE results and knobs
// to misbehave, which the tests run this plugin against.
package main
