package damocles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	"github.com/filecoin-project/go-state-types/abi"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Every decoder is fuzzed: none may panic, an accepted request must encode
// back to a line that decodes to the same id and task, and an accepted
// task must encode back to a task that decodes to the same sealv1 request.

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"id":1,"task":` + pc1Task + `}`, `{"id":2,"task":null}`, `{"id":3,"task":{"a`, `garbage`, `{"id":1,"id":1}`, `{"id":18446744073709551615,"task":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, idOK, err := DecodeRequest(line)
		if err != nil {
			if !idOK && req.ID != 0 {
				t.Fatalf("id %d without idOK", req.ID)
			}
			return
		}
		b, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("accepted request does not encode: %v", err)
		}
		back, _, err := DecodeRequest(b)
		if err != nil || back.ID != req.ID || !jsonEqual(back.Task, req.Task) {
			t.Fatalf("round trip: %v, %v", back, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{`{"id":1,"err_msg":null,"output":` + pc2Out + `}`, `{"id":1,"err_msg":"x","output":null}`, `{"id":1}`, `{"id":1,"err_msg":3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := DecodeResponse(line)
		if err != nil {
			return
		}
		b, err := EncodeResponse(r)
		if err != nil {
			t.Fatalf("accepted response does not encode: %v", err)
		}
		if bytes.Count(b, []byte("\n")) != 1 {
			t.Fatalf("response line %q is not one line", b)
		}
		back, err := DecodeResponse(b)
		if err != nil || back.ID != r.ID || (back.ErrMsg == nil) != (r.ErrMsg == nil) {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	})
}

func FuzzDecodeTask(f *testing.F) {
	for stage, s := range map[string]string{"tree_d": treeDTask, "pc1": pc1Task, "pc2": pc2Task, "c2": c2Task, "window_post": windowPoStTask, "unseal": unsealTask,
		"snap_encode": snapEncodeTask, "snap_prove": snapProveTask, "winning_post": winningPoStTask, "add_pieces": addPiecesTask} {
		f.Add(stageIndex(stage), []byte(s))
	}
	f.Add(stageIndex("pc1"), []byte(`{"piece_infos":[{"commitment":[1],"size":1}]}`))
	f.Add(stageIndex("add_pieces"), []byte(strings.Replace(addPiecesTask, `"pledge"`, `{"url":"http://x/p"}`, 1)))
	f.Add(stageIndex("add_pieces"), []byte(strings.Replace(addPiecesTask, `"pledge"`, `{"local":"/p","url":"http://x/p"}`, 1)))
	f.Add(stageIndex("snap_prove"), []byte(strings.Replace(snapProveTask, `"vannilla_proofs":[[1,2,3],[4]]`, `"vannilla_proofs":[]`, 1)))
	f.Fuzz(func(t *testing.T, stage uint8, task []byte) {
		c, _ := Lookup(Stages[int(stage)%len(Stages)])
		req, err := c.DecodeTask(task)
		if err != nil {
			return
		}
		enc, err := c.EncodeTask(req)
		if err != nil {
			t.Fatalf("accepted %s task does not encode: %v", c.Stage, err)
		}
		back, err := c.DecodeTask(enc)
		if c.Stage == "add_pieces" && err == nil {
			// The task sent holds the whole staged file: the request's
			// pieces and the zero pieces that align and fill them.
			if want := layoutOf(t, req.(*sealv1.AddPiecesRequest)); want != piecesOf(back.(*sealv1.AddPiecesRequest)) {
				t.Fatalf("add_pieces round trip: pieces %s, want %s", piecesOf(back.(*sealv1.AddPiecesRequest)), want)
			}
			return
		}
		if err != nil || !proto.Equal(back, req) {
			t.Fatalf("%s round trip: %v, %v\nwas %v", c.Stage, back, err, req)
		}
	})
}

// FuzzEncodeTask is the bridge's direction: any request of a stage (as
// protobuf bytes) either fails to encode or encodes to a task that, read
// back by this package's consumer (stricter than damocles' serde: it
// refuses empty paths and unbounded lists), encodes to the same task
// again, so nothing the bridge sends is lost or changed in the reading.
// An add_pieces task must also lay out the whole sector: every piece
// aligned to its size, the request's pieces in order, zero pieces between
// and after them to the sector's end.
func FuzzEncodeTask(f *testing.F) {
	for stage, s := range map[string]string{"tree_d": treeDTask, "pc1": pc1Task, "pc2": pc2Task, "c2": c2Task, "window_post": windowPoStTask, "unseal": unsealTask,
		"snap_encode": snapEncodeTask, "snap_prove": snapProveTask, "winning_post": winningPoStTask, "add_pieces": addPiecesTask} {
		c, _ := Lookup(stage)
		req, err := c.DecodeTask(json.RawMessage(s))
		if err != nil {
			f.Fatal(err)
		}
		b, _ := proto.Marshal(req)
		f.Add(stageIndex(stage), b)
	}
	for _, r := range []*sealv1.AddPiecesRequest{
		{Sector: &sealv1.Sector{RegisteredSealProof: 5}, StagedPath: "/s", Pieces: []*sealv1.PieceFile{{Path: "/a", Size: 128}, {Path: "/b", Size: 512}}},
		{Sector: &sealv1.Sector{RegisteredSealProof: 5}, StagedPath: "/s"},
		{Sector: &sealv1.Sector{RegisteredSealProof: 6}, StagedPath: "/s", Pieces: []*sealv1.PieceFile{{Size: 128}, {Path: "/b", Size: 1 << 20, PieceCid: zeroCID(1 << 20)}}},
	} {
		b, _ := proto.Marshal(r)
		f.Add(stageIndex("add_pieces"), b)
	}
	f.Fuzz(func(t *testing.T, stage uint8, b []byte) {
		c, _ := Lookup(Stages[int(stage)%len(Stages)])
		req := requestOf(c.SealStage)
		if proto.Unmarshal(b, req) != nil {
			return
		}
		enc, err := c.EncodeTask(req)
		if err != nil {
			return
		}
		if !json.Valid(enc) {
			t.Fatalf("%s task %q is not JSON", c.Stage, enc)
		}
		back, err := c.DecodeTask(enc)
		if err != nil {
			return
		}
		again, err := c.EncodeTask(back)
		if err != nil || !jsonEqual(again, enc) {
			t.Fatalf("%s: the task sent\n%s\nread back and sent again is\n%s (%v)", c.Stage, enc, again, err)
		}
		if r, ok := req.(*sealv1.AddPiecesRequest); ok {
			if got, want := piecesOf(back.(*sealv1.AddPiecesRequest)), layoutOf(t, r); got != want {
				t.Fatalf("add_pieces task lays out %s, want %s", got, want)
			}
		}
	})
}

// requestOf is an empty request of stage.
func requestOf(s sealv1.Stage) proto.Message {
	switch s {
	case sealv1.Stage_STAGE_TREE_D:
		return &sealv1.TreeDRequest{}
	case sealv1.Stage_STAGE_PC1:
		return &sealv1.PC1Request{}
	case sealv1.Stage_STAGE_PC2:
		return &sealv1.PC2Request{}
	case sealv1.Stage_STAGE_C2:
		return &sealv1.C2Request{}
	case sealv1.Stage_STAGE_WINDOW_POST:
		return &sealv1.WindowPoStRequest{}
	case sealv1.Stage_STAGE_UNSEAL:
		return &sealv1.UnsealRequest{}
	case sealv1.Stage_STAGE_SNAP_ENCODE:
		return &sealv1.SnapEncodeRequest{}
	case sealv1.Stage_STAGE_SNAP_PROVE:
		return &sealv1.SnapProveRequest{}
	case sealv1.Stage_STAGE_WINNING_POST:
		return &sealv1.WinningPoStRequest{}
	case sealv1.Stage_STAGE_ADD_PIECES:
		return &sealv1.AddPiecesRequest{}
	}
	panic(s)
}

// layoutOf is, independently of Layout, the staged file's pieces for r
// as "SIZE:PATH ..." (a zero piece has no path): each piece after zero
// pieces that align it, the largest aligned at each offset, then zero
// pieces to the sector's end.
func layoutOf(t *testing.T, r *sealv1.AddPiecesRequest) string {
	sector := map[int64]uint64{0: 2 << 10, 1: 8 << 20, 2: 512 << 20, 3: 32 << 30, 4: 64 << 30}[r.GetSector().GetRegisteredSealProof()%5]
	var out []string
	var off uint64
	fill := func(to uint64) {
		for off < to {
			z := uint64(1)
			for off%(2*z) == 0 && off+2*z <= to {
				z *= 2
			}
			if z < 128 {
				t.Fatalf("offset %d is not 128-aligned", off)
			}
			out = append(out, fmt.Sprintf("%d:", z))
			off += z
		}
	}
	for _, p := range r.GetPieces() {
		if off%p.GetSize() != 0 {
			fill(off + (p.GetSize() - off%p.GetSize()))
		}
		out = append(out, fmt.Sprintf("%d:%s", p.GetSize(), p.GetPath()))
		off += p.GetSize()
	}
	fill(sector)
	return strings.Join(out, " ")
}

func piecesOf(r *sealv1.AddPiecesRequest) string {
	var out []string
	for _, p := range r.GetPieces() {
		out = append(out, fmt.Sprintf("%d:%s", p.GetSize(), p.GetPath()))
	}
	return strings.Join(out, " ")
}

// zeroCID is the piece CID of size padded zero bytes.
func zeroCID(size uint64) string {
	return zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(size).Unpadded()).String()
}

func FuzzDecodeOutput(f *testing.F) {
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, TreeDFile), make([]byte, 64), 0o644)
	snap := snapDirs(f, true)
	adds := addPiecesRequest(f)
	for stage, s := range map[string]string{"tree_d": "true", "pc1": pc1Out, "pc2": pc2Out, "c2": c2Out, "window_post": windowPoStOut, "unseal": "2032",
		"snap_encode": snapEncodeOut, "snap_prove": ints(0, 192), "winning_post": winningPoStOut, "add_pieces": addPiecesAnswer} {
		f.Add(stageIndex(stage), []byte(s))
	}
	f.Fuzz(func(t *testing.T, stage uint8, out []byte) {
		c, _ := Lookup(Stages[int(stage)%len(Stages)])
		reqs := map[string]proto.Message{"tree_d": &sealv1.TreeDRequest{CachePath: dir}, "pc1": &sealv1.PC1Request{},
			"pc2": &sealv1.PC2Request{Sector: &sealv1.Sector{RegisteredSealProof: 5}}, "c2": &sealv1.C2Request{},
			"window_post": &sealv1.WindowPoStRequest{RegisteredPostProof: 13}, "unseal": &sealv1.UnsealRequest{},
			"snap_encode": snap, "snap_prove": &sealv1.SnapProveRequest{}, "winning_post": &sealv1.WinningPoStRequest{RegisteredPostProof: 3},
			"add_pieces": adds}
		req := reqs[c.Stage]
		resp, err := c.DecodeOutput(req, out)
		if err != nil {
			return
		}
		enc, err := c.EncodeOutput(req, resp)
		if err != nil {
			if c.Stage == "c2" && len(resp.(*sealv1.C2Response).Proof) == 0 {
				return // an empty proof is refused on the way out
			}
			if w, ok := resp.(*sealv1.WindowPoStResponse); ok && len(w.Proofs) == 0 && len(w.FaultySectors) == 0 {
				return // as is a PoSt answer without proofs or faults
			}
			if empty(resp) {
				return // and a snap proof, winning PoSt or piece list with nothing in it
			}
			t.Fatalf("accepted %s output does not encode: %v", c.Stage, err)
		}
		back, err := c.DecodeOutput(req, enc)
		if err != nil || !proto.Equal(back, resp) {
			t.Fatalf("%s round trip: %v, %v", c.Stage, back, err)
		}
	})
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint8(2))
	f.Add([]byte(`{"id":1}`+"\n"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, max uint8) {
		r := NewLineReader(bytes.NewReader(in), int(max))
		for range len(in) + 2 {
			l, err := r.ReadLine()
			if errors.Is(err, io.EOF) {
				return
			}
			if err == nil && len(l) > int(max) {
				t.Fatalf("line of %d bytes past the bound %d", len(l), max)
			}
			if err == nil && bytes.Contains(l, []byte("\n")) {
				t.Fatalf("line %q holds a newline", l)
			}
		}
		t.Fatal("reader did not reach EOF")
	})
}

// stageIndex is the fuzz targets' stage argument for a stage name.
func stageIndex(stage string) uint8 {
	return uint8(slices.Index(Stages, stage))
}

// empty reports an answer the encoders refuse for having nothing in it.
func empty(m proto.Message) bool {
	switch r := m.(type) {
	case *sealv1.SnapProveResponse:
		return len(r.Proof) == 0
	case *sealv1.WinningPoStResponse:
		return len(r.Proofs) == 0
	case *sealv1.AddPiecesResponse:
		return len(r.Pieces) == 0
	}
	return false
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}
