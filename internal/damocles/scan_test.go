package damocles

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The fast readers (scan.go, splitObject, intsOf, uintOf, stringOf) must
// agree with encoding/json on every input: what they accept, encoding/json
// accepts the same way, and what they refuse goes the slow way.

var scanSeeds = []string{
	`{"id":1,"task":` + c2Task + `}`, pc1Task, windowPoStTask, `{}`, ` { } `, `[]`, `[1,2,3]`, `{"a":[{"b":null}],"c":"\u00e9\n"}`,
	`{"a":1,"a":2}`, `{"a":1,}`, `[1,]`, `{"a"}`, `{"a":1} x`, `"\ud800"`, `"\x"`, `-0`, `-01`, `1.`, `1.5e+3`, `1e`, `tru`, `nul`,
	"\"a\x01\"", `{"\u0061":1,"a":2}`, "{\"\xff\":1}", `[255,0, 7 ,256]`, `[01]`, `[-1]`, `[1.0]`, `[ ]`, `18446744073709551615`,
	`18446744073709551616`, strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func FuzzScan(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid %v", b, got, want)
		}
		fast, ok := splitObject(b)
		slow, err := objectErr(b)
		switch {
		case ok && err != nil:
			t.Fatalf("splitObject took %q, the Decoder says %v", b, err)
		case ok:
			if len(fast.m) != len(slow.m) {
				t.Fatalf("keys %v, Decoder %v", fast.m, slow.m)
			}
			for k, v := range slow.m {
				if !bytes.Equal(fast.m[k], v) {
					t.Fatalf("key %q: %q, Decoder %q", k, fast.m[k], v)
				}
			}
		case err == nil:
			t.Fatalf("splitObject refused %q, which the Decoder reads", b)
		}
		t2 := bytes.TrimSpace(b)
		if v, ok := intsOf(t2); ok {
			if s, err := intsSlow(t2, -1); err != nil || !bytes.Equal(v, s) {
				t.Fatalf("intsOf(%q) = %v, slow %v, %v", b, v, s, err)
			}
		}
		if n, ok := uintOf(b); ok {
			var m uint64
			if err := json.Unmarshal(b, &m); err != nil || m != n {
				t.Fatalf("uintOf(%q) = %d, json %d, %v", b, n, m, err)
			}
		}
		if s, ok := stringOf(b); ok {
			var m string
			if err := json.Unmarshal(b, &m); err != nil || m != s {
				t.Fatalf("stringOf(%q) = %q, json %q, %v", b, s, m, err)
			}
		} else if valid(b) && bytes.HasPrefix(b, []byte(`"`)) && bytes.HasSuffix(b, []byte(`"`)) {
			t.Fatalf("stringOf refused the string %q", b)
		}
	})
}

// TestScanSeeds runs the seeds in every `go test`, with what they check
// spelled out for the ones that matter.
func TestScanSeeds(t *testing.T) {
	for _, tc := range []struct {
		in    string
		valid bool
	}{
		{`{"a":1,}`, false}, {`[1,]`, false}, {`-01`, false}, {`1.`, false}, {`1e`, false}, {`"\x"`, false}, {"\"a\x01\"", false},
		{`{"a":1} x`, false}, {`"\ud800"`, true}, {`-0`, true}, {`1.5e+3`, true}, {"{\"\xff\":1}", true},
		{strings.Repeat("[", 10000) + strings.Repeat("]", 10000), true}, {strings.Repeat("[", 10001) + strings.Repeat("]", 10001), false},
	} {
		name := tc.in
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			if got := valid([]byte(tc.in)); got != tc.valid || got != json.Valid([]byte(tc.in)) {
				t.Errorf("valid = %v, want %v (json.Valid %v)", got, tc.valid, json.Valid([]byte(tc.in)))
			}
		})
	}
	if _, err := object([]byte(`{"a":1,"a":2}`)); err == nil || !strings.Contains(err.Error(), `key "a" is given twice`) {
		t.Errorf("duplicate key: %v", err)
	}
	if _, err := object([]byte(`{"\u0061":1,"a":2}`)); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate key, one escaped: %v", err)
	}
	if _, err := readInts([]byte(`[1,256]`), -1); err == nil || !strings.Contains(err.Error(), "element 1") {
		t.Errorf("readInts [1,256]: %v", err)
	}
}
