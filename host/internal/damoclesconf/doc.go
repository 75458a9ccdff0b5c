// Package damoclesconf translates a damocles-worker config file (TOML) into
// an equivalent sealhost config.hcl, for `host import`.
//
// Only the [processors] section has a sealhost counterpart: the per-stage
// external processors ([[processors.STAGE]]), the stage limits
// (limitation.concurrent, or the older processors.limit), the start
// staggers (limitation.staggered) and the named locks (ext_locks). The rest
// of a worker config — sealing threads, stores, the manager's address — stays
// with damocles-worker, which keeps running above the host; it is reported
// as "not translated" at info level, never as an error.
//
// Why a translator rather than a second config syntax: damocles reads its
// TOML leniently. An unknown key, a typo in a lock name or an undeclared lock
// is silently ignored (an undeclared lock means "no limit at all"), and
// processors confine themselves from environment variables they may ignore.
// sealhost refuses all of those. A translation that quietly carried the
// file over would keep the operator's mistakes hidden, so every place where
// the sealhost config behaves differently from what damocles did is a
// diagnostic with the TOML file:line,col of the key that caused it and what
// to do: errors (nothing is written), warnings (written, but it behaves
// differently: read it) and infos (written or left to damocles as is).
//
// Positions come from go-toml's AST (github.com/pelletier/go-toml/v2
// unstable), values from its decoder, which also refuses what TOML refuses
// (a repeated key, a redefined table) with its own line. The decoded file is
// checked against damocles-worker's own schema (damocles 4235a895,
// damocles-worker/src/config.rs and sealing/processor/external/config.rs):
// where damocles' serde would refuse a value (a string where it wants a
// number), the import refuses it too, since damocles could not have run it.
//
// The choices where the two do not match one to one:
//
//   - A processor without bin is damocles' built-in, filecoin-ffi based: it
//     becomes plugins/ffi. One with bin runs through the damocles bridge
//     plugin (plugins/damocles), one plugin block per distinct stage,
//     binary, arguments and stable_wait, with args = ["-stage", STAGE,
//     ("-stable-wait", D,) "--", BIN, ARGS...]; damocles' default arguments
//     ("processor STAGE") are written out, since the bridge does not assume
//     them. A block whose bin is sealhost's own `host processor` is left
//     out: it is the damocles side of a migration already made.
//   - concurrent unset means unbounded in damocles (only the stage limit and
//     the processor's locks cap it); sealhost's default is 1. The import
//     writes the bound damocles really had — the smallest of the stage limit
//     and the capacities of the processor's locks — and warns when there was
//     none.
//   - A lock no ext_locks entry declares is declared with capacity 1 (what
//     listing a lock is for), with a warning: damocles gave it no limit.
//   - Environment variables rust-fil-proofs ignores (package plan's
//     obsolete-env list) are dropped, with a warning; VC_CG_* and
//     VENUS_WORKER_NUMA_PREFERRED are dropped because the host confines the
//     process itself (cpuset and numa_preferred).
//   - auto_restart = false and stable_wait on a built-in processor have no
//     counterpart: sealhost always restarts a dead plugin with backoff.
//
// The written config is decoded by package config before it is returned,
// so a translation bug shows up as an import error, never as a config that
// `host validate` refuses.
package damoclesconf
