package config

import (
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
	// A parsed file lets hcl name the enclosing block ("in processor
	// "pc2""); the parse's own diagnostics are already in diags.
	file, _ := hclsyntax.ParseConfig(src, cfgFile, hcl.InitialPos)
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
		if err := tw.WriteDiagnostic(&c); err != nil {
			return err
		}
	}
	return nil
}
