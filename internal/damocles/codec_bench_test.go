package damocles

import (
	"testing"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// BenchmarkConsumerC2 is what `host processor c2` spends in this package
// per task besides the task API call: the request line read, the task
// turned into a C2Request, the answer encoded and written as a line.
func BenchmarkConsumerC2(b *testing.B) {
	line := []byte(`{"id":12345,"task":` + c2Task + `}`)
	c, _ := Lookup("c2")
	resp := &sealv1.C2Response{Proof: make([]byte, 192)}
	b.ReportAllocs()
	for b.Loop() {
		req, _, err := DecodeRequest(line)
		if err != nil {
			b.Fatal(err)
		}
		task, err := c.DecodeTask(req.Task)
		if err != nil {
			b.Fatal(err)
		}
		out, err := c.EncodeOutput(task, resp)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeResponse(OK(req.ID, out)); err != nil {
			b.Fatal(err)
		}
	}
}
