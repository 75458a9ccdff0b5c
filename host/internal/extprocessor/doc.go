// Package extprocessor is `host processor STAGE`: sealhost as one of
// damocles-worker's external processors. The worker starts it, reads its
// ready line, and sends it tasks as JSON lines (internal/damocles); each
// task is forwarded to a running sealhost host through the task API
// (sdk/client) and answered, in damocles' encoding, as soon as it
// finishes, so answers come out of order as damocles expects.
//
// Why an adapter and not a processor of its own: the host already owns
// confinement (cgroups, cpuset, NUMA), fair locks, stage limits, timeouts
// and restarts. The adapter adds none of them and confines nothing itself;
// the VC_CG_* and VENUS_WORKER_NUMA_PREFERRED variables the worker sets for
// self-confining children are logged as ignored, since obeying them would
// pin the adapter, not the work, and fight the host's own cgroups.
//
// What it promises the worker, whose wait for an answer has no timeout:
// every request whose id can be read is answered — one that cannot be
// decoded with an err_msg saying why (damocles' own consumer logs such a
// request and never answers it, which leaves the sector stuck); a line
// without a readable id is logged to stderr and skipped. A host that is
// down, or goes away during a task, answers that task at once with an
// err_msg that says "retryable"; so does one that hangs (stopped,
// wedged), once the client's keepalive ping (`host processor -keepalive`)
// goes unanswered. stdin's end (the worker dropping us) cancels every call
// in flight and exits. damocles' outputs cannot say that a proof (c2,
// snap_prove, the PoSts) went unverified, or that it is the mock's FAKE
// one: the log line of its answer, on the stderr the worker shows, says
// so with the plugin's note.
//
// pc2 retries (damocles#837). pc2 encodes the sealed file in place, so a
// pc2 cut short leaves it half-encoded, and a retry over it computes a
// wrong comm_r ("Invalid vanilla proof" at c1). The task names neither the
// staged file nor anything to restore the sealed file from, so only the
// worker can restore it, and damocles-worker does: it deletes p_aux, t_aux,
// tree-c* and tree-r-last* before each pc2 and, when its .pc2_running
// marker shows an earlier pc2 started, copies the staged file over the
// sealed one. The adapter deletes the same cache files too (they may be
// left by a host-side run the worker never saw end), and when the worker's
// marker is absent — a damocles-worker from before that fix — it keeps a
// marker of its own and refuses a pc2 that follows an unfinished one, with
// the manual fix in the message, rather than seal over a half-encoded file.
// Two tasks for one sector's files at once are refused as well.
//
// The stages after c2 (snap_encode, snap_prove, winning_post, add_pieces)
// carry a few values the task API has no field for, and the adapter never
// guesses one: it answers an err_msg naming it. snap_encode's output needs
// comm_r_last_new, which SnapEncodeResponse lacks; it is read from the new
// cache's p_aux, where rust-fil-proofs' encode_into writes it, and a p_aux
// that is missing (an older proofs library, the mock), of another sector
// or older than the new replica fails the task with that said. add_pieces
// takes what sealv1.PieceFile can say — a local file holding the whole
// piece, or zeros — so a piece at a URL, or a payload shorter than its
// piece (damocles pads it with zeros), is refused; its answer lists every
// piece in the staged file, the host's aligning and filling zero pieces
// included, which is what damocles' pc1 then reads. snap_prove carries its
// vanilla proofs and names no file, so one without them is refused.
package extprocessor
