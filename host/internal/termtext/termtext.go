package termtext

import (
	"strings"
	"unicode"
)

// Clean returns s with every terminal control sequence and control
// character removed, except newline and tab. An ESC starts a sequence
// whose end is found as terminals find it (CSI up to its final byte, OSC
// up to BEL or ST, others after one byte), so nothing of it is printed.
// Other text, UTF-8 included, is kept as it is.
func Clean(s string) string {
	if !needsCleaning(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == 0x1b: // ESC
			i = skipEscape(rs, i)
		case r == 0x9b: // 8-bit CSI
			i = skipCSI(rs, i+1)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			// A bare CR lets later text overwrite earlier text.
		case unicode.IsControl(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsCleaning(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' { // C0, DEL and C1 (8-bit CSI 0x9b)
			return true
		}
	}
	return false
}

// skipEscape returns the index of the last rune of the sequence that the
// ESC at i starts.
func skipEscape(rs []rune, i int) int {
	if i+1 >= len(rs) {
		return i
	}
	switch rs[i+1] {
	case '[':
		return skipCSI(rs, i+2)
	case ']', 'P', '_', '^': // OSC, DCS, APC, PM: up to BEL or ESC \
		for j := i + 2; j < len(rs); j++ {
			if rs[j] == 0x07 {
				return j
			}
			if rs[j] == 0x1b && j+1 < len(rs) && rs[j+1] == '\\' {
				return j + 1
			}
		}
		return len(rs) - 1
	}
	return i + 1
}

// skipCSI returns the index of a CSI sequence's final byte (0x40–0x7e),
// its parameters starting at j.
func skipCSI(rs []rune, j int) int {
	for ; j < len(rs); j++ {
		if rs[j] >= 0x40 && rs[j] <= 0x7e {
			return j
		}
	}
	return len(rs) - 1
}
