package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/host/internal/seal"
)

// TestProcessorLaterStages drives `host processor` for the stages after
// c2 (snap_encode, snap_prove, winning_post, add_pieces) on a host
// running the mock, as damocles-worker does, with tasks written by hand in
// serde's forms: each answer must be damocles' output shape, or an
// err_msg that names what the task API cannot take.
func TestProcessorLaterStages(t *testing.T) {
	cfg := fmt.Sprintf(`sector_size = "2KiB"
plugin "mock" {
  path = %q
  args = ["-duration", "0s"]
}
processor "snap_encode" {
  plugin = "mock"
}
processor "snap_prove" {
  plugin = "mock"
}
processor "winning_post" {
  plugin = "mock"
}
processor "add_pieces" {
  plugin = "mock"
}
`, runTestMock)
	_, socket, hostErr := runTestStartHostConfig(t, fmt.Sprintf("hosttest-later-%d", os.Getpid()), cfg)
	env := []string{"SEALHOST_SOCKET=" + socket}
	root := t.TempDir()
	s := newWorkerSector(t, root, 7)
	// A snapped sector's files as damocles lays them out: the update file
	// (the worker creates it, sector size) and its cache, the sector key
	// (sealed file and cache, with its p_aux), the staged deal data.
	update, updateCache := filepath.Join(root, "update", "s-t01000-7"), filepath.Join(root, "update-cache", "s-t01000-7")
	for _, d := range []string{filepath.Dir(update), updateCache} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(update, make([]byte, 2048), 0o644)
	os.WriteFile(s.sealed, make([]byte, 2048), 0o644)
	pAux := func(c, last byte) []byte {
		return append(bytes.Repeat([]byte{c}, 32), bytes.Repeat([]byte{last}, 32)...)
	}
	os.WriteFile(filepath.Join(s.cache, "p_aux"), pAux(3, 4), 0o644)
	deal := filepath.Join(root, "deal.car")
	os.WriteFile(deal, bytes.Repeat([]byte{1}, 1016), 0o644)
	zero1024 := commitmentOfCID(t, seal.ZeroPieceCID(1024))

	snapTask := fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1","new_replica_path":%q,"new_cache_path":%q,"sector_path":%q,"sector_cache_path":%q,"staged_data_path":%q,"piece_infos":[{"commitment":%s,"size":2032}]}`,
		update, updateCache, s.sealed, s.cache, s.staged, serdeBytes(s.zeroComm))
	children := map[string]*damoclesChild{}
	for _, stage := range []string{"snap_encode", "snap_prove", "winning_post", "add_pieces"} {
		children[stage] = spawnDamoclesChild(t, stage, env)
	}
	var snapOut struct {
		CommRNew     []int `json:"comm_r_new"`
		CommRLastNew []int `json:"comm_r_last_new"`
		CommDNew     []int `json:"comm_d_new"`
	}
	ints := func(v []int) string {
		b := make([]byte, len(v))
		for i, x := range v {
			b[i] = byte(x)
		}
		return serdeBytes(b)
	}
	for _, tc := range []struct {
		name, stage string
		task        func() string
		before      func()
		// want: the output (a JSON prefix), or else a substring of err_msg
		want  string
		check func(t *testing.T, out json.RawMessage)
	}{
		{name: "snap_encode, no p_aux written (the mock writes none)", stage: "snap_encode", task: func() string { return snapTask },
			want: "needs comm_r_last_new, which the task API's answer does not carry; it is read from " + filepath.Join(updateCache, "p_aux")},
		{name: "snap_encode, p_aux as encode_into writes it", stage: "snap_encode", task: func() string { return snapTask },
			before: func() { os.WriteFile(filepath.Join(updateCache, "p_aux"), pAux(3, 9), 0o644) },
			want:   `{"comm_r_new":`, check: func(t *testing.T, out json.RawMessage) {
				if err := json.Unmarshal(out, &snapOut); err != nil || ints(snapOut.CommRLastNew) != serdeBytes(bytes.Repeat([]byte{9}, 32)) ||
					ints(snapOut.CommDNew) != serdeBytes(s.zeroComm) || len(snapOut.CommRNew) != 32 {
					t.Errorf("snap_encode output %s: %v", out, err)
				}
			}},
		{name: "snap_prove with snap_encode's commitments", stage: "snap_prove", task: func() string {
			return fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1","vannilla_proofs":[[1,2,3]],"comm_r_old":%s,"comm_r_new":%s,"comm_d_new":%s}`,
				serdeBytes(bytes.Repeat([]byte{5}, 32)), ints(snapOut.CommRNew), ints(snapOut.CommDNew))
		}, want: "[", check: func(t *testing.T, out json.RawMessage) {
			var p []int
			if err := json.Unmarshal(out, &p); err != nil || len(p) != 192 {
				t.Errorf("snap_prove output of %d bytes, want 192 (one partition): %v", len(p), err)
			}
		}},
		{name: "snap_prove, two vanilla proofs for one partition", stage: "snap_prove", task: func() string {
			return fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1","vannilla_proofs":[[1],[2]],"comm_r_old":%s,"comm_r_new":%s,"comm_d_new":%s}`,
				serdeBytes(bytes.Repeat([]byte{5}, 32)), ints(snapOut.CommRNew), ints(snapOut.CommDNew))
		}, want: "2 vanilla_proofs, want one per partition"},
		{name: "winning_post", stage: "winning_post", task: func() string {
			return fmt.Sprintf(`{"miner_id":1000,"proof_type":"StackedDrgWinning2KiBV1","replicas":[{"sector_id":7,"comm_r":%s,"cache_dir":%q,"sealed_file":%q}],"seed":%s}`,
				serdeBytes(bytes.Repeat([]byte{5}, 32)), s.cache, s.sealed, serdeBytes(s.seed))
		}, want: `{"proofs":["`, check: func(t *testing.T, out json.RawMessage) {
			var o struct{ Proofs [][]byte }
			if err := json.Unmarshal(out, &o); err != nil || len(o.Proofs) != 1 || len(o.Proofs[0]) != 192 {
				t.Errorf("winning_post output %s: %v", out, err)
			}
		}},
		{name: "winning_post, a window proof type", stage: "winning_post", task: func() string {
			return fmt.Sprintf(`{"miner_id":1000,"proof_type":"StackedDrgWindow2KiBV1_2","replicas":[{"sector_id":7,"comm_r":%s,"cache_dir":%q,"sealed_file":%q}],"seed":%s}`,
				serdeBytes(bytes.Repeat([]byte{5}, 32)), s.cache, s.sealed, serdeBytes(s.seed))
		}, want: "is a window PoSt proof"},
		{name: "add_pieces, a deal and a pledge piece", stage: "add_pieces", task: func() string {
			return fmt.Sprintf(`{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":{"local":%q},"payload_size":1016,"piece_size":1016},{"piece_file":"pledge","payload_size":0,"piece_size":1016}],"staged_filepath":%q}`,
				deal, s.staged)
		}, want: `[{"commitment":`, check: func(t *testing.T, out json.RawMessage) {
			var o []struct {
				Commitment []int `json:"commitment"`
				Size       uint64
			}
			if err := json.Unmarshal(out, &o); err != nil || len(o) != 2 || o[0].Size != 1016 || o[1].Size != 1016 || ints(o[1].Commitment) != serdeBytes(zero1024) {
				t.Errorf("add_pieces output %s: %v", out, err)
			}
			if st, err := os.Stat(s.staged); err != nil || st.Size() != 2048 {
				t.Errorf("staged file: %v, %v; want the 2048-byte sector", st, err)
			}
		}},
		{name: "add_pieces, a deal shorter than its piece", stage: "add_pieces", task: func() string {
			return fmt.Sprintf(`{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":{"local":%q},"payload_size":1000,"piece_size":2032}],"staged_filepath":%q}`, deal, s.staged)
		}, want: "payload_size 1000 is less than piece_size 2032, and the task API's add_pieces pads nothing"},
		{name: "add_pieces, a deal at a URL", stage: "add_pieces", task: func() string {
			return fmt.Sprintf(`{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":{"url":"http://market/deal.car"},"payload_size":2032,"piece_size":2032}],"staged_filepath":%q}`, s.staged)
		}, want: "reads local files only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			out, err := children[tc.stage].call(tc.task())
			if strings.HasPrefix(tc.want, "[") || strings.HasPrefix(tc.want, "{") {
				if err != nil || !strings.HasPrefix(string(out), tc.want) {
					t.Fatalf("%s: %s, %v; want %s…\nchild log:\n%s", tc.stage, out, err, tc.want, children[tc.stage].stderr)
				}
				if tc.check != nil {
					tc.check(t, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: %s, %v; want an error with %q", tc.stage, out, err, tc.want)
			}
		})
	}
	if t.Failed() {
		t.Logf("host stderr:\n%s", hostErr)
	}
}

func commitmentOfCID(t *testing.T, s string) []byte {
	t.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := commcid.CIDToPieceCommitmentV1(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
