package damocles

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		id         uint64
		idOK       bool
		err        string
	}{
		{"ok", `{"id":3,"task":` + treeDTask + `}`, 3, true, ""},
		{"blanks around", " \t" + `{"id":3,"task":{}}` + "\r", 3, true, ""},
		{"no task", `{"id":4}`, 4, true, "request 4: task is missing"},
		{"null task", `{"id":4,"task":null}`, 4, true, "task is null"},
		{"cut short", `{"id":5,"task":{"registered_proof":"Sta`, 5, true, "request 5 cannot be read: cut short"},
		{"id last, cut short", `{"task":{},"id":5`, 0, false, "not a request"},
		{"not JSON", `hello`, 0, false, "not a request"},
		{"array", `[1,2]`, 0, false, "want a JSON object"},
		{"negative id", `{"id":-1,"task":{}}`, 0, false, "id: want an integer"},
		{"id string", `{"id":"1","task":{}}`, 0, false, "id: want an integer"},
		{"id too big", `{"id":18446744073709551616,"task":{}}`, 0, false, "id: want an integer"},
		{"max id", `{"id":18446744073709551615,"task":{}}`, 1<<64 - 1, true, ""},
		{"duplicate id", `{"id":1,"id":2,"task":{}}`, 1, true, "given twice"},
		{"empty", ``, 0, false, "not a request"},
		{"text after", `{"id":6,"task":{}} x`, 6, true, "text after the object"},
		{"two objects", `{"id":6,"task":{}}{"id":7,"task":{}}`, 6, true, "text after the object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, idOK, err := DecodeRequest([]byte(tc.line))
			if idOK != tc.idOK || (idOK && req.ID != tc.id) {
				t.Errorf("id = %d, %v; want %d, %v", req.ID, idOK, tc.id, tc.idOK)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestLeadingID(t *testing.T) {
	for line, want := range map[string]int64{
		`{"id":12,"task`: 12, `{ "id" : 12 }`: 12, `{"id":12`: 12, `{"id":12x`: -1, `{"task":1,"id":2`: -1, `{"id":`: -1, `{"id":-3`: -1,
	} {
		id, ok := LeadingID([]byte(line))
		if got := map[bool]int64{true: int64(id), false: -1}[ok]; got != want {
			t.Errorf("LeadingID(%s) = %d, want %d", line, got, want)
		}
	}
}

func TestResponseLines(t *testing.T) {
	ok, err := EncodeResponse(OK(7, json.RawMessage("{\n \"proof\" : [1, 2]\n}")))
	if err != nil || string(ok) != `{"id":7,"err_msg":null,"output":{"proof":[1,2]}}`+"\n" {
		t.Errorf("OK line = %q, %v", ok, err)
	}
	fail, err := EncodeResponse(Failure(8, "pc2 <%s> & \"more\"\nline", "x"))
	if err != nil || string(fail) != `{"id":8,"err_msg":"pc2 <x> & \"more\"\nline","output":null}`+"\n" {
		t.Errorf("failure line = %q, %v", fail, err)
	}
	if _, err := EncodeResponse(OK(9, json.RawMessage("{bad"))); err == nil {
		t.Error("EncodeResponse took an output that is not JSON")
	}
	for _, tc := range []struct {
		line string
		out  string
		err  string
	}{
		{string(ok), `{"proof":[1,2]}`, ""},
		{string(fail), "", "pc2 <x>"},
		{`{"id":1,"err_msg":null,"output":null}`, "", "output field lost"},
		{`{"id":1}`, "", "output field lost"},
		{`{"id":1,"err_msg":3}`, "", "err_msg is not a string"},
	} {
		r, err := DecodeResponse([]byte(tc.line))
		if err == nil {
			var out json.RawMessage
			out, err = r.Result()
			if err == nil && string(out) != tc.out {
				t.Errorf("%s: output %s, want %s", tc.line, out, tc.out)
			}
		}
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err = %v, want %q", tc.line, err, tc.err)
		}
	}
	req, err := EncodeRequest(Request{ID: 1, Task: json.RawMessage(" " + treeDTask + "\n")})
	if err != nil || string(req) != `{"id":1,"task":`+treeDTask+"}\n" {
		t.Errorf("request line = %q, %v", req, err)
	}
	if ReadyLine("pc2") != "pc2 processor ready" {
		t.Error(ReadyLine("pc2"))
	}
}

func TestLineReader(t *testing.T) {
	long := `{"id":77,"task":"` + strings.Repeat("x", 300) + `"}`
	r := NewLineReader(strings.NewReader("a\n\nbc\n"+long+"\nd\n"+strings.Repeat("y", 100)+"\nlast"), 100)
	var got []string
	for {
		l, err := r.ReadLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrLineTooLong) {
			if id, ok := LeadingID(l); !ok || id != 77 {
				t.Errorf("too long line's prefix %q lost its id", l)
			}
			got = append(got, "TOO LONG")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(l))
	}
	want := []string{"a", "", "bc", "TOO LONG", "d", strings.Repeat("y", 100), "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", got, want)
	}
}
