package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Bounds, the task API's own (host/internal/daemon): a path longer than
// PATH_MAX names nothing, and a sector holds at most 256 deals.
const (
	maxString = 4096
	maxPieces = 512
)

// fields is a JSON object read key by key, so a key given twice is seen.
type fields struct {
	m map[string]json.RawMessage
}

// object reads raw, which must be exactly one JSON object. Its values
// are slices of raw, not copies: a line is read into a buffer of its own
// (LineReader) and a c1out is up to 100 MB.
func object(raw []byte) (fields, error) {
	if f, ok := splitObject(raw); ok {
		return f, nil
	}
	return objectErr(raw)
}

// splitObject is object for a valid object whose keys are all distinct,
// which is what a peer sends, in one pass of scan.go's scanner.
// encoding/json's Decoder walks an object token by token and copies each
// value, ten times slower, and `host processor` pays that on every task it
// forwards. ok is false for anything else; objectErr then says what is
// wrong.
func splitObject(raw []byte) (f fields, ok bool) {
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return fields{}, false
	}
	f = fields{m: make(map[string]json.RawMessage, 8)}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return f, skipSpace(raw, i+1) == len(raw)
	}
	for {
		start := i
		if i = scanKey(raw, i); i < 0 {
			return fields{}, false
		}
		key, ok := stringOf(raw[start:scanString(raw, start)])
		if !ok {
			return fields{}, false
		}
		end := scanValue(raw, i)
		if end < 0 {
			return fields{}, false
		}
		if _, dup := f.m[key]; dup {
			return fields{}, false
		}
		f.m[key] = raw[i:end:end]
		i = skipSpace(raw, end)
		switch {
		case i < len(raw) && raw[i] == '}':
			return f, skipSpace(raw, i+1) == len(raw)
		case i < len(raw) && raw[i] == ',':
			i = skipSpace(raw, i+1)
		default:
			return fields{}, false
		}
	}
}

// stringOf reads a valid JSON string token: without escapes and in valid
// UTF-8 its bytes are the string (encoding/json would give the same);
// otherwise encoding/json unescapes it.
func stringOf(tok []byte) (string, bool) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return "", false
	}
	if in := tok[1 : len(tok)-1]; plainString(in) {
		return string(in), true
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return "", false
	}
	return s, true
}

// plainString reports whether in, a string token's inside, holds no quote,
// escape or control character and is valid UTF-8: then it is the string.
func plainString(in []byte) bool {
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(in)
}

// objectErr is object the slow way, token by token, for its errors.
func objectErr(raw []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fields{}, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fields{}, fmt.Errorf("want a JSON object, got %s", kind(raw))
	}
	f := fields{m: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fields{}, jsonErr(err)
		}
		key := tok.(string) // inside an object the decoder yields only string keys
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fields{}, jsonErr(err)
		}
		if _, dup := f.m[key]; dup {
			return fields{}, fmt.Errorf("key %q is given twice", key)
		}
		f.m[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return fields{}, jsonErr(err)
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(raw[off:])) > 0 {
		return fields{}, fmt.Errorf("text after the object at byte %d: %s", off+1, shortText(raw[off:]))
	}
	return f, nil
}

func jsonErr(err error) error {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("%v at byte %d", se, se.Offset)
	}
	if err.Error() == "EOF" || err.Error() == "unexpected EOF" {
		return fmt.Errorf("cut short (%v)", err)
	}
	return err
}

// raw returns key's value, which must be present and not null.
func (f fields) raw(key string) (json.RawMessage, error) {
	v, ok := f.m[key]
	if !ok {
		return nil, fmt.Errorf("%s is missing", key)
	}
	if isNull(v) {
		return nil, fmt.Errorf("%s is null", key)
	}
	return v, nil
}

// get decodes key's value into v (a *uint64, *string or a type of this
// package); the key is required.
func (f fields) get(key string, v any) error {
	raw, err := f.raw(key)
	if err != nil {
		return err
	}
	switch p := v.(type) {
	case *string:
		var ok bool
		if *p, ok = stringOf(raw); !ok {
			return fmt.Errorf("%s: want a string (a path), got %s", key, kind(raw))
		}
		if len(*p) > maxString {
			return fmt.Errorf("%s is %d bytes long, at most %d are taken (PATH_MAX)", key, len(*p), maxString)
		}
		if *p == "" {
			return fmt.Errorf("%s is empty", key)
		}
		return nil
	case *uint64:
		if n, ok := uintOf(raw); ok {
			*p = n
			return nil
		}
		if err := json.Unmarshal(raw, p); err != nil {
			return fmt.Errorf("%s: want an integer 0..2^64-1, got %s", key, shortText(raw))
		}
		return nil
	case json.Unmarshaler:
		// raw is one valid value (object checked it): what
		// json.Unmarshal would do, without its second scan.
		if err := p.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %v", key, unwrapJSON(err))
	}
	return nil
}

// uintOf reads a JSON integer of digits alone, as encoding/json reads one
// into a uint64 (strconv.ParseUint); anything else is not ok.
func uintOf(raw []byte) (uint64, bool) {
	if len(raw) == 0 || len(raw) > 20 || raw[0] == '0' && len(raw) > 1 {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	return n, err == nil
}

// unwrapJSON drops encoding/json's "json: error calling UnmarshalJSON for
// type ..." wrapping, whose type names mean nothing to an operator.
func unwrapJSON(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}

// kind names the JSON type of raw, for messages.
func kind(raw []byte) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number " + shortText(t)
}

func shortText(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Bytes32 is a 32-byte value (prover id, ticket, commitment) as serde
// writes [u8; 32]: an array of exactly 32 integers 0..255.
type Bytes32 [32]byte

func (b Bytes32) MarshalJSON() ([]byte, error) { return intArray(b[:]), nil }

func (b *Bytes32) UnmarshalJSON(raw []byte) error {
	v, err := readInts(raw, 32)
	if err != nil {
		return err
	}
	copy(b[:], v)
	return nil
}

// Bytes is a byte vector as serde writes Vec<u8>: an array of integers
// 0..255 (not base64).
type Bytes []byte

func (b Bytes) MarshalJSON() ([]byte, error) { return intArray(b), nil }

func (b *Bytes) UnmarshalJSON(raw []byte) error {
	v, err := readInts(raw, -1)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

func intArray(b []byte) []byte {
	out := make([]byte, 0, 4*len(b)+2)
	out = append(out, '[')
	for i, c := range b {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(c), 10)
	}
	return append(out, ']')
}

// readInts reads an array of integers 0..255, of exactly n when n ≥ 0.
func readInts(raw []byte, n int) ([]byte, error) {
	t := bytes.TrimSpace(raw)
	if out, ok := intsOf(t); ok && (n < 0 || len(out) == n) {
		return out, nil
	}
	return intsSlow(t, n)
}

// intsSlow is readInts by encoding/json, for its messages.
func intsSlow(t []byte, n int) ([]byte, error) {
	if len(t) == 0 || t[0] != '[' {
		return nil, fmt.Errorf("want an array of integers 0..255, got %s", kind(t))
	}
	var v []json.RawMessage
	if err := json.Unmarshal(t, &v); err != nil {
		return nil, fmt.Errorf("want an array of integers 0..255: %v", unwrapJSON(err))
	}
	if n >= 0 && len(v) != n {
		return nil, fmt.Errorf("has %d integers, want exactly %d", len(v), n)
	}
	out := make([]byte, len(v))
	for i, x := range v {
		var c uint8
		if err := json.Unmarshal([]byte(x), &c); err != nil {
			return nil, fmt.Errorf("element %d is %s, want an integer 0..255", i, shortText(x))
		}
		out[i] = c
	}
	return out, nil
}

// intsOf reads an array of integers 0..255 written as serde writes it
// (digits, commas, maybe blanks), byte by byte: encoding/json took one
// Unmarshal per element, and every task carries a few 32-byte values.
// Anything else is not ok; readInts then reads it the slow way and names
// what is wrong.
func intsOf(t []byte) ([]byte, bool) {
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return nil, false
	}
	out := make([]byte, 0, len(t)/2)
	i := skipSpace(t, 1)
	if i == len(t)-1 {
		return out, true
	}
	for {
		j, v := i, 0
		for j < len(t) && t[j] >= '0' && t[j] <= '9' && j-i < 4 {
			v = v*10 + int(t[j]-'0')
			j++
		}
		if j == i || v > 255 || (t[i] == '0' && j-i > 1) {
			return nil, false
		}
		out = append(out, byte(v))
		i = skipSpace(t, j)
		switch {
		case i == len(t)-1:
			return out, true
		case t[i] != ',':
			return nil, false
		}
		i = skipSpace(t, i+1)
	}
}
