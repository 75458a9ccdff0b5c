package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
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

// object reads raw, which must be exactly one JSON object.
func object(raw []byte) (fields, error) {
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
		if err := json.Unmarshal(raw, p); err != nil {
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
		if err := json.Unmarshal(raw, p); err != nil {
			return fmt.Errorf("%s: want an integer 0..2^64-1, got %s", key, shortText(raw))
		}
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %v", key, unwrapJSON(err))
	}
	return nil
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
	if len(t) == 0 || t[0] != '[' {
		return nil, fmt.Errorf("want an array of integers 0..255, got %s", kind(raw))
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
