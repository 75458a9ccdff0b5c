// Package seal drives synthetic committed-capacity sectors through a host's
// five stages, tree_d → pc1 → pc2 → c1 → c2, the way a sealing manager
// does, to prove that a box and its config work end to end: `host seal`.
//
// Prepare lays out each sector's files as lotus does before PC1 (a staged
// file of the sector size reading as zeros, an empty sealed file, a fresh
// cache folder), with one zero piece of the full size whose piece CID is
// computed for real (ZeroPieceCID) and tickets and seeds drawn from a seed,
// so runs repeat. Run submits every sector at once, each stage as soon as
// the sector's previous stage answered, through a Host: ClientHost wraps
// the task API client (sdk/client), tests use a fake. The host's dispatcher
// decides what runs when; Run only records each call's processor, wait and
// run time, and the Summary aggregates them per stage (lower median and
// maximum) with the host's lock shares, and per sector comm_d, comm_r, the
// proof's size and whether the c2 plugin verified it (C2Response.verified,
// the plugin's word: the host has no verifier). A sector that fails stops
// at that stage with its error; the others go on.
//
// Progress counts calls per stage while a run goes on; Renderer draws it
// as bars redrawn in place with ANSI cursor movement on a terminal, or as
// one plain line a second when something changed (logs, CI). Written by
// hand: five lines of bars do not justify a terminal UI dependency.
package seal
