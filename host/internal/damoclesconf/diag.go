package damoclesconf

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sealhost/sealhost/host/internal/termtext"
)

// Severity says what a diagnostic means for the written config.
type Severity int

const (
	// Info: translated as is, or left to damocles; nothing changes.
	Info Severity = iota
	// Warning: written, but sealhost behaves differently from damocles
	// there. Read it before running the config.
	Warning
	// Error: the file cannot be translated; nothing is written.
	Error
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "Error"
	case Warning:
		return "Warning"
	}
	return "Info"
}

// Code is a stable diagnostic code, for tests and tools to match on.
type Code string

const (
	// CodeTOML: not TOML, or a file too big to be a worker config.
	CodeTOML Code = "toml"
	// CodeBadValue: a value damocles itself would refuse, or one sealhost
	// cannot express (a cpu list it cannot read, an env name that is not
	// one).
	CodeBadValue Code = "bad-value"
	// CodeNotTranslated: a section damocles keeps handling (sealing
	// threads, stores, rpc…), or a limit for a stage that stays in damocles.
	CodeNotTranslated Code = "not-translated"
	// CodeUnknownKey: a key damocles does not know, so it ignores it
	// silently (often a typo).
	CodeUnknownKey Code = "unknown-key"
	// CodeUnsupportedStage: a processor for a stage sealhost does not run.
	CodeUnsupportedStage Code = "unsupported-stage"
	// CodeUndeclaredLock: a processor lists a lock ext_locks does not
	// declare (damocles: no limit); declared here with capacity 1.
	CodeUndeclaredLock Code = "undeclared-lock"
	// CodeObsoleteEnv: a variable rust-fil-proofs ignores; dropped.
	CodeObsoleteEnv Code = "obsolete-env"
	// CodeEnvInvalid: a rust-fil-proofs setting the proofs cannot use.
	CodeEnvInvalid Code = "env-invalid"
	// CodeHostOwned: confinement damocles delegated to the child (VC_CG_*,
	// VENUS_WORKER_NUMA_PREFERRED, cgroup.group_name) that the host now
	// does itself.
	CodeHostOwned Code = "host-owned"
	// CodeConcurrent: how many tasks a processor runs at once differs, or
	// was implicit in damocles.
	CodeConcurrent Code = "concurrent"
	// CodeRestart: auto_restart, which sealhost has no switch for.
	CodeRestart Code = "auto-restart"
	// CodeStableWait: stable_wait, damocles' ready timeout.
	CodeStableWait Code = "stable-wait"
	// CodeInheritEnv: inherit_envs = false passes a little more under
	// sealhost.
	CodeInheritEnv Code = "inherit-envs"
	// CodeBridge: a processor with its own binary, run through the damocles
	// bridge plugin.
	CodeBridge Code = "bridge"
	// CodeSharedLock: a lock held by processors of several stages, which
	// sealhost's arbiter shares fairly where damocles' was greedy.
	CodeSharedLock Code = "shared-lock"
	// CodeInternal: the written config did not load: a bug of the import.
	CodeInternal Code = "internal"
	// CodeSectorSize: where the written sector_size came from.
	CodeSectorSize Code = "sector-size"
)

// Diagnostic is one thing the operator should know about the translation,
// at the TOML key that caused it.
type Diagnostic struct {
	Severity Severity
	Code     Code
	// Pos is where the key is written; Line 0 for the file as a whole.
	Pos Position
	// Key is the TOML path of that key, e.g. processors.pc2[0].locks[1];
	// empty for the file as a whole.
	Key     string
	Summary string
	// Detail says what damocles did, what sealhost does, and what to do.
	Detail string
}

// Diagnostics is the result's list, in file order.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an Error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Count returns how many diagnostics of severity s there are.
func (ds Diagnostics) Count(s Severity) int {
	n := 0
	for _, d := range ds {
		if d.Severity == s {
			n++
		}
	}
	return n
}

func (ds Diagnostics) sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Summary is one line counting the diagnostics by severity: "2 warnings,
// 5 notes", or "no behaviour changes".
func (ds Diagnostics) Summary() string {
	var parts []string
	for _, s := range []struct {
		sev        Severity
		one, other string
	}{{Error, "error", "errors"}, {Warning, "warning", "warnings"}, {Info, "note", "notes"}} {
		switch n := ds.Count(s.sev); n {
		case 0:
		case 1:
			parts = append(parts, "1 "+s.one)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, s.other))
		}
	}
	if len(parts) == 0 {
		return "no behaviour changes"
	}
	return strings.Join(parts, ", ")
}

// Write prints ds for a person, each as
//
//	Warning: damocles.toml:14,10: Obsolete environment variable dropped [obsolete-env]
//	  14 | envs = { FIL_PROOFS_MAXIMIZE_CACHING="1", … }
//	  processors.pc1[0].envs.FIL_PROOFS_MAXIMIZE_CACHING: … Remove it.
//
// the shape `host validate` uses for config.hcl, so an editor can jump to
// file:line,col. src is the TOML file (quoted lines are cleaned of terminal
// control sequences: the file may come from anyone).
func (ds Diagnostics) Write(w io.Writer, file string, src []byte) error {
	lines := strings.Split(string(src), "\n")
	for _, d := range ds {
		loc := file
		if d.Pos.Line > 0 {
			loc = fmt.Sprintf("%s:%d,%d", file, d.Pos.Line, d.Pos.Column)
		}
		if _, err := fmt.Fprintf(w, "%s: %s: %s [%s]\n", d.Severity, loc, d.Summary, d.Code); err != nil {
			return err
		}
		if d.Pos.Line > 0 && d.Pos.Line <= len(lines) {
			text := clip(termtext.Clean(strings.TrimRight(lines[d.Pos.Line-1], "\r")), 200)
			if _, err := fmt.Fprintf(w, "  %d | %s\n", d.Pos.Line, text); err != nil {
				return err
			}
		}
		detail := d.Detail
		if d.Key != "" {
			detail = d.Key + ": " + detail
		}
		if _, err := fmt.Fprintf(w, "%s\n", wrap(termtext.Clean(detail), "  ", 78)); err != nil {
			return err
		}
	}
	return nil
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + "…"
		}
		i++
	}
	return s
}

// wrap breaks text into lines of at most width columns (a word longer
// than that stays whole), each starting with indent.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	col := 0
	for _, word := range strings.Fields(text) {
		n := len([]rune(word))
		switch {
		case col == 0:
			b.WriteString(indent)
			col = len(indent)
		case col+1+n > width:
			b.WriteString("\n" + indent)
			col = len(indent)
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += n
	}
	b.WriteByte('\n')
	return b.String()
}
