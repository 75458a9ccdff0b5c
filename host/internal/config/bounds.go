package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Bounds checked before a file is parsed. hcl's parser recurses once per
// nesting level and renders each diagnostic against the whole file, so a
// hostile or mistaken input (100,000 nested parentheses, a binary file)
// would overflow the stack or take minutes. The largest real config, for a
// 128-core box, is a few KB with a nesting depth under 5.
const (
	MaxFileSize = 1 << 20
	MaxNesting  = 64
	// MaxDiagnostics is how many diagnostics Parse returns; the rest are
	// counted in one last diagnostic. Nobody reads a thousand errors, and
	// the first ones usually cause the rest.
	MaxDiagnostics = 50
)

// checkBounds returns an error diagnostic when src is larger than
// MaxFileSize or nests brackets deeper than MaxNesting (outside strings
// and comments), at the place the limit is crossed.
func checkBounds(src []byte, filename string) hcl.Diagnostics {
	if len(src) > MaxFileSize {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Config file too large",
			Detail:   fmt.Sprintf("%s is over %d bytes (1 MiB), the most a config may be; a real one is a few KB. Is -config the right file?", filename, MaxFileSize),
			Extra:    CodeConfig,
		}}
	}
	pos := hcl.InitialPos
	depth := 0
	const (
		code = iota
		str
		lineComment
		blockComment
	)
	state := code
	for i := 0; i < len(src); i++ {
		c := src[i]
		next := byte(0)
		if i+1 < len(src) {
			next = src[i+1]
		}
		switch state {
		case code:
			switch {
			case c == '"':
				state = str
			case c == '#', c == '/' && next == '/':
				state = lineComment
			case c == '/' && next == '*':
				state = blockComment
			case c == '(' || c == '[' || c == '{':
				depth++
				if depth > MaxNesting {
					return hcl.Diagnostics{{
						Severity: hcl.DiagError,
						Summary:  "Nesting too deep",
						Detail:   fmt.Sprintf("Brackets nest more than %d deep here; a config needs a handful. Check for an unclosed or repeated bracket.", MaxNesting),
						Subject:  &hcl.Range{Filename: filename, Start: pos, End: hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + 1}},
						Extra:    CodeConfig,
					}}
				}
			case c == ')' || c == ']' || c == '}':
				if depth > 0 {
					depth--
				}
			}
		case str:
			if c == '\\' {
				i++
				pos.Byte++
				pos.Column++
			} else if c == '"' || c == '\n' {
				state = code
			}
		case lineComment:
			if c == '\n' {
				state = code
			}
		case blockComment:
			if c == '*' && next == '/' {
				state = code
				i++
				pos.Byte++
				pos.Column++
			}
		}
		pos.Byte++
		pos.Column++
		if c == '\n' {
			pos.Line++
			pos.Column = 1
		}
	}
	return nil
}

// CapDiagnostics keeps the first MaxDiagnostics and adds one that counts
// the others, of the same severity as the worst of them.
func CapDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) <= MaxDiagnostics {
		return diags
	}
	rest := diags[MaxDiagnostics:]
	sev := hcl.DiagWarning
	for _, d := range rest {
		if d.Severity == hcl.DiagError {
			sev = hcl.DiagError
		}
	}
	// It points where the hidden ones start, so an editor can jump there.
	var at *hcl.Range
	for _, d := range rest {
		if d.Subject != nil {
			at = d.Subject
			break
		}
	}
	out := append(hcl.Diagnostics{}, diags[:MaxDiagnostics]...)
	return append(out, &hcl.Diagnostic{
		Severity: sev,
		Subject:  at,
		Summary:  fmt.Sprintf("… and %d more", len(rest)),
		Detail:   fmt.Sprintf("%d more diagnostics are not shown; fix the ones above first, they often cause the rest.", len(rest)),
		Extra:    CodeConfig,
	})
}
