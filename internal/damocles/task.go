package damocles

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Task bodies and outputs, field for field as vc-processors' builtin
// tasks (tree_d, pc1, pc2, c2; the later stages' are in update.go,
// post.go, unseal.go, pieces.go). Field order is serde's.

// TreeDTask is the tree_d task; its output is the JSON true (the worker
// reads comm_d from the tree file itself).
type TreeDTask struct {
	RegisteredProof SealProof `json:"registered_proof"`
	StagedFile      string    `json:"staged_file"`
	CacheDir        string    `json:"cache_dir"`
}

// PC1Task is the pc1 task; its output is filecoin-proofs-api's
// SealPreCommitPhase1Output, carried as the raw JSON value.
type PC1Task struct {
	RegisteredProof SealProof   `json:"registered_proof"`
	CachePath       string      `json:"cache_path"`
	InPath          string      `json:"in_path"`
	OutPath         string      `json:"out_path"`
	ProverID        Bytes32     `json:"prover_id"`
	SectorID        uint64      `json:"sector_id"`
	Ticket          Bytes32     `json:"ticket"`
	PieceInfos      []PieceInfo `json:"piece_infos"`
}

// PieceInfo is filecoin-proofs-api's PieceInfo: the raw commitment and the
// unpadded size.
type PieceInfo struct {
	Commitment Bytes32 `json:"commitment"`
	Size       uint64  `json:"size"`
}

// PC2Task is the pc2 task. PC1Out is the pc1 output, as received.
type PC2Task struct {
	PC1Out     json.RawMessage `json:"pc1out"`
	CacheDir   string          `json:"cache_dir"`
	SealedFile string          `json:"sealed_file"`
}

// PC2Output is SealPreCommitPhase2Output.
type PC2Output struct {
	RegisteredProof SealProof `json:"registered_proof"`
	CommR           Bytes32   `json:"comm_r"`
	CommD           Bytes32   `json:"comm_d"`
}

// C2Task is the c2 task. C1Out is filecoin-ffi's C1 output, as received.
type C2Task struct {
	C1Out    json.RawMessage `json:"c1out"`
	ProverID Bytes32         `json:"prover_id"`
	SectorID uint64          `json:"sector_id"`
	MinerID  uint64          `json:"miner_id"`
}

// C2Output is SealCommitPhase2Output.
type C2Output struct {
	Proof Bytes `json:"proof"`
}

func (t *TreeDTask) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	return first(f.get("registered_proof", &t.RegisteredProof), f.get("staged_file", &t.StagedFile), f.get("cache_dir", &t.CacheDir))
}

func (t *PC1Task) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	if err := first(f.get("registered_proof", &t.RegisteredProof), f.get("cache_path", &t.CachePath),
		f.get("in_path", &t.InPath), f.get("out_path", &t.OutPath), f.get("prover_id", &t.ProverID),
		f.get("sector_id", &t.SectorID), f.get("ticket", &t.Ticket)); err != nil {
		return err
	}
	pieces, err := f.raw("piece_infos")
	if err != nil {
		return err
	}
	t.PieceInfos, err = readPieces(pieces)
	return err
}

func readPieces(raw json.RawMessage) ([]PieceInfo, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("piece_infos: want an array of {commitment, size}, got %s", kind(raw))
	}
	if len(list) > maxPieces {
		return nil, fmt.Errorf("piece_infos has %d entries, at most %d are taken (a sector holds at most 256 deals)", len(list), maxPieces)
	}
	out := make([]PieceInfo, len(list))
	for i, r := range list {
		f, err := object(r)
		if err == nil {
			err = first(f.get("commitment", &out[i].Commitment), f.get("size", &out[i].Size))
		}
		if err != nil {
			return nil, fmt.Errorf("piece_infos[%d]: %v", i, err)
		}
	}
	return out, nil
}

func (t *PC2Task) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	if err := first(f.get("cache_dir", &t.CacheDir), f.get("sealed_file", &t.SealedFile)); err != nil {
		return err
	}
	t.PC1Out, err = opaqueOutput(f, "pc1out")
	return err
}

func (o *PC2Output) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	return first(f.get("registered_proof", &o.RegisteredProof), f.get("comm_r", &o.CommR), f.get("comm_d", &o.CommD))
}

func (t *C2Task) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	if err := first(f.get("prover_id", &t.ProverID), f.get("sector_id", &t.SectorID), f.get("miner_id", &t.MinerID)); err != nil {
		return err
	}
	t.C1Out, err = opaqueOutput(f, "c1out")
	return err
}

func (o *C2Output) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	return f.get("proof", &o.Proof)
}

// opaqueOutput is a PC1 or C1 output field: a JSON object naming its
// registered_proof, kept as given.
func opaqueOutput(f fields, key string) (json.RawMessage, error) {
	raw, err := f.raw(key)
	if err != nil {
		return nil, err
	}
	if _, err := proofOf(raw); err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	return raw, nil
}

// proofOf reads the registered_proof of a PC1 or C1 output.
func proofOf(out json.RawMessage) (SealProof, error) {
	f, err := object(out)
	if err != nil {
		return 0, fmt.Errorf("not a filecoin-proofs output: %v", err)
	}
	var p SealProof
	if err := f.get("registered_proof", &p); err != nil {
		return 0, fmt.Errorf("not a filecoin-proofs output: %v", err)
	}
	return p, nil
}

func first(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ProverID is the prover id of miner as filecoin-ffi and damocles make it:
// the uvarint of the actor id (an ID address's payload), zero-padded.
func ProverID(miner uint64) Bytes32 {
	var b Bytes32
	binary.PutUvarint(b[:], miner)
	return b
}

// MinerOf reads the actor id back from a prover id.
func MinerOf(p Bytes32) (uint64, error) {
	m, n := binary.Uvarint(p[:])
	if n <= 0 || !bytes.Equal(p[n:], make([]byte, 32-n)) || ProverID(m) != p {
		return 0, fmt.Errorf("prover_id %v is not an ID address payload (the uvarint of the miner's actor id, zero-padded to 32 bytes)", []byte(p[:]))
	}
	return m, nil
}

// sectorOfPath reads miner and sector number from a sector path named as
// damocles names them (s-t0<miner>-<number>). pc2 and tree_d tasks do not
// carry the sector; the host shows it in status, so it is worth the guess,
// and nothing depends on it: a path named otherwise gives zeros.
func sectorOfPath(p string) (miner, number uint64) {
	rest, ok := strings.CutPrefix(filepath.Base(p), "s-t0")
	if !ok {
		return 0, 0
	}
	ms, ns, ok := strings.Cut(rest, "-")
	m, err1 := strconv.ParseUint(ms, 10, 64)
	n, err2 := strconv.ParseUint(ns, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0
	}
	return m, n
}

// pieceOf converts a damocles piece (unpadded size, raw commitment) to
// sealhost's (padded size, piece CID).
func pieceOf(i int, p PieceInfo) (*sealv1.PieceInfo, error) {
	u := abi.UnpaddedPieceSize(p.Size)
	if err := u.Validate(); err != nil {
		return nil, fmt.Errorf("piece_infos[%d].size %d: %v (the unpadded size: 127/128 of a power of two, 127 for 128 padded bytes)", i, p.Size, err)
	}
	c, err := commcid.PieceCommitmentV1ToCID(p.Commitment[:])
	if err != nil {
		return nil, fmt.Errorf("piece_infos[%d].commitment: %v", i, err)
	}
	return &sealv1.PieceInfo{Size: uint64(u.Padded()), PieceCid: c.String()}, nil
}

// damoclesPiece is pieceOf's inverse.
func damoclesPiece(i int, p *sealv1.PieceInfo) (PieceInfo, error) {
	s := abi.PaddedPieceSize(p.GetSize())
	if err := s.Validate(); err != nil {
		return PieceInfo{}, fmt.Errorf("pieces[%d].size %d: %v", i, p.GetSize(), err)
	}
	d, err := commitmentOf(fmt.Sprintf("pieces[%d].piece_cid", i), p.GetPieceCid(), commcid.CIDToPieceCommitmentV1)
	if err != nil {
		return PieceInfo{}, err
	}
	return PieceInfo{Commitment: d, Size: uint64(s.Unpadded())}, nil
}

// commitmentOf reads the 32-byte commitment inside a CID of the kind conv
// accepts.
func commitmentOf(field, s string, conv func(cid.Cid) ([]byte, error)) (Bytes32, error) {
	var out Bytes32
	c, err := cid.Decode(s)
	if err != nil {
		return out, fmt.Errorf("%s %q is not a CID: %v", field, shortString(s), err)
	}
	d, err := conv(c)
	if err != nil {
		return out, fmt.Errorf("%s %q: %v", field, shortString(s), err)
	}
	copy(out[:], d)
	return out, nil
}

// compacted is raw, one valid JSON value (read by object), without
// blanks, as marshal would write it; raw itself when it has none (a
// filecoin-ffi output, compact already, is up to 100 MB).
func compacted(raw json.RawMessage) (json.RawMessage, error) {
	if compact(raw) {
		return raw, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// marshal writes v as serde would read it back: compact, without Go's HTML
// escaping.
func marshal(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
