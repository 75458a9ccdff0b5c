// Package vcinterop tests `host processor` against damocles' own producer:
// the Rust crate vc-processors (crates.io, pinned in Cargo.toml), which
// damocles-worker uses to spawn and talk to external processors. The Rust
// program in src/ sends batches of damocles tasks through it; the Go test
// here lays out sectors, starts a host on plugins/mock
// (testdata/host.hcl), and drives every stage vc-processors 0.2.1 has a
// task for through that driver, as damocles would: four sectors sealed
// (tree_d, pc1, pc2, c2; c1 goes through the task API directly: damocles
// runs c1 in-process), then for each an update's pieces added, encoded
// and proved, and WindowPoSt and WinningPoSt over the sealed and the
// updated replicas. The crate has no unseal task, so unseal is not driven.
//
// Why the output types are written out in src/main.rs rather than taken
// from the crate: its builtin types come with its builtin feature, which
// pulls rust-fil-proofs 12. So they mirror the crate's (and its proofs
// API's) serde forms field for field, and the test shows they are strict
// enough to matter: a fake processor (the test binary itself) answering
// in other encodings is not read, as damocles-worker would not read it.
// damocles-worker drops such an answer and waits for ever; the driver
// waits VCINTEROP_TIMEOUT seconds and says so instead.
//
// What the mock cannot give, the test says and stands in for: the mock
// writes no p_aux, where `host processor` reads snap_encode's
// comm_r_last_new, so the test first has that refused, then writes the
// p_aux files rust-fil-proofs would leave. Each answer is also compared
// with the task API's for the same request, so a translation that reads
// well but means another sector or piece fails too.
//
// The test is behind the build tag interop because it needs the Rust
// driver built first; `make test-interop` (part of `make test`) builds it
// with cargo, its target folder cached outside the clone, and runs it.
package vcinterop
