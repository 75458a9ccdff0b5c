package damocles

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestTaskRoundTrip: a task damocles writes decodes to the sealv1 request
// a sealhost plugin expects, and encoding that request again gives
// damocles' bytes back, so both directions agree byte for byte.
func TestTaskRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		stage, task string
		want        string // prototext of the sealv1 request
	}{
		{"tree_d", treeDTask, `sector:{registered_seal_proof:5 miner_id:1000 sector_number:7} cache_path:"/d/prepared/s-t01000-7" staged_path:"/d/unsealed/s-t01000-7"`},
		{"pc1", pc1Task, `sector:{registered_seal_proof:5 miner_id:1000 sector_number:7} cache_path:"/d/cache/s-t01000-7" staged_path:"/d/unsealed/s-t01000-7" sealed_path:"/d/sealed/s-t01000-7"`},
		{"pc2", pc2Task, `sector:{registered_seal_proof:5 miner_id:1000 sector_number:7}`},
		{"c2", c2Task, `sector:{registered_seal_proof:5 miner_id:1000 sector_number:7}`},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			c, err := Lookup(tc.stage)
			if err != nil {
				t.Fatal(err)
			}
			req, err := c.DecodeTask(json.RawMessage(tc.task))
			if err != nil {
				t.Fatalf("DecodeTask: %v", err)
			}
			got := prototext.MarshalOptions{}.Format(req)
			for _, part := range strings.Fields(tc.want) {
				if !strings.Contains(strings.ReplaceAll(got, "  ", " "), part) {
					t.Errorf("request %s\nlacks %s", got, part)
				}
			}
			back, err := c.EncodeTask(req)
			if err != nil {
				t.Fatalf("EncodeTask: %v", err)
			}
			if string(back) != tc.task {
				t.Errorf("EncodeTask(DecodeTask(task)) =\n%s\nwant\n%s", back, tc.task)
			}
		})
	}
}

func TestPC1Request(t *testing.T) {
	c, _ := Lookup("pc1")
	m, err := c.DecodeTask(json.RawMessage(pc1Task))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sealv1.PC1Request)
	if len(req.Ticket) != 32 || req.Ticket[0] != 100 {
		t.Errorf("ticket = %v", req.Ticket)
	}
	if len(req.Pieces) != 1 || req.Pieces[0].Size != 2048 || !strings.HasPrefix(req.Pieces[0].PieceCid, "baga6ea4seaq") {
		t.Errorf("pieces = %v, want one of 2048 padded bytes with a piece CID", req.Pieces)
	}
}

// TestOpaqueOutputs: pc1out and c1out reach the sealv1 request as the very
// bytes damocles sent (filecoin-ffi parses them), and a plugin's output
// goes out unchanged.
func TestOpaqueOutputs(t *testing.T) {
	pc2, _ := Lookup("pc2")
	m, err := pc2.DecodeTask(json.RawMessage(pc2Task))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.(*sealv1.PC2Request).Phase1Output); got != pc1Out {
		t.Errorf("phase1_output = %s, want %s", got, pc1Out)
	}
	c2, _ := Lookup("c2")
	m, err = c2.DecodeTask(json.RawMessage(c2Task))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.(*sealv1.C2Request).Phase1Output); got != c1Out {
		t.Errorf("phase1_output = %s, want %s", got, c1Out)
	}
	pc1, _ := Lookup("pc1")
	out, err := pc1.EncodeOutput(nil, &sealv1.PC1Response{Phase1Output: []byte(pc1Out)})
	if err != nil || string(out) != pc1Out {
		t.Errorf("pc1 output = %s, %v; want the plugin's bytes", out, err)
	}
	back, err := pc1.DecodeOutput(nil, out)
	if err != nil || string(back.(*sealv1.PC1Response).Phase1Output) != pc1Out {
		t.Errorf("pc1 DecodeOutput = %v, %v", back, err)
	}
}

func TestOutputRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tree := make([]byte, 96)
	copy(tree[64:], []byte{1, 2, 3})
	os.WriteFile(filepath.Join(dir, TreeDFile), tree, 0o644)
	for _, tc := range []struct {
		stage string
		req   proto.Message
		out   string
	}{
		{"tree_d", &sealv1.TreeDRequest{CachePath: dir}, "true"},
		{"pc2", &sealv1.PC2Request{Sector: &sealv1.Sector{RegisteredSealProof: 5}}, pc2Out},
		{"c2", &sealv1.C2Request{}, c2Out},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			c, _ := Lookup(tc.stage)
			resp, err := c.DecodeOutput(tc.req, json.RawMessage(tc.out))
			if err != nil {
				t.Fatalf("DecodeOutput: %v", err)
			}
			back, err := c.EncodeOutput(tc.req, resp)
			if err != nil {
				t.Fatalf("EncodeOutput: %v", err)
			}
			if string(back) != tc.out {
				t.Errorf("EncodeOutput(DecodeOutput(out)) = %s, want %s", back, tc.out)
			}
		})
	}
	c, _ := Lookup("tree_d")
	resp, _ := c.DecodeOutput(&sealv1.TreeDRequest{CachePath: dir}, json.RawMessage("true"))
	d, _ := commitmentOf("x", resp.(*sealv1.TreeDResponse).UnsealedCid, commcid.CIDToDataCommitmentV1)
	if d[0] != 1 || d[1] != 2 || d[2] != 3 {
		t.Errorf("comm_d from the tree file = %v, want the file's last 32 bytes", d)
	}
}

func TestDecodeTaskErrors(t *testing.T) {
	pc1 := func(old, new string) string { return strings.Replace(pc1Task, old, new, 1) }
	for _, tc := range []struct {
		name, stage, task, want string
	}{
		{"not an object", "pc1", `[1]`, "want a JSON object, got an array"},
		{"missing field", "pc1", pc1(`"sector_id":7,`, ""), "sector_id is missing"},
		{"null field", "pc1", pc1(`"sector_id":7`, `"sector_id":null`), "sector_id is null"},
		{"duplicate key", "pc1", pc1(`"sector_id":7`, `"sector_id":7,"sector_id":8`), `"sector_id" is given twice`},
		{"negative", "pc1", pc1(`"sector_id":7`, `"sector_id":-7`), "sector_id: want an integer"},
		{"float", "pc1", pc1(`"sector_id":7`, `"sector_id":7.5`), "sector_id: want an integer"},
		{"unknown proof", "pc1", pc1(`"StackedDrg2KiBV1_1"`, `"StackedDrg3KiBV1"`), `"StackedDrg3KiBV1" is not a seal proof`},
		{"proof as number", "pc1", pc1(`"StackedDrg2KiBV1_1"`, `5`), "want a seal proof name"},
		{"short ticket", "pc1", pc1(`"ticket":[100,`, `"ticket":[`), "ticket: has 31 integers, want exactly 32"},
		{"byte over 255", "pc1", pc1(`"ticket":[100,`, `"ticket":[256,`), "element 0 is \"256\""},
		{"base64 ticket", "pc1", pc1(`"ticket":`+ints(100, 32), `"ticket":"AAAA"`), "want an array of integers 0..255, got a string"},
		{"padded size", "pc1", pc1(`"size":2032`, `"size":2048`), "piece_infos[0].size 2048"},
		{"bad prover id", "pc1", pc1(proverID1000, ints(1, 32)), "prover_id"},
		{"empty path", "pc1", pc1(`"in_path":"/d/unsealed/s-t01000-7"`, `"in_path":""`), "in_path is empty"},
		{"long path", "pc1", pc1(`"in_path":"/d/unsealed/s-t01000-7"`, `"in_path":"/`+strings.Repeat("x", 5000)+`"`), "at most 4096"},
		{"trailing text", "pc1", pc1Task + "x", "text after the object at byte"},
		{"pc1out not object", "pc2", strings.Replace(pc2Task, pc1Out, `"x"`, 1), "pc1out: not a filecoin-proofs output"},
		{"pc1out without proof", "pc2", strings.Replace(pc2Task, `"pc1out":{"registered_proof":"StackedDrg2KiBV1_1",`, `"pc1out":{`, 1), "pc1out: not a filecoin-proofs output: registered_proof is missing"},
		{"c2 miner mismatch", "c2", strings.Replace(c2Task, `"miner_id":1000`, `"miner_id":1001`, 1), "prover_id is miner 1000's but miner_id is 1001"},
		{"tree_d typo", "tree_d", strings.Replace(treeDTask, "staged_file", "stagedfile", 1), "staged_file is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := Lookup(tc.stage)
			_, err := c.DecodeTask(json.RawMessage(tc.task))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeTask = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("unknown keys are ignored, as serde does", func(t *testing.T) {
		c, _ := Lookup("tree_d")
		if _, err := c.DecodeTask(json.RawMessage(strings.Replace(treeDTask, "{", `{"new_in_damocles_2":[1],`, 1))); err != nil {
			t.Error(err)
		}
	})
	t.Run("unknown stage", func(t *testing.T) {
		if _, err := Lookup("c1"); err == nil || !strings.Contains(err.Error(), "inside the worker") {
			t.Errorf("Lookup(c1) = %v", err)
		}
	})
}

func TestProverID(t *testing.T) {
	for _, m := range []uint64{0, 1, 127, 128, 1000, 1 << 40, ^uint64(0)} {
		got, err := MinerOf(ProverID(m))
		if err != nil || got != m {
			t.Errorf("MinerOf(ProverID(%d)) = %d, %v", m, got, err)
		}
	}
	if ProverID(1000) != mustBytes32(proverID1000) {
		t.Errorf("ProverID(1000) = %v, want filecoin-ffi's toProverID", ProverID(1000))
	}
	bad := ProverID(1)
	bad[31] = 1
	if _, err := MinerOf(bad); err == nil {
		t.Error("MinerOf accepted a prover id with trailing bytes")
	}
}

func mustBytes32(s string) Bytes32 {
	var b Bytes32
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		panic(err)
	}
	return b
}

func TestSealProofNames(t *testing.T) {
	for n, want := range map[SealProof]string{0: "StackedDrg2KiBV1", 5: "StackedDrg2KiBV1_1", 8: "StackedDrg32GiBV1_1", 13: "StackedDrg32GiBV1_1_Feat_SyntheticPoRep", 19: "StackedDrg64GiBV1_2_Feat_NonInteractivePoRep"} {
		if n.String() != want {
			t.Errorf("SealProof(%d) = %s, want %s", n, n, want)
		}
	}
	if _, err := SealProof(20).MarshalJSON(); err == nil {
		t.Error("SealProof(20) marshalled")
	}
}
