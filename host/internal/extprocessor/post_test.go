package extprocessor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// postHost is a fakeHost that also serves window_post: the sector 9 is
// faulty, any other proof set is one proof of the bytes 0, 1, 2.
type postHost struct {
	fakeHost
	got *sealv1.WindowPoStRequest
}

func (p *postHost) WindowPoSt(_ context.Context, r *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, client.Report, error) {
	p.got = r
	for _, s := range r.GetSectors() {
		if s.GetSectorNumber() == 9 {
			return &sealv1.WindowPoStResponse{FaultySectors: []uint64{9}}, client.Report{Processor: "window_post.0"}, nil
		}
	}
	return &sealv1.WindowPoStResponse{Proofs: []*sealv1.PoStProof{{RegisteredPostProof: r.GetRegisteredPostProof(), Proof: []byte{0, 1, 2}}}},
		client.Report{Processor: "window_post.0"}, nil
}

func postTask(sectors ...int) string {
	var reps []string
	z := "[" + strings.TrimSuffix(strings.Repeat("0,", 32), ",") + "]"
	for _, n := range sectors {
		reps = append(reps, `{"sector_id":`+string(rune('0'+n))+`,"comm_r":`+z+`,"cache_dir":"/c","sealed_file":"/s"}`)
	}
	return `{"miner_id":1000,"proof_type":"StackedDrgWindow2KiBV1_2","replicas":[` + strings.Join(reps, ",") + `],"seed":` + z + `}`
}

// TestWindowPoSt: host processor window_post forwards damocles' task to
// the task API's window_post and answers base64 proofs, or the faulty
// sectors, in damocles' output shape.
func TestWindowPoSt(t *testing.T) {
	h := &postHost{fakeHost: fakeHost{release: make(chan struct{})}}
	s := start(t, "window_post", h)
	s.send(`{"id":1,"task":` + postTask(7, 8) + `}`)
	out, err := s.next().Result()
	if err != nil || string(out) != `{"proofs":["AAEC"],"faults":[]}` {
		t.Fatalf("answer %s, %v", out, err)
	}
	if h.got.GetMinerId() != 1000 || h.got.GetRegisteredPostProof() != 10 || len(h.got.GetSectors()) != 2 || h.got.GetSectors()[1].GetSectorNumber() != 8 {
		t.Fatalf("host got %v", h.got)
	}
	s.send(`{"id":2,"task":` + postTask(7, 9) + `}`)
	out, err = s.next().Result()
	var o struct{ Faults []uint64 }
	if err != nil || json.Unmarshal(out, &o) != nil || len(o.Faults) != 1 || o.Faults[0] != 9 {
		t.Fatalf("answer with a faulty sector: %s, %v", out, err)
	}
}

// A host client without window_post (seal.Host alone) answers every task
// with an error, not a hang.
func TestWindowPoStWithoutTheCall(t *testing.T) {
	s := start(t, "window_post", &fakeHost{release: make(chan struct{})})
	s.send(`{"id":1,"task":` + postTask(7) + `}`)
	if _, err := s.next().Result(); err == nil || !strings.Contains(err.Error(), "no task API call") {
		t.Fatalf("err = %v", err)
	}
}

type unsealHost struct {
	fakeHost
	got *sealv1.UnsealRequest
}

func (u *unsealHost) Unseal(_ context.Context, r *sealv1.UnsealRequest) (*sealv1.UnsealResponse, client.Report, error) {
	u.got = r
	return &sealv1.UnsealResponse{NumBytes: r.GetNumBytes()}, client.Report{Processor: "unseal.0"}, nil
}

// TestUnseal: host processor unseal answers the bytes written, an integer,
// as damocles' unseal output is.
func TestUnseal(t *testing.T) {
	h := &unsealHost{fakeHost: fakeHost{release: make(chan struct{})}}
	s := start(t, "unseal", h)
	z := "[" + strings.TrimSuffix(strings.Repeat("0,", 32), ",") + "]"
	prover := "[232,7" + strings.Repeat(",0", 30) + "]"
	s.send(`{"id":3,"task":{"registered_proof":"StackedDrg2KiBV1_1","prover_id":` + prover + `,"sector_id":7,"comm_d":` + z + `,"ticket":` + z +
		`,"cache_dir":"/c","sealed_file":"/s","unsealed_output":"/u","offset":0,"num_bytes":2032}}`)
	out, err := s.next().Result()
	if err != nil || string(out) != "2032" {
		t.Fatalf("answer %s, %v", out, err)
	}
	if h.got.GetSector().GetMinerId() != 1000 || h.got.GetUnsealedPath() != "/u" {
		t.Fatalf("host got %v", h.got)
	}
}
