package damocles

// A JSON scanner of its own, for one reason: speed. `host processor`
// reads every task line and writes every answer through this package,
// and encoding/json's scanner (a function call per byte) took most of the
// adapter's time per task. scanValue accepts exactly what json.Valid
// accepts (FuzzScanValue holds it to that); errors are still encoding/json's,
// since a line that does not scan is read again the slow way for its
// message.

// maxDepth is encoding/json's nesting bound.
const maxDepth = 10000

// scanValue returns the index past the JSON value starting at b[i] (no
// leading blanks), or -1 when none starts there.
func scanValue(b []byte, i int) int {
	var stack []byte // open containers: '{' or '['
	for {
		// A value.
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			if i = scanString(b, i); i < 0 {
				return -1
			}
		case c == '{' || c == '[':
			if len(stack) == maxDepth {
				return -1
			}
			stack = append(stack, c)
			i = skipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i = scanKey(b, i); i < 0 {
					return -1
				}
			}
			continue
		case c == 't':
			i = literal(b, i, "true")
		case c == 'f':
			i = literal(b, i, "false")
		case c == 'n':
			i = literal(b, i, "null")
		default:
			i = scanNumber(b, i)
		}
		if i < 0 {
			return -1
		}
		// After a value: close containers, or go on to the next element.
		for {
			if len(stack) == 0 {
				return i
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			top := stack[len(stack)-1]
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if top == '{' {
					if i = scanKey(b, i); i < 0 {
						return -1
					}
				}
				break
			}
			if top == '{' && b[i] == '}' || top == '[' && b[i] == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return -1
		}
	}
}

// scanKey reads `"key" :` and the blanks after it; -1 if not there.
func scanKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// scanString returns the index past the string starting at b[i] == '"'.
// As encoding/json, it takes any byte but a control character, and only
// its escapes.
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// scanNumber returns the index past the number starting at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(b, i+1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func literal(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valid reports whether b is one JSON value, blanks around it allowed:
// json.Valid.
func valid(b []byte) bool {
	i := skipSpace(b, 0)
	end := scanValue(b, i)
	return end >= 0 && skipSpace(b, end) == len(b)
}

// compact reports whether b, valid JSON, has no blank outside a string
// either (one inside a string is reported as well: it only costs the
// caller a json.Compact).
func compact(b []byte) bool {
	for _, c := range b {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return false
		}
	}
	return true
}
