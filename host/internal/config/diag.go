package config

import (
	"bytes"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Coder is implemented by the Extra of every diagnostic this project emits,
// so tools can match on a stable code instead of on message text.
type Coder interface {
	DiagnosticCode() string
}

// Code is a stable diagnostic code. Put one in hcl.Diagnostic.Extra.
type Code string

// DiagnosticCode implements Coder.
func (c Code) DiagnosticCode() string { return string(c) }

// Codes used by this package. Package plan adds the machine-dependent ones
// listed after them; they are declared here so the whole stable set is in
// one place.
const (
	// CodeConfig: HCL syntax or schema (unknown names, wrong types, bad
	// values, duplicates).
	CodeConfig Code = "config"
	// CodeUnknownPlugin: a processor names a plugin no plugin block declares.
	CodeUnknownPlugin Code = "unknown-plugin"
	// CodeUnknownLock: a processor names a lock no lock block declares.
	// damocles silently treats that as "no lock"; we refuse.
	CodeUnknownLock Code = "unknown-lock"

	CodeCPUNotPresent        Code = "cpu-not-present"
	CodeNUMANotPresent       Code = "numa-not-present"
	CodeGPUNotPresent        Code = "gpu-not-present"
	CodePC1PartialL3         Code = "pc1-partial-l3"
	CodeCPUSetNUMAMismatch   Code = "cpuset-numa-mismatch"
	CodePC1UnitsShort        Code = "pc1-units-short"
	CodeGPUSharedWithoutLock Code = "gpu-shared-without-lock"
	CodeCPUOverlap           Code = "cpu-overlap"
	CodeObsoleteEnv          Code = "obsolete-env"
	CodeLimitUnreachable     Code = "limit-unreachable"
	CodeMemoryOvercommit     Code = "memory-overcommit"
	// CodePluginNotRunnable: a plugin's path is missing, not a regular
	// executable file, or its arguments are beyond exec's limits (checked
	// when planning for this machine).
	CodePluginNotRunnable Code = "plugin-not-runnable"
)

// codedExtra attaches a code to a diagnostic that hcl itself produced while
// keeping hcl's own Extra reachable through hcl.DiagnosticExtra.
type codedExtra struct {
	Code
	inner interface{}
}

func (e codedExtra) UnwrapDiagnosticExtra() interface{} { return e.inner }

// CodeOf returns the stable code of d: the code of the first Coder found in
// its Extra chain, or "config" when there is none (hcl's own syntax and
// schema diagnostics).
func CodeOf(d *hcl.Diagnostic) string {
	if d == nil {
		return string(CodeConfig)
	}
	if c, ok := hcl.DiagnosticExtra[Coder](d); ok {
		return c.DiagnosticCode()
	}
	return string(CodeConfig)
}

// withCode gives every diagnostic without a code the code c.
func withCode(diags hcl.Diagnostics, c Code) hcl.Diagnostics {
	for _, d := range diags {
		if _, ok := hcl.DiagnosticExtra[Coder](d); ok {
			continue
		}
		if d.Extra == nil {
			d.Extra = c
		} else {
			d.Extra = codedExtra{Code: c, inner: d.Extra}
		}
	}
	return diags
}

// WriteDiagnostics writes diags for a person: each one as
//
//	Error: config.hcl:12,14-20: Unknown lock [unknown-lock]
//
//	  on config.hcl line 12, in processor "c2":
//	  12:   locks = ["gpu3"]
//
//	No lock block declares "gpu3". …
//
// using hcl's text writer, so the source line is quoted and, when color is
// true, the offending text is highlighted. cfgFile and src are the config
// file's name (as given to Parse) and bytes; diagnostics about other files are
// written without a source line.
func WriteDiagnostics(w io.Writer, cfgFile string, src []byte, diags hcl.Diagnostics, color bool) error {
	// hcl's writer scans the file from its start for every diagnostic; a
	// real config is a few KB, but a huge or binary -config made `host
	// validate` take minutes. Above bigFile each diagnostic is shown
	// against a file holding only its own lines (without the name of the
	// enclosing block, which needs the parsed file).
	big := len(src) > bigFile
	// A parsed file lets hcl name the enclosing block ("in processor
	// "pc2""); the parse's own diagnostics are already in diags.
	var file *hcl.File
	if !big && !checkBounds(src, cfgFile).HasErrors() { // a file Parse refused unparsed stays unparsed
		file, _ = hclsyntax.ParseConfig(src, cfgFile, hcl.InitialPos)
	}
	if file == nil {
		file = &hcl.File{Bytes: src}
	}
	files := map[string]*hcl.File{cfgFile: file}
	tw := hcl.NewDiagnosticTextWriter(w, files, 78, color)
	for _, d := range diags {
		if d == nil {
			continue
		}
		// The location and code go into the summary line: hcl's writer
		// prints only "on FILE line N", and operators (and editors) want
		// file:line,col they can jump to.
		c := *d
		c.Summary = fmt.Sprintf("%s [%s]", d.Summary, CodeOf(d))
		if d.Subject != nil {
			c.Summary = d.Subject.String() + ": " + c.Summary
		}
		out := tw
		if big && d.Subject != nil && d.Subject.Filename == cfgFile {
			var snip *hcl.File
			snip, c.Subject = snippet(src, *d.Subject)
			c.Context = nil
			out = hcl.NewDiagnosticTextWriter(w, map[string]*hcl.File{cfgFile: snip}, 78, color)
		}
		if err := out.WriteDiagnostic(&c); err != nil {
			return err
		}
	}
	return nil
}

// bigFile is the size above which WriteDiagnostics renders each
// diagnostic against its own lines only.
const bigFile = 64 << 10

// snippet returns a file holding only the lines r spans, preceded by as
// many empty lines as come before them (so hcl prints the right line
// number), and r moved onto it.
func snippet(src []byte, r hcl.Range) (*hcl.File, *hcl.Range) {
	start := r.Start.Byte
	if start < 0 || start > len(src) {
		start = len(src)
	}
	end := r.End.Byte
	if end < start || end > len(src) {
		end = start
	}
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[end:], '\n'); i >= 0 {
		lineEnd = end + i
	}
	pad := max(r.Start.Line-1, 0)
	b := make([]byte, 0, pad+lineEnd-lineStart)
	b = append(b, bytes.Repeat([]byte{'\n'}, pad)...)
	b = append(b, src[lineStart:lineEnd]...)
	moved := r
	moved.Start.Byte = pad + start - lineStart
	moved.End.Byte = pad + end - lineStart
	return &hcl.File{Bytes: b}, &moved
}
