package damocles

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// unsealTask is an unseal task as damocles-worker sends it.
var unsealTask = `{"registered_proof":"StackedDrg2KiBV1_1","prover_id":` + proverID1000 + `,"sector_id":7,"comm_d":` + ints(1, 32) +
	`,"ticket":` + ints(100, 32) + `,"cache_dir":"/d/cache/s-t01000-7","sealed_file":"/d/sealed/s-t01000-7","unsealed_output":"/d/out/piece","offset":1016,"num_bytes":1016}`

func TestUnsealCodec(t *testing.T) {
	c, err := Lookup("unseal")
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.DecodeTask(json.RawMessage(unsealTask))
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*sealv1.UnsealRequest)
	if r.GetSector().GetMinerId() != 1000 || r.GetSector().GetSectorNumber() != 7 || r.GetSector().GetRegisteredSealProof() != 5 ||
		r.GetOffset() != 1016 || r.GetNumBytes() != 1016 || r.GetUnsealedPath() != "/d/out/piece" || !strings.HasPrefix(r.GetUnsealedCid(), "baga6ea4seaq") {
		t.Fatalf("request %v", r)
	}
	enc, err := c.EncodeTask(r)
	if err != nil || string(enc) != unsealTask {
		t.Fatalf("encoded\n%s (%v)\nwant\n%s", enc, err, unsealTask)
	}
	out, err := c.EncodeOutput(r, &sealv1.UnsealResponse{NumBytes: 1016})
	if err != nil || string(out) != "1016" {
		t.Fatalf("output %s, %v", out, err)
	}
	if _, err := c.DecodeOutput(r, json.RawMessage(`{"n":1}`)); err == nil || !strings.Contains(err.Error(), "number of bytes written") {
		t.Fatalf("object output: %v", err)
	}
	if _, err := c.DecodeTask(json.RawMessage(strings.Replace(unsealTask, `"unsealed_output":"/d/out/piece",`, "", 1))); err == nil || !strings.Contains(err.Error(), "unsealed_output is missing") {
		t.Fatalf("missing output path: %v", err)
	}
}
