package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/sdk"
)

// FuzzResponseLines feeds arbitrary bytes, as the processor's stdout after
// its ready line, to the reader that answers calls, with requests 1, 2
// and 3 in flight. Whatever comes, it must not panic or block, answer a
// call at most once, answer only calls the input names, and hand a caller
// either a JSON value or an error that names the processor. The line
// bound is small here so that too-long lines are explored too.
func FuzzResponseLines(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"err_msg":null,"output":true}`,
		`{"id":2,"err_msg":"no GPU","output":null}` + "\n" + `{"id":3,"output":{"proof":[1,2,3]}}`,
		`{"id":1,"err_msg":null,"output":null}`,
		`{"id":1}`,
		`{"id":1,"err_msg":5}`,
		`{"id":1,"err_msg":null,"output":` + "\n" + `{"id":1,"err_msg":null,"output":true}`,
		`{"id":"1","output":true}`,
		`{"id":-1,"output":true}`,
		`{"id":18446744073709551616,"output":true}`,
		`{"id":1,"id":2,"output":true}`,
		`not json at all`,
		`[1,2,3]`,
		`{"id":2,"output":"` + strings.Repeat("x", 2000) + `"}`,
		"\n\n\r\n",
		`{"id":3,"output":true}` + "\n" + `{"id":3,"output":false}`,
		`{"id":1,"output":true}{"id":2,"output":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &child{
			spec:    childSpec{Stage: "pc2", Bin: "/fuzz/pc2", Log: hclog.NewNullLogger()},
			pending: map[uint64]chan result{},
			tail:    newLineTail(stderrTailLines, maxStderrLine),
			ready:   make(chan firstLine, 1),
			exited:  make(chan struct{}),
			dead:    make(chan struct{}),
		}
		close(c.exited)
		chans := map[uint64]chan result{}
		for id := uint64(1); id <= 3; id++ {
			chans[id] = c.register(id)
		}
		in := append([]byte("pc2 processor ready\n"), data...)
		done := make(chan struct{})
		go func() { defer close(done); c.readLoop(bytes.NewReader(in), 1024) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the reader blocked (a call answered twice?)")
		}
		if f := <-c.ready; f.line != "pc2 processor ready" || f.err != nil {
			t.Fatalf("ready line %q, %v", f.line, f.err)
		}
		for id, ch := range chans {
			var r result
			select {
			case r = <-ch:
			default:
				continue // not answered: still pending, which a dying child fails
			}
			if !bytes.Contains(data, []byte(strconv.FormatUint(id, 10))) {
				t.Errorf("call %d answered (%v) by input that never names it", id, r.err)
			}
			if r.err != nil {
				var se *sdk.Error
				if !errors.As(r.err, &se) || !strings.Contains(se.Message, "damocles pc2 processor /fuzz/pc2") {
					t.Errorf("call %d: error %v does not name the processor", id, r.err)
				}
				continue
			}
			if !json.Valid(r.output) || string(bytes.TrimSpace(r.output)) == "null" {
				t.Errorf("call %d: output %q is not a JSON value", id, r.output)
			}
		}
	})
}
