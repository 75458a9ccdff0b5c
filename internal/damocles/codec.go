package damocles

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Codec translates one stage between damocles and sealhost. A consumer
// (`host processor`) uses DecodeTask and EncodeOutput; a producer (the
// bridge plugin) EncodeTask and DecodeOutput. Requests and responses are
// the sealv1 messages of the stage (*sealv1.PC1Request, …).
type Codec struct {
	// Stage is the damocles stage name, as on the ready line.
	Stage string
	// SealStage is the sealhost stage it runs as.
	SealStage sealv1.Stage
	// DecodeTask reads a task body into the stage's sealv1 request.
	DecodeTask func(task json.RawMessage) (proto.Message, error)
	// EncodeOutput writes the answer to req as damocles' output.
	EncodeOutput func(req, resp proto.Message) (json.RawMessage, error)
	// EncodeTask writes a sealv1 request as the task body.
	EncodeTask func(req proto.Message) (json.RawMessage, error)
	// DecodeOutput reads a processor's output for req into the stage's
	// sealv1 response. For tree_d it reads comm_d from the tree file in
	// req's cache dir, as damocles-worker does: the output is only true.
	DecodeOutput func(req proto.Message, output json.RawMessage) (proto.Message, error)
}

// Stages are the damocles stages sealhost serves, in pipeline order.
// (c1 has no external processor in damocles: the worker runs it itself.)
// The stages after c2 are no sealing stages but damocles processors all
// the same; transfer and synth_proof have no sealhost stage.
var Stages = []string{"add_pieces", "tree_d", "pc1", "pc2", "c2", "snap_encode", "snap_prove", "window_post", "winning_post", "unseal"}

// BridgeStages are the Stages the plugins/damocles bridge serves (it runs
// a damocles processor for one of them): all of them, as `host processor`
// does. A list of its own all the same: `host import` moves a damocles
// processor with its own binary to the bridge only for these.
var BridgeStages = []string{"add_pieces", "tree_d", "pc1", "pc2", "c2", "snap_encode", "snap_prove", "window_post", "winning_post", "unseal"}

var codecs = map[string]*Codec{
	"tree_d": {Stage: "tree_d", SealStage: sealv1.Stage_STAGE_TREE_D, DecodeTask: decodeTreeD, EncodeOutput: encodeTreeDOutput, EncodeTask: encodeTreeD, DecodeOutput: decodeTreeDOutput},
	"pc1":    {Stage: "pc1", SealStage: sealv1.Stage_STAGE_PC1, DecodeTask: decodePC1, EncodeOutput: encodePC1Output, EncodeTask: encodePC1, DecodeOutput: decodePC1Output},
	"pc2":    {Stage: "pc2", SealStage: sealv1.Stage_STAGE_PC2, DecodeTask: decodePC2, EncodeOutput: encodePC2Output, EncodeTask: encodePC2, DecodeOutput: decodePC2Output},
	"c2":     {Stage: "c2", SealStage: sealv1.Stage_STAGE_C2, DecodeTask: decodeC2, EncodeOutput: encodeC2Output, EncodeTask: encodeC2, DecodeOutput: decodeC2Output},
	"window_post": {Stage: "window_post", SealStage: sealv1.Stage_STAGE_WINDOW_POST, DecodeTask: decodeWindowPoSt, EncodeOutput: encodeWindowPoStOutput,
		EncodeTask: encodeWindowPoSt, DecodeOutput: decodeWindowPoStOutput},
	"unseal": {Stage: "unseal", SealStage: sealv1.Stage_STAGE_UNSEAL, DecodeTask: decodeUnseal, EncodeOutput: encodeUnsealOutput,
		EncodeTask: encodeUnseal, DecodeOutput: decodeUnsealOutput},
	"snap_encode": {Stage: "snap_encode", SealStage: sealv1.Stage_STAGE_SNAP_ENCODE, DecodeTask: decodeSnapEncode, EncodeOutput: encodeSnapEncodeOutput,
		EncodeTask: encodeSnapEncode, DecodeOutput: decodeSnapEncodeOutput},
	"snap_prove": {Stage: "snap_prove", SealStage: sealv1.Stage_STAGE_SNAP_PROVE, DecodeTask: decodeSnapProve, EncodeOutput: encodeSnapProveOutput,
		EncodeTask: encodeSnapProve, DecodeOutput: decodeSnapProveOutput},
	"winning_post": {Stage: "winning_post", SealStage: sealv1.Stage_STAGE_WINNING_POST, DecodeTask: decodeWinningPoSt, EncodeOutput: encodeWinningPoStOutput,
		EncodeTask: encodeWinningPoSt, DecodeOutput: decodeWinningPoStOutput},
	"add_pieces": {Stage: "add_pieces", SealStage: sealv1.Stage_STAGE_ADD_PIECES, DecodeTask: decodeAddPieces, EncodeOutput: encodeAddPiecesOutput,
		EncodeTask: encodeAddPieces, DecodeOutput: decodeAddPiecesOutput},
}

// Lookup returns the codec of a damocles stage name.
func Lookup(stage string) (*Codec, error) {
	if c, ok := codecs[stage]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("stage %q is not served through sealhost (served: %s; damocles runs c1 inside the worker)", shortString(stage), strings.Join(Stages, ", "))
}

// TreeDFile is where rust-fil-proofs keeps tree_d in a sector's cache dir;
// its last 32 bytes are the root, comm_d.
const TreeDFile = "sc-02-data-tree-d.dat"

// ReadCommD reads comm_d from the tree_d file in cacheDir, as
// damocles-worker and lotus do.
func ReadCommD(cacheDir string) (Bytes32, error) {
	var d Bytes32
	p := filepath.Join(cacheDir, TreeDFile)
	f, err := os.Open(p)
	if err != nil {
		return d, fmt.Errorf("tree_d: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return d, fmt.Errorf("tree_d: %v", err)
	}
	if !st.Mode().IsRegular() || st.Size() < 32 {
		return d, fmt.Errorf("tree_d: %s is not a tree file (%d bytes; a tree has at least its 32-byte root)", p, st.Size())
	}
	if _, err := f.ReadAt(d[:], st.Size()-32); err != nil && err != io.EOF {
		return d, fmt.Errorf("tree_d: %s: %v", p, err)
	}
	return d, nil
}

func as[T proto.Message](m proto.Message) (T, error) {
	t, ok := m.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("damocles: got a %T, want a %T", m, zero)
	}
	return t, nil
}

func sectorOf(p SealProof, miner, number uint64) *sealv1.Sector {
	return &sealv1.Sector{RegisteredSealProof: int64(p), MinerId: miner, SectorNumber: number}
}

// --- tree_d

func decodeTreeD(raw json.RawMessage) (proto.Message, error) {
	var t TreeDTask
	if err := t.UnmarshalJSON(raw); err != nil { // object() checks it is one value
		return nil, fmt.Errorf("tree_d task: %v", err)
	}
	m, n := sectorOfPath(t.CacheDir)
	return &sealv1.TreeDRequest{Sector: sectorOf(t.RegisteredProof, m, n), CachePath: t.CacheDir, StagedPath: t.StagedFile}, nil
}

func encodeTreeDOutput(_, resp proto.Message) (json.RawMessage, error) {
	if _, err := as[*sealv1.TreeDResponse](resp); err != nil {
		return nil, err
	}
	return json.RawMessage("true"), nil
}

func encodeTreeD(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.TreeDRequest](req)
	if err != nil {
		return nil, err
	}
	return marshal(TreeDTask{RegisteredProof: SealProof(r.GetSector().GetRegisteredSealProof()), StagedFile: r.GetStagedPath(), CacheDir: r.GetCachePath()})
}

func decodeTreeDOutput(req proto.Message, out json.RawMessage) (proto.Message, error) {
	r, err := as[*sealv1.TreeDRequest](req)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := json.Unmarshal(out, &ok); err != nil || !ok {
		return nil, fmt.Errorf("tree_d output is %s, want true", shortText(out))
	}
	d, err := ReadCommD(r.GetCachePath())
	if err != nil {
		return nil, err
	}
	c, err := commcid.DataCommitmentV1ToCID(d[:])
	if err != nil {
		return nil, fmt.Errorf("tree_d: %v", err)
	}
	return &sealv1.TreeDResponse{UnsealedCid: c.String()}, nil
}

// --- pc1

func decodePC1(raw json.RawMessage) (proto.Message, error) {
	var t PC1Task
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("pc1 task: %v", err)
	}
	miner, err := MinerOf(t.ProverID)
	if err != nil {
		return nil, fmt.Errorf("pc1 task: %v", err)
	}
	req := &sealv1.PC1Request{Sector: sectorOf(t.RegisteredProof, miner, t.SectorID), CachePath: t.CachePath,
		StagedPath: t.InPath, SealedPath: t.OutPath, Ticket: append([]byte(nil), t.Ticket[:]...)}
	for i, p := range t.PieceInfos {
		pi, err := pieceOf(i, p)
		if err != nil {
			return nil, fmt.Errorf("pc1 task: %v", err)
		}
		req.Pieces = append(req.Pieces, pi)
	}
	return req, nil
}

func encodePC1Output(_, resp proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.PC1Response](resp)
	if err != nil {
		return nil, err
	}
	return opaqueBytes("pc1", r.GetPhase1Output(), r.GetPhase1OutputBlob())
}

// opaqueBytes checks that a filecoin-ffi output is what damocles carries:
// a JSON object with its registered_proof.
func opaqueBytes(stage string, b []byte, blob *sealv1.Blob) (json.RawMessage, error) {
	if blob != nil {
		return nil, fmt.Errorf("%s: the output came as a blob file; the task API answers inline", stage)
	}
	if _, err := proofOf(b); err != nil {
		return nil, fmt.Errorf("%s output cannot travel to damocles: %v", stage, err)
	}
	return b, nil
}

func encodePC1(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.PC1Request](req)
	if err != nil {
		return nil, err
	}
	t := PC1Task{RegisteredProof: SealProof(r.GetSector().GetRegisteredSealProof()), CachePath: r.GetCachePath(),
		InPath: r.GetStagedPath(), OutPath: r.GetSealedPath(), ProverID: ProverID(r.GetSector().GetMinerId()),
		SectorID: r.GetSector().GetSectorNumber(), PieceInfos: []PieceInfo{}}
	if len(r.GetTicket()) != 32 {
		return nil, fmt.Errorf("pc1: ticket has %d bytes, want 32", len(r.GetTicket()))
	}
	copy(t.Ticket[:], r.GetTicket())
	for i, p := range r.GetPieces() {
		dp, err := damoclesPiece(i, p)
		if err != nil {
			return nil, fmt.Errorf("pc1: %v", err)
		}
		t.PieceInfos = append(t.PieceInfos, dp)
	}
	return marshal(t)
}

func decodePC1Output(_ proto.Message, out json.RawMessage) (proto.Message, error) {
	if _, err := proofOf(out); err != nil {
		return nil, fmt.Errorf("pc1 output: %v", err)
	}
	b, err := compacted(out)
	if err != nil {
		return nil, fmt.Errorf("pc1 output: %v", err)
	}
	return &sealv1.PC1Response{Phase1Output: b}, nil
}

// --- pc2

func decodePC2(raw json.RawMessage) (proto.Message, error) {
	var t PC2Task
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("pc2 task: %v", err)
	}
	p, _ := proofOf(t.PC1Out) // checked by UnmarshalJSON
	m, n := sectorOfPath(t.CacheDir)
	out, err := compacted(t.PC1Out)
	if err != nil {
		return nil, fmt.Errorf("pc2 task: pc1out: %v", err)
	}
	return &sealv1.PC2Request{Sector: sectorOf(p, m, n), Phase1Output: out, CachePath: t.CacheDir, SealedPath: t.SealedFile}, nil
}

func encodePC2Output(req, resp proto.Message) (json.RawMessage, error) {
	q, err := as[*sealv1.PC2Request](req)
	if err != nil {
		return nil, err
	}
	r, err := as[*sealv1.PC2Response](resp)
	if err != nil {
		return nil, err
	}
	o := PC2Output{RegisteredProof: SealProof(q.GetSector().GetRegisteredSealProof())}
	if o.CommR, o.CommD, err = commitmentsOf("pc2 answer", r.GetSealedCid(), r.GetUnsealedCid()); err != nil {
		return nil, err
	}
	return marshal(o)
}

// commitmentsOf reads comm_r and comm_d from an answer's sealed and
// unsealed CIDs.
func commitmentsOf(what, sealed, unsealed string) (r, d Bytes32, err error) {
	if r, err = commitmentOf("sealed_cid", sealed, commcid.CIDToReplicaCommitmentV1); err != nil {
		return r, d, fmt.Errorf("%s: %v", what, err)
	}
	if d, err = commitmentOf("unsealed_cid", unsealed, commcid.CIDToDataCommitmentV1); err != nil {
		return r, d, fmt.Errorf("%s: %v", what, err)
	}
	return r, d, nil
}

// cidsOf is commitmentsOf's inverse; rName and dName name the fields.
func cidsOf(what, rName, dName string, r, d Bytes32) (sealed, unsealed string, err error) {
	rc, err := commcid.ReplicaCommitmentV1ToCID(r[:])
	if err != nil {
		return "", "", fmt.Errorf("%s: %s: %v", what, rName, err)
	}
	dc, err := commcid.DataCommitmentV1ToCID(d[:])
	if err != nil {
		return "", "", fmt.Errorf("%s: %s: %v", what, dName, err)
	}
	return rc.String(), dc.String(), nil
}

func encodePC2(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.PC2Request](req)
	if err != nil {
		return nil, err
	}
	out, err := opaqueBytes("pc2: phase1_output", r.GetPhase1Output(), r.GetPhase1OutputBlob())
	if err != nil {
		return nil, err
	}
	return marshal(PC2Task{PC1Out: out, CacheDir: r.GetCachePath(), SealedFile: r.GetSealedPath()})
}

func decodePC2Output(_ proto.Message, out json.RawMessage) (proto.Message, error) {
	var o PC2Output
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("pc2 output: %v", err)
	}
	r, d, err := cidsOf("pc2 output", "comm_r", "comm_d", o.CommR, o.CommD)
	if err != nil {
		return nil, err
	}
	return &sealv1.PC2Response{SealedCid: r, UnsealedCid: d}, nil
}

// --- c2

func decodeC2(raw json.RawMessage) (proto.Message, error) {
	var t C2Task
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("c2 task: %v", err)
	}
	miner, err := MinerOf(t.ProverID)
	if err != nil {
		return nil, fmt.Errorf("c2 task: %v", err)
	}
	if miner != t.MinerID {
		return nil, fmt.Errorf("c2 task: prover_id is miner %d's but miner_id is %d", miner, t.MinerID)
	}
	p, _ := proofOf(t.C1Out) // checked by UnmarshalJSON
	out, err := compacted(t.C1Out)
	if err != nil {
		return nil, fmt.Errorf("c2 task: c1out: %v", err)
	}
	return &sealv1.C2Request{Sector: sectorOf(p, t.MinerID, t.SectorID), Phase1Output: out}, nil
}

func encodeC2Output(_, resp proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.C2Response](resp)
	if err != nil {
		return nil, err
	}
	if len(r.GetProof()) == 0 {
		return nil, fmt.Errorf("c2 answer has no proof")
	}
	// C2Output by hand: a proof is 192 bytes a partition, and marshal
	// would check again what intArray wrote.
	return append(append([]byte(`{"proof":`), intArray(r.GetProof())...), '}'), nil
}

func encodeC2(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.C2Request](req)
	if err != nil {
		return nil, err
	}
	out, err := opaqueBytes("c2: phase1_output", r.GetPhase1Output(), r.GetPhase1OutputBlob())
	if err != nil {
		return nil, err
	}
	m := r.GetSector().GetMinerId()
	return marshal(C2Task{C1Out: out, ProverID: ProverID(m), SectorID: r.GetSector().GetSectorNumber(), MinerID: m})
}

func decodeC2Output(_ proto.Message, out json.RawMessage) (proto.Message, error) {
	var o C2Output
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("c2 output: %v", err)
	}
	return &sealv1.C2Response{Proof: o.Proof}, nil
}
