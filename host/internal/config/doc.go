// Package config decodes sealhost's config file, config.hcl, strictly.
//
// The file is HCL2 (github.com/hashicorp/hcl/v2). It declares the sector
// size, plugin binaries, named counting locks, per-stage limits and
// staggers, the lock arbiter's policy, the processors (one plugin process
// serving one sealing stage on a cpuset) and optional simulation inputs.
// The schema is in issue 2 of the project; config.hcl at the repository root
// is a commented example.
//
// Strict means what damocles-worker is not: an unknown attribute or block, a
// wrong type, a bad size, duration or cpu list, a duplicate name, an unknown
// stage, and a reference to an undeclared plugin or lock are all errors.
// damocles ignores unknown keys and treats an unknown lock name as "no
// lock", so a typo there silently lets two stages share a GPU; here it stops
// the file from loading.
//
// Parse reports every problem of the file at once, in file order, each as an
// hcl.Diagnostic with a Subject range on the offending text and a stable
// code in its Extra (see Code and CodeOf), so tests and tools match on codes
// rather than wording. WriteDiagnostics prints them with file:line,col and
// the quoted source line.
//
// What needs the machine (cpus, NUMA nodes and GPUs present, L3 groups) is
// not checked here: package plan does that, with the codes declared in this
// package. Data flows one way: config, then plan, then run.
package config
