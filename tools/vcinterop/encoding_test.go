//go:build interop

package vcinterop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain makes the test binary a damocles processor that answers every
// task with $VCINTEROP_FAKE_OUTPUT when $VCINTEROP_FAKE_STAGE is set: the
// processor TestDriverReadsOnlyDamoclesEncodings drives.
func TestMain(m *testing.M) {
	if stage := os.Getenv("VCINTEROP_FAKE_STAGE"); stage != "" {
		os.Exit(fakeProcessor(stage, os.Getenv("VCINTEROP_FAKE_OUTPUT")))
	}
	os.Exit(m.Run())
}

func fakeProcessor(stage, output string) int {
	fmt.Printf("%s processor ready\n", stage)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<20)
	for in.Scan() {
		var req struct{ ID uint64 }
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "fake processor: %v\n", err)
			return 1
		}
		fmt.Printf(`{"id":%d,"err_msg":null,"output":%s}`+"\n", req.ID, output)
	}
	return 0
}

func intList(v, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// TestDriverReadsOnlyDamoclesEncodings: the driver's output types are
// vc-processors 0.2.1's, so an answer in another encoding than serde's
// for them is not read — as damocles-worker, which drops such a line and
// waits for ever, would not; the driver reports it after its timeout —
// while the same answer in damocles' encoding, with a key added (serde
// ignores unknown keys, as the bridge's fake processor relies on), is.
// What is read comes back in that encoding (SnarkProofs as base64).
func TestDriverReadsOnlyDamoclesEncodings(t *testing.T) {
	driver, _, _ := binaries(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c32, c31 := intList(3, 32), intList(3, 31)
	rep := `{"sector_id":1,"comm_r":` + c32 + `,"cache_dir":"/c","sealed_file":"/s"}`
	tasks := map[string]string{
		"add_pieces":   `{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":"pledge","payload_size":2032,"piece_size":2032}],"staged_filepath":"/s"}`,
		"snap_encode":  `{"registered_proof":"StackedDrg2KiBV1","new_replica_path":"/r","new_cache_path":"/c","sector_path":"/s","sector_cache_path":"/k","staged_data_path":"/d","piece_infos":[{"commitment":` + c32 + `,"size":2032}]}`,
		"snap_prove":   `{"registered_proof":"StackedDrg2KiBV1","vannilla_proofs":[[1,2]],"comm_r_old":` + c32 + `,"comm_r_new":` + c32 + `,"comm_d_new":` + c32 + `}`,
		"window_post":  `{"miner_id":1000,"proof_type":"StackedDrgWindow2KiBV1","replicas":[` + rep + `],"seed":` + c32 + `}`,
		"winning_post": `{"miner_id":1000,"proof_type":"StackedDrgWinning2KiBV1","replicas":[` + rep + `],"seed":` + c32 + `}`,
	}
	for _, tc := range []struct {
		name, stage, output string
		want                string // the driver's output, or "" when it must not read the answer
	}{
		{"add_pieces: PieceInfos", "add_pieces", `[{"commitment":` + c32 + `,"size":2032,"_fake":"x"}]`, `[{"commitment":` + c32 + `,"size":2032}]`},
		{"add_pieces: commitment as a piece CID", "add_pieces", `[{"commitment":"baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq","size":2032}]`, ""},
		{"add_pieces: one PieceInfo, not a list", "add_pieces", `{"commitment":` + c32 + `,"size":2032}`, ""},
		{"snap_encode: commitments", "snap_encode", `{"comm_r_new":` + c32 + `,"comm_r_last_new":` + c32 + `,"comm_d_new":` + c32 + `,"_fake":"x"}`,
			`{"comm_d_new":` + c32 + `,"comm_r_last_new":` + c32 + `,"comm_r_new":` + c32 + `}`},
		{"snap_encode: comm_r_last_new missing", "snap_encode", `{"comm_r_new":` + c32 + `,"comm_d_new":` + c32 + `}`, ""},
		{"snap_encode: 31 bytes", "snap_encode", `{"comm_r_new":` + c31 + `,"comm_r_last_new":` + c32 + `,"comm_d_new":` + c32 + `}`, ""},
		{"snap_encode: base64 commitment", "snap_encode", `{"comm_r_new":"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=","comm_r_last_new":` + c32 + `,"comm_d_new":` + c32 + `}`, ""},
		{"snap_prove: integers", "snap_prove", `[1,2,3]`, `[1,2,3]`},
		{"snap_prove: base64 (Go's []byte)", "snap_prove", `"AQID"`, ""},
		{"snap_prove: c2's object", "snap_prove", `{"proof":[1,2,3]}`, ""},
		{"snap_prove: no output", "snap_prove", `null`, ""},
		{"window_post: base64 proofs", "window_post", `{"proofs":["AQID","AQIDBA==","AQIDBAU="],"faults":[],"_fake":"x"}`, `{"faults":[],"proofs":["AQID","AQIDBA==","AQIDBAU="]}`},
		{"window_post: faults only", "window_post", `{"proofs":[],"faults":[7]}`, `{"faults":[7],"proofs":[]}`},
		{"window_post: proofs as integers", "window_post", `{"proofs":[[1,2,3]],"faults":[]}`, ""},
		{"window_post: unpadded base64", "window_post", `{"proofs":["AQIDBA"],"faults":[]}`, ""},
		{"window_post: bits past the last byte", "window_post", `{"proofs":["AQJ="],"faults":[]}`, ""},
		{"window_post: url-safe base64", "window_post", `{"proofs":["-_8="],"faults":[]}`, ""},
		{"window_post: faults missing", "window_post", `{"proofs":["AQID"]}`, ""},
		{"winning_post: base64 proof", "winning_post", `{"proofs":["AQID"]}`, `{"proofs":["AQID"]}`},
		{"winning_post: one proof, not a list", "winning_post", `{"proofs":"AQID"}`, ""},
		{"winning_post: window's raw proof list", "winning_post", `[{"proof":"AQID"}]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, stderr := runDriver(t, driver, tc.stage, []any{json.RawMessage(tasks[tc.stage])},
				[]string{"VCINTEROP_TIMEOUT=1", "VCINTEROP_FAKE_STAGE=" + tc.stage, "VCINTEROP_FAKE_OUTPUT=" + tc.output}, self)
			r := res[0]
			if tc.want == "" {
				if r.Err == "" {
					t.Fatalf("driver read %s as a %s output: %s", tc.output, tc.stage, r.Output)
				}
				if !strings.Contains(r.Err, "no answer that decodes as a "+tc.stage+" output") && !strings.Contains(r.Err, "output field lost") {
					t.Errorf("driver error %q; want it to say the answer did not decode\n%s", r.Err, stderr)
				}
				return
			}
			if r.Err != "" || string(r.Output) != tc.want {
				t.Errorf("driver answered %s, err %q; want %s\n%s", r.Output, r.Err, tc.want, stderr)
			}
		})
	}
}
