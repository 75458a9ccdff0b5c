package extprocessor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// laterHost is a fakeHost that also serves snap_encode, snap_prove,
// winning_post and add_pieces, keeping the last request of each; an
// add_pieces to a staged file named "slow-*" waits for release.
type laterHost struct {
	fakeHost
	mu  sync.Mutex
	got proto.Message
}

func (h *laterHost) keep(m proto.Message) {
	h.mu.Lock()
	h.got = m
	h.mu.Unlock()
}

func (h *laterHost) last() proto.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got
}

const (
	newCommR = "bagboea4b5abcb3mqgwo6uvv4ct7kbl6foboxy62ubmifmwd3ejd2olp6mhh4bbkq"
	newCommD = "baga6ea4seaqlvb4ohkugbihpksyycq6nkmjotj3vsp5auptsl2sfcewwpy3oeaq"
)

func (h *laterHost) SnapEncode(_ context.Context, r *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, client.Report, error) {
	h.keep(r)
	return &sealv1.SnapEncodeResponse{SealedCid: newCommR, UnsealedCid: newCommD}, client.Report{Processor: "snap_encode.0"}, nil
}

func (h *laterHost) SnapProve(_ context.Context, r *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, client.Report, error) {
	h.keep(r)
	return &sealv1.SnapProveResponse{Proof: []byte{9, 8, 7}}, client.Report{Processor: "snap_prove.0"}, nil
}

func (h *laterHost) WinningPoSt(_ context.Context, r *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, client.Report, error) {
	h.keep(r)
	return &sealv1.WinningPoStResponse{Proofs: []*sealv1.PoStProof{{RegisteredPostProof: r.GetRegisteredPostProof(), Proof: []byte{0, 1, 2}}}},
		client.Report{Processor: "winning_post.0"}, nil
}

func (h *laterHost) AddPieces(_ context.Context, r *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, client.Report, error) {
	h.keep(r)
	if strings.HasPrefix(filepath.Base(r.GetStagedPath()), "slow-") {
		<-h.release
	}
	return &sealv1.AddPiecesResponse{Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"}}},
		client.Report{Processor: "add_pieces.0"}, nil
}

func zeros() string { return "[" + strings.TrimSuffix(strings.Repeat("0,", 32), ",") + "]" }

func seq(from int) string {
	s := make([]string, 32)
	for i := range s {
		s[i] = fmt.Sprint(from + i)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// snapCache lays out what a snap_encode leaves for comm_r_last_new: the
// sector key's p_aux, the new replica, and, when written, the new cache's
// p_aux (comm_c 7…, comm_r_last 40…).
func snapCache(t *testing.T, written bool) (key, replica, cache string) {
	root := t.TempDir()
	key, replica, cache = filepath.Join(root, "cache"), filepath.Join(root, "update"), filepath.Join(root, "update-cache")
	pAux := func(c, last int) []byte {
		b := make([]byte, 64)
		for i := range 32 {
			b[i], b[32+i] = byte(c+i), byte(last+i)
		}
		return b
	}
	os.MkdirAll(key, 0o755)
	os.MkdirAll(cache, 0o755)
	os.WriteFile(filepath.Join(key, "p_aux"), pAux(7, 8), 0o644)
	os.WriteFile(replica, make([]byte, 2048), 0o644)
	if written {
		os.WriteFile(filepath.Join(cache, "p_aux"), pAux(7, 40), 0o644)
	}
	return key, replica, cache
}

func snapEncodeTask(key, replica, cache string) string {
	return fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1","new_replica_path":%q,"new_cache_path":%q,"sector_path":"/d/sealed/s-t01000-7",`+
		`"sector_cache_path":%q,"staged_data_path":"/d/unsealed/s-t01000-7","piece_infos":[{"commitment":%s,"size":2032}]}`, replica, cache, key, seq(1))
}

// TestLaterStages: each stage after c2 forwards damocles' task to its task
// API call and answers in damocles' output shape, or names what it lacks.
func TestLaterStages(t *testing.T) {
	key, replica, cache := snapCache(t, true)
	noKey, noReplica, noCache := snapCache(t, false)
	for _, tc := range []struct {
		stage, task string
		want        string // the output, or (no leading [ or {) a substring of err_msg
		check       func(t *testing.T, got proto.Message)
	}{
		{"snap_encode", snapEncodeTask(key, replica, cache), `{"comm_r_new":`, func(t *testing.T, got proto.Message) {
			r := got.(*sealv1.SnapEncodeRequest)
			if r.GetSectorKeyCachePath() != key || r.GetNewReplicaPath() != replica || r.GetRegisteredUpdateProof() != 0 || r.GetSector().GetRegisteredSealProof() != 5 ||
				r.GetSector().GetSectorNumber() != 7 || len(r.GetPieces()) != 1 || r.GetPieces()[0].GetSize() != 2048 {
				t.Errorf("host got %v", r)
			}
		}},
		{"snap_encode", snapEncodeTask(noKey, noReplica, noCache), "needs comm_r_last_new, which the task API's answer does not carry", nil},
		{"snap_prove", `{"registered_proof":"StackedDrg2KiBV1","vannilla_proofs":[[1,2],[3]],"comm_r_old":` + seq(1) + `,"comm_r_new":` + seq(2) + `,"comm_d_new":` + seq(3) + `}`,
			`[9,8,7]`, func(t *testing.T, got proto.Message) {
				if r := got.(*sealv1.SnapProveRequest); len(r.GetVanillaProofs()) != 2 || r.GetOldSealedCid() == r.GetNewSealedCid() {
					t.Errorf("host got %v", r)
				}
			}},
		{"snap_prove", `{"registered_proof":"StackedDrg2KiBV1","vannilla_proofs":[],"comm_r_old":` + seq(1) + `,"comm_r_new":` + seq(2) + `,"comm_d_new":` + seq(3) + `}`,
			"vannilla_proofs is empty", nil},
		{"winning_post", `{"miner_id":1000,"proof_type":"StackedDrgWinning2KiBV1","replicas":[{"sector_id":7,"comm_r":` + zeros() +
			`,"cache_dir":"/c","sealed_file":"/s"}],"seed":` + zeros() + `}`, `{"proofs":["AAEC"]}`, func(t *testing.T, got proto.Message) {
			if r := got.(*sealv1.WinningPoStRequest); r.GetMinerId() != 1000 || r.GetRegisteredPostProof() != 0 || len(r.GetSectors()) != 1 {
				t.Errorf("host got %v", r)
			}
		}},
		{"add_pieces", `{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":"pledge","payload_size":0,"piece_size":2032}],"staged_filepath":"/d/unsealed/s-t01000-7"}`,
			`[{"commitment":`, func(t *testing.T, got proto.Message) {
				if r := got.(*sealv1.AddPiecesRequest); r.GetStagedPath() != "/d/unsealed/s-t01000-7" || len(r.GetPieces()) != 1 || r.GetPieces()[0].GetPath() != "" {
					t.Errorf("host got %v", r)
				}
			}},
		{"add_pieces", `{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":{"url":"http://market/a"},"payload_size":2032,"piece_size":2032}],"staged_filepath":"/d/u"}`,
			"reads local files only", nil},
	} {
		t.Run(tc.stage+" "+tc.want, func(t *testing.T) {
			h := &laterHost{fakeHost: fakeHost{release: make(chan struct{})}}
			s := start(t, tc.stage, h)
			s.send(`{"id":3,"task":` + tc.task + `}`)
			out, err := s.next().Result()
			if strings.HasPrefix(tc.want, "[") || strings.HasPrefix(tc.want, "{") {
				if err != nil || !strings.HasPrefix(string(out), tc.want) {
					t.Fatalf("answer %s, %v; want %s…", out, err, tc.want)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("answer %s, %v; want an error with %q", out, err, tc.want)
			}
			if tc.check != nil {
				tc.check(t, h.last())
			}
		})
	}
}

// TestSnapEncodeCommRLast: comm_r_last_new comes from the new cache's
// p_aux, comm_r_new and comm_d_new from the host's answer.
func TestSnapEncodeCommRLast(t *testing.T) {
	key, replica, cache := snapCache(t, true)
	s := start(t, "snap_encode", &laterHost{fakeHost: fakeHost{release: make(chan struct{})}})
	s.send(`{"id":1,"task":` + snapEncodeTask(key, replica, cache) + `}`)
	out, err := s.next().Result()
	if err != nil || !strings.Contains(string(out), `"comm_r_last_new":`+seq(40)) {
		t.Fatalf("answer %s, %v; want comm_r_last_new %s", out, err, seq(40))
	}
}

// Two add_pieces into one staged file at once: the second is refused,
// retryable, rather than both writing it.
func TestAddPiecesSameStagedFile(t *testing.T) {
	h := &laterHost{fakeHost: fakeHost{release: make(chan struct{})}}
	s := start(t, "add_pieces", h)
	task := `{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[],"staged_filepath":"/d/unsealed/slow-s-t01000-7"}`
	s.send(`{"id":1,"task":` + task + `}`)
	s.send(`{"id":2,"task":` + task + `}`)
	if _, err := s.next().Result(); err == nil || !strings.Contains(err.Error(), "request 1 for the same sector files (/d/unsealed/slow-s-t01000-7) is still running") {
		t.Fatalf("second add_pieces: %v", err)
	}
	close(h.release)
	if out, err := s.next().Result(); err != nil || !strings.HasPrefix(string(out), `[{"commitment":`) {
		t.Fatalf("first add_pieces: %s, %v", out, err)
	}
}

// A host client without the later calls answers with an error, not a
// hang.
func TestLaterStagesWithoutTheCall(t *testing.T) {
	s := start(t, "winning_post", &fakeHost{release: make(chan struct{})})
	s.send(`{"id":1,"task":{"miner_id":1,"proof_type":"StackedDrgWinning2KiBV1","replicas":[{"sector_id":7,"comm_r":` + zeros() +
		`,"cache_dir":"/c","sealed_file":"/s"}],"seed":` + zeros() + `}}`)
	if _, err := s.next().Result(); err == nil || !strings.Contains(err.Error(), "no task API call") {
		t.Fatalf("err = %v", err)
	}
}
