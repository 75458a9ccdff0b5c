package damocles

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// windowPoStTask is a window_post task as damocles-worker sends it
// (serde's encodings: 32-byte values as integer arrays, the proof type by
// variant name).
var windowPoStTask = `{"miner_id":1000,"proof_type":"StackedDrgWindow32GiBV1_2","replicas":[` +
	`{"sector_id":7,"comm_r":` + ints(1, 32) + `,"cache_dir":"/c/s-t01000-7","sealed_file":"/s/s-t01000-7"},` +
	`{"sector_id":9,"comm_r":` + ints(2, 32) + `,"cache_dir":"/c/s-t01000-9","sealed_file":"/s/s-t01000-9"}],"seed":` + ints(4, 32) + `}`

// windowPoStOut is its output: base64 SnarkProofs and faulty sectors.
const windowPoStOut = `{"proofs":["AAEC"],"faults":[]}`

func TestWindowPoStCodec(t *testing.T) {
	c, err := Lookup("window_post")
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.DecodeTask(json.RawMessage(windowPoStTask))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sealv1.WindowPoStRequest)
	if req.GetMinerId() != 1000 || req.GetRegisteredPostProof() != 13 || len(req.GetRandomness()) != 32 || len(req.GetSectors()) != 2 {
		t.Fatalf("request %v", req)
	}
	s := req.GetSectors()[1]
	if s.GetSectorNumber() != 9 || s.GetRegisteredSealProof() != 8 || s.GetCachePath() != "/c/s-t01000-9" || !strings.HasPrefix(s.GetSealedCid(), "bagboea4b5abc") {
		t.Fatalf("sector %v", s)
	}
	enc, err := c.EncodeTask(req)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != windowPoStTask {
		t.Errorf("encoded task\n%s\nwant\n%s", enc, windowPoStTask)
	}

	for _, tc := range []struct {
		name string
		resp *sealv1.WindowPoStResponse
		want string
	}{
		{"proofs", &sealv1.WindowPoStResponse{Proofs: []*sealv1.PoStProof{{RegisteredPostProof: 13, Proof: []byte{0, 1, 2}}}}, windowPoStOut},
		{"faults", &sealv1.WindowPoStResponse{FaultySectors: []uint64{9}}, `{"proofs":[],"faults":[9]}`},
		{"nothing", &sealv1.WindowPoStResponse{}, "neither proofs nor faulty sectors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.EncodeOutput(req, tc.resp)
			if strings.HasPrefix(tc.want, "{") {
				if err != nil || string(out) != tc.want {
					t.Fatalf("output %s, %v; want %s", out, err, tc.want)
				}
				back, err := c.DecodeOutput(req, out)
				if err != nil || !proto.Equal(back, tc.resp) {
					t.Fatalf("decoded back %v, %v; want %v", back, err, tc.resp)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}

	for _, bad := range []struct{ task, want string }{
		{strings.Replace(windowPoStTask, "StackedDrgWindow32GiBV1_2", "StackedDrgWinning32GiBV1", 1), "is a winning PoSt proof"},
		{strings.Replace(windowPoStTask, "StackedDrgWindow32GiBV1_2", "StackedDrgWindow32GiBV1_1", 1), "is not a PoSt proof"},
		{`{"miner_id":1,"proof_type":"StackedDrgWindow2KiBV1","replicas":[],"seed":` + ints(4, 32) + `}`, "replicas is empty"},
		{strings.Replace(windowPoStTask, `"cache_dir":"/c/s-t01000-9",`, "", 1), "replicas[1]: cache_dir is missing"},
	} {
		if _, err := c.DecodeTask(json.RawMessage(bad.task)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("decoding %s: %v, want %q", bad.task[:60], err, bad.want)
		}
	}
}
