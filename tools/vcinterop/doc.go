// Package vcinterop tests `host processor` against damocles' own producer:
// the Rust crate vc-processors (crates.io, pinned in Cargo.toml), which
// damocles-worker uses to spawn and talk to external processors. The Rust
// program in src/ sends batches of damocles tasks through it; the Go test
// here lays out sectors, starts a host on plugins/mock, and seals them
// stage by stage through that driver, as damocles would (c1 goes through
// the task API directly: damocles runs c1 in-process).
//
// The test is behind the build tag interop because it needs the Rust
// driver built first; `make test-interop` (part of `make test`) builds it
// with cargo, its target folder cached outside the clone, and runs it.
package vcinterop
