package damocles

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The producer's side (the plugins/damocles bridge): sealv1 requests
// written as damocles tasks, damocles outputs read back and checked
// against the request.

// addPiecesRequest is a 2 KiB sector's add_pieces request of one
// half-sector piece, whose staged file the processor has written.
func addPiecesRequest(tb testing.TB) *sealv1.AddPiecesRequest {
	tb.Helper()
	staged := filepath.Join(tb.TempDir(), "s-t01000-7")
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		tb.Fatal(err)
	}
	return &sealv1.AddPiecesRequest{Sector: &sealv1.Sector{RegisteredSealProof: 5, MinerId: 1000, SectorNumber: 7}, StagedPath: staged,
		Pieces: []*sealv1.PieceFile{{Path: "/d/deals/a.car", Size: 1024}}}
}

// addPiecesAnswer is a processor's answer to addPiecesRequest's task: the
// deal (commitment 1, 2, …) and the pledge piece after it.
var addPiecesAnswer = `[{"commitment":` + ints(1, 32) + `,"size":1016},{"commitment":` + commitmentInts(zeroCID(1024)) + `,"size":1016}]`

func commitmentInts(pieceCID string) string {
	d, err := commitmentOf("piece", pieceCID, commcid.CIDToPieceCommitmentV1)
	if err != nil {
		panic(err)
	}
	return string(intArray(d[:]))
}

func TestAddPiecesLayout(t *testing.T) {
	c, _ := Lookup("add_pieces")
	sector := func(p int64) *sealv1.Sector { return &sealv1.Sector{RegisteredSealProof: p} }
	deal := "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq"
	for _, tc := range []struct {
		name   string
		req    *sealv1.AddPiecesRequest
		layout string // or the error
	}{
		{"one half-sector deal, then a pledge piece", &sealv1.AddPiecesRequest{Sector: sector(5), Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 1024}}}, "1024:/a 1024:"},
		{"a small piece, then zeros aligning the next", &sealv1.AddPiecesRequest{Sector: sector(5), Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 128}, {Path: "/b", Size: 1024}}},
			"128:/a 128: 256: 512: 1024:/b"},
		{"no pieces: the sector is one pledge piece", &sealv1.AddPiecesRequest{Sector: sector(8)}, "34359738368:"},
		{"a zero piece of the request", &sealv1.AddPiecesRequest{Sector: sector(5), Pieces: []*sealv1.PieceFile{{Size: 512}, {Path: "/a", Size: 256}}}, "512: 256:/a 256: 1024:"},
		{"a piece_cid, checked on the answer", &sealv1.AddPiecesRequest{Sector: sector(5), Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 2048, PieceCid: deal}}}, "2048:/a"},
		{"pieces that do not fit", &sealv1.AddPiecesRequest{Sector: sector(5), Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 128}, {Path: "/b", Size: 2048}}},
			"pieces[1] (2048 bytes) does not fit: aligned, it would end at byte 4096 of the 2048-byte sector"},
		{"not a piece size", &sealv1.AddPiecesRequest{Sector: sector(5), Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 1000}}}, "pieces[0].size 1000"},
		{"a piece_cid that is none", &sealv1.AddPiecesRequest{Sector: sector(5), Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 1024, PieceCid: "bagboea4b5abcat"}}}, "pieces[0].piece_cid"},
		{"an unknown proof", &sealv1.AddPiecesRequest{Sector: sector(9999)}, "unknown registered seal proof 9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.StagedPath = "/d/s-t01000-7"
			enc, err := c.EncodeTask(tc.req)
			if !strings.Contains(tc.layout, ":") || strings.Contains(tc.layout, "does not fit") {
				if err == nil || !strings.Contains(err.Error(), tc.layout) {
					t.Fatalf("err = %v, want %q", err, tc.layout)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			back, err := c.DecodeTask(enc)
			if err != nil {
				t.Fatalf("the task sent, %s, is refused: %v", enc, err)
			}
			if got := piecesOf(back.(*sealv1.AddPiecesRequest)); got != tc.layout {
				t.Fatalf("task lays out %s, want %s\n%s", got, tc.layout, enc)
			}
			if got := layoutOf(t, tc.req); got != tc.layout {
				t.Fatalf("the test's own layout %s, want %s", got, tc.layout)
			}
		})
	}
	enc, err := c.EncodeTask(&sealv1.AddPiecesRequest{Sector: sector(5), StagedPath: "/d/s", Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 1024}}})
	want := `{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":{"local":"/a"},"payload_size":1016,"piece_size":1016},` +
		`{"piece_file":"pledge","payload_size":1016,"piece_size":1016}],"staged_filepath":"/d/s"}`
	if err != nil || string(enc) != want {
		t.Fatalf("task\n%s (%v)\nwant\n%s", enc, err, want)
	}
}

func TestAddPiecesOutputChecked(t *testing.T) {
	c, _ := Lookup("add_pieces")
	deal := strings.Replace(addPiecesAnswer, ints(1, 32), ints(7, 32), 1)
	for _, tc := range []struct {
		name   string
		out    string
		change func(*sealv1.AddPiecesRequest)
		want   string // "" accepts
	}{
		{"the deal and its pledge piece", addPiecesAnswer, nil, ""},
		{"the deal only, as damocles answers the pieces it was given", `[{"commitment":` + ints(1, 32) + `,"size":1016}]`, nil, "has 1 pieces, want 2: one per piece of the task"},
		{"sizes swapped", `[{"commitment":` + ints(1, 32) + `,"size":508},{"commitment":` + ints(1, 32) + `,"size":1524}]`, nil, "piece_infos[0] is 512 bytes (padded), the task's piece 0 is 1024"},
		{"a pledge piece that is not zeros", strings.Replace(addPiecesAnswer, commitmentInts(zeroCID(1024)), ints(5, 32), 1), nil, "piece_infos[1] is a pledge piece (zeros), whose commitment is " + zeroCID(1024)},
		{"the deal's CID as expected", deal, func(r *sealv1.AddPiecesRequest) { r.Pieces[0].PieceCid = pieceCID(7) }, ""},
		{"another deal's data", addPiecesAnswer, func(r *sealv1.AddPiecesRequest) { r.Pieces[0].PieceCid = pieceCID(7) }, "the request expects " + pieceCID(7) + ": the file is not the deal's data"},
		{"the staged file left short", addPiecesAnswer, func(r *sealv1.AddPiecesRequest) { os.Truncate(r.StagedPath, 1016) }, "is 1016 bytes, want the sector's 2048"},
		{"no staged file", addPiecesAnswer, func(r *sealv1.AddPiecesRequest) { os.Remove(r.StagedPath) }, "no such file"},
		{"not a piece list", `{"pieces":[]}`, nil, "add_pieces output: piece_infos: want an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := addPiecesRequest(t)
			if tc.change != nil {
				tc.change(req)
			}
			resp, err := c.DecodeOutput(req, json.RawMessage(tc.out))
			if !accepted(t, err, tc.want) {
				return
			}
			r := resp.(*sealv1.AddPiecesResponse)
			if len(r.Pieces) != 2 || r.Pieces[0].GetSize() != 1024 || r.Pieces[1].GetPieceCid() != zeroCID(1024) {
				t.Fatalf("response %v", r)
			}
		})
	}
}

func pieceCID(b byte) string {
	d := make([]byte, 32)
	for i := range d {
		d[i] = b + byte(i)
	}
	c, err := commcid.PieceCommitmentV1ToCID(d)
	if err != nil {
		panic(err)
	}
	return c.String()
}

// TestSnapEncodeOutputAgainstPAux: comm_r_last_new, which the answer
// cannot carry on, must agree with the p_aux the processor wrote, where
// `host processor` reads it back.
func TestSnapEncodeOutputAgainstPAux(t *testing.T) {
	c, _ := Lookup("snap_encode")
	for _, tc := range []struct {
		name    string
		written bool
		out     string
		want    string
	}{
		{"p_aux agrees", true, snapEncodeOut, ""},
		{"no p_aux written", false, snapEncodeOut, ""},
		{"p_aux disagrees", true, strings.Replace(snapEncodeOut, ints(9, 32), ints(10, 32), 1), "comm_r_last_new is [10 11"},
		{"comm_r_last_new missing", true, `{"comm_r_new":` + ints(2, 32) + `,"comm_d_new":` + ints(1, 32) + `}`, "comm_r_last_new is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := snapDirs(t, tc.written)
			resp, err := c.DecodeOutput(req, json.RawMessage(tc.out))
			if !accepted(t, err, tc.want) {
				return
			}
			if r := resp.(*sealv1.SnapEncodeResponse); !strings.HasPrefix(r.GetSealedCid(), "bagboea4b5abc") || !strings.HasPrefix(r.GetUnsealedCid(), "baga6ea4seaq") {
				t.Fatalf("response %v", r)
			}
		})
	}
}

// TestEncodeRefuses: requests a damocles task cannot carry faithfully are
// refused before anything is sent, naming the field.
func TestEncodeRefuses(t *testing.T) {
	c32 := &sealv1.Sector{RegisteredSealProof: 8}
	commR := pieceCIDOf(t, commcid.ReplicaCommitmentV1ToCID)
	commD := pieceCIDOf(t, commcid.DataCommitmentV1ToCID)
	seed := make([]byte, 32)
	post := func(proof int64) []*sealv1.PoStSector {
		return []*sealv1.PoStSector{{RegisteredSealProof: proof, SectorNumber: 1, SealedCid: commR, CachePath: "/c", SealedPath: "/s"}}
	}
	prove := func(vanilla ...[]byte) *sealv1.SnapProveRequest {
		return &sealv1.SnapProveRequest{Sector: &sealv1.Sector{RegisteredSealProof: 5}, OldSealedCid: commR, NewSealedCid: commR, NewUnsealedCid: commD, VanillaProofs: vanilla}
	}
	for _, tc := range []struct {
		stage string
		req   proto.Message
		want  string
	}{
		{"snap_encode", &sealv1.SnapEncodeRequest{Sector: c32, RegisteredUpdateProof: 0}, "the sector's registered_seal_proof StackedDrg32GiBV1_1 is not of the size of registered_update_proof StackedDrg2KiBV1"},
		{"snap_encode", &sealv1.SnapEncodeRequest{Sector: c32, RegisteredUpdateProof: 7}, "registered update proof 7 has no filecoin-proofs-api name"},
		{"snap_prove", &sealv1.SnapProveRequest{Sector: c32, RegisteredUpdateProof: 0, VanillaProofs: [][]byte{{1}}}, "is not of the size of registered_update_proof"},
		{"snap_prove", prove(), "no vanilla_proofs"},
		{"snap_prove", prove([]byte{1}, nil), "vanilla_proofs[1] is empty"},
		{"snap_prove", prove(make([][]byte, 65)...), "65 vanilla_proofs, at most 64"},
		{"winning_post", &sealv1.WinningPoStRequest{RegisteredPostProof: 10, Randomness: seed, Sectors: post(5)}, "StackedDrgWindow2KiBV1_2 is a window PoSt proof"},
		{"winning_post", &sealv1.WinningPoStRequest{RegisteredPostProof: 3, Randomness: seed, Sectors: post(5)}, "sectors[0]: the sector's registered_seal_proof StackedDrg2KiBV1_1 is not of the size of registered_post_proof StackedDrgWinning32GiBV1"},
		{"winning_post", &sealv1.WinningPoStRequest{RegisteredPostProof: 0, Randomness: seed[:31], Sectors: post(5)}, "randomness is 31 bytes"},
		{"winning_post", &sealv1.WinningPoStRequest{RegisteredPostProof: 0, Randomness: seed}, "no sectors"},
		{"window_post", &sealv1.WindowPoStRequest{RegisteredPostProof: 0, Randomness: seed, Sectors: post(5)}, "StackedDrgWinning2KiBV1 is a winning PoSt proof"},
	} {
		t.Run(tc.stage+" "+tc.want, func(t *testing.T) {
			c, _ := Lookup(tc.stage)
			if _, err := c.EncodeTask(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// pieceCIDOf is a CID of the kind conv makes, of the commitment 1, 2, ….
func pieceCIDOf(t *testing.T, conv func([]byte) (cid.Cid, error)) string {
	d := make([]byte, 32)
	for i := range d {
		d[i] = byte(1 + i)
	}
	c, err := conv(d)
	if err != nil {
		t.Fatal(err)
	}
	return c.String()
}

// TestPoStOutputShapes: a PoSt output is read as serde writes it, and one
// that proves nothing is an error, not an empty success.
func TestPoStOutputShapes(t *testing.T) {
	for _, tc := range []struct {
		stage, out, want string
	}{
		{"window_post", windowPoStOut, ""},
		{"window_post", `{"proofs":[],"faults":[7]}`, ""},
		{"window_post", `{}`, "proofs is missing"},
		{"window_post", `{"proofs":["AAEC"]}`, "faults is missing"},
		{"window_post", `{"proofs":[],"faults":[]}`, "neither proofs nor faults"},
		{"window_post", `{"proofs":[[0,1,2]],"faults":[]}`, "proofs[0]: want a SnarkProof, a base64 string"},
		{"winning_post", winningPoStOut, ""},
		{"winning_post", `{"proofs":[]}`, "winning_post output has no proofs"},
		{"winning_post", `{"proofs":["not base64!"]}`, "proofs[0]: want a SnarkProof"},
		{"winning_post", `{"proof":["AAEC"]}`, "proofs is missing"},
	} {
		t.Run(tc.stage+" "+tc.out, func(t *testing.T) {
			c, _ := Lookup(tc.stage)
			req := map[string]proto.Message{"window_post": &sealv1.WindowPoStRequest{RegisteredPostProof: 10}, "winning_post": &sealv1.WinningPoStRequest{}}[tc.stage]
			_, err := c.DecodeOutput(req, json.RawMessage(tc.out))
			accepted(t, err, tc.want)
		})
	}
}

// accepted checks err against a table's want: "" is success (true, to
// check the answer), else an error containing want (false).
func accepted(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatal(err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("err = %v, want %q", err, want)
	}
	return want == ""
}
