package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/filecoin-project/go-state-types/abi"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// AddPiecesTask is damocles' add_pieces task; its output is the pieces
// written, as PieceInfos (raw commitment, unpadded size).
type AddPiecesTask struct {
	SealProofType  SealProof  `json:"seal_proof_type"`
	Pieces         []AddPiece `json:"pieces"`
	StagedFilepath string     `json:"staged_filepath"`
}

// AddPiece is one piece of an add_pieces task: payload_size bytes read
// from piece_file, then zeros up to piece_size, which is unpadded.
type AddPiece struct {
	PieceFile   PieceFile `json:"piece_file"`
	PayloadSize uint64    `json:"payload_size"`
	PieceSize   uint64    `json:"piece_size"`
}

// PieceFile is where a piece's bytes are, as serde writes damocles'
// enum: {"url":URL}, {"local":PATH} or "pledge" (zeros).
type PieceFile struct {
	URL, Local string
	Pledge     bool
}

func (p PieceFile) MarshalJSON() ([]byte, error) {
	switch {
	case p.Pledge:
		return []byte(`"pledge"`), nil
	case p.URL != "":
		return marshal(map[string]string{"url": p.URL})
	}
	return marshal(map[string]string{"local": p.Local})
}

func (p *PieceFile) UnmarshalJSON(raw []byte) error {
	t := bytes.TrimSpace(raw)
	if s, ok := stringOf(t); ok {
		if s != "pledge" {
			return fmt.Errorf("%q is not a piece file: want \"pledge\", {\"local\": PATH} or {\"url\": URL}", shortString(s))
		}
		*p = PieceFile{Pledge: true}
		return nil
	}
	f, err := object(t)
	if err != nil || len(f.m) != 1 {
		return fmt.Errorf("want \"pledge\", {\"local\": PATH} or {\"url\": URL}, got %s", shortText(t))
	}
	if _, ok := f.m["local"]; ok {
		*p = PieceFile{}
		return f.get("local", &p.Local)
	}
	if _, ok := f.m["url"]; ok {
		*p = PieceFile{}
		return f.get("url", &p.URL)
	}
	return fmt.Errorf("want \"pledge\", {\"local\": PATH} or {\"url\": URL}, got %s", shortText(t))
}

func (t *AddPiecesTask) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	var pieces []json.RawMessage
	if err := first(f.get("seal_proof_type", &t.SealProofType), f.get("pieces", &pieces), f.get("staged_filepath", &t.StagedFilepath)); err != nil {
		return err
	}
	if len(pieces) > maxPieces {
		return fmt.Errorf("pieces has %d entries, at most %d are taken (a sector holds at most 256 deals)", len(pieces), maxPieces)
	}
	t.Pieces = make([]AddPiece, len(pieces))
	for i, r := range pieces {
		pf, err := object(r)
		if err == nil {
			p := &t.Pieces[i]
			err = first(pf.get("piece_file", &p.PieceFile), pf.get("payload_size", &p.PayloadSize), pf.get("piece_size", &p.PieceSize))
		}
		if err != nil {
			return fmt.Errorf("pieces[%d]: %v", i, err)
		}
	}
	return nil
}

// decodeAddPieces maps what the task API's add_pieces can do: a local file
// holding the whole piece, or zeros. A URL (damocles fetches it) and a
// payload shorter than its piece (damocles pads it with zeros) have no
// counterpart in sealv1.PieceFile, which reads a file of the piece's full
// unpadded size; they are errors that say so.
func decodeAddPieces(raw json.RawMessage) (proto.Message, error) {
	var t AddPiecesTask
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("add_pieces task: %v", err)
	}
	m, n := sectorOfPath(t.StagedFilepath)
	req := &sealv1.AddPiecesRequest{Sector: sectorOf(t.SealProofType, m, n), StagedPath: t.StagedFilepath}
	for i, p := range t.Pieces {
		u := abi.UnpaddedPieceSize(p.PieceSize)
		if err := u.Validate(); err != nil {
			return nil, fmt.Errorf("add_pieces task: pieces[%d].piece_size %d: %v (the unpadded size: 127/128 of a power of two, 127 for 128 padded bytes)", i, p.PieceSize, err)
		}
		if p.PayloadSize > p.PieceSize {
			return nil, fmt.Errorf("add_pieces task: pieces[%d]: payload_size %d is larger than piece_size %d", i, p.PayloadSize, p.PieceSize)
		}
		pf := &sealv1.PieceFile{Size: uint64(u.Padded())}
		switch {
		case p.PieceFile.URL != "":
			return nil, fmt.Errorf("add_pieces task: pieces[%d] is at the URL %s: the task API's add_pieces reads local files only (fetch it to a local file, or keep add_pieces with damocles-worker)", i, shortString(p.PieceFile.URL))
		case p.PieceFile.Local != "":
			if p.PayloadSize != p.PieceSize {
				return nil, fmt.Errorf("add_pieces task: pieces[%d] (%s): payload_size %d is less than piece_size %d, and the task API's add_pieces pads nothing: it reads a file of the piece's full unpadded size (pad the file to %d bytes with zeros, or keep add_pieces with damocles-worker)",
					i, shortString(p.PieceFile.Local), p.PayloadSize, p.PieceSize, p.PieceSize)
			}
			pf.Path = p.PieceFile.Local
		}
		req.Pieces = append(req.Pieces, pf)
	}
	return req, nil
}

// encodeAddPiecesOutput answers every piece now in the staged file, the
// zero pieces the host added to align the deals and to fill the sector
// included: what damocles' pc1 and snap_encode then take as the sector's
// pieces. (damocles' own add_pieces answers the pieces it was given; a
// worker that fills the sector with pledge pieces itself gets the same
// list.)
func encodeAddPiecesOutput(_, resp proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.AddPiecesResponse](resp)
	if err != nil {
		return nil, err
	}
	if len(r.GetPieces()) == 0 {
		return nil, fmt.Errorf("add_pieces answer has no pieces")
	}
	out := make([]PieceInfo, 0, len(r.GetPieces()))
	for i, p := range r.GetPieces() {
		dp, err := damoclesPiece(i, p)
		if err != nil {
			return nil, fmt.Errorf("add_pieces answer: %v", err)
		}
		out = append(out, dp)
	}
	return marshal(out)
}

func encodeAddPieces(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.AddPiecesRequest](req)
	if err != nil {
		return nil, err
	}
	t := AddPiecesTask{SealProofType: SealProof(r.GetSector().GetRegisteredSealProof()), StagedFilepath: r.GetStagedPath(), Pieces: []AddPiece{}}
	for i, p := range r.GetPieces() {
		s := abi.PaddedPieceSize(p.GetSize())
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("add_pieces: pieces[%d].size %d: %v", i, p.GetSize(), err)
		}
		if p.GetPieceCid() != "" {
			return nil, fmt.Errorf("add_pieces: pieces[%d].piece_cid: a damocles add_pieces task cannot carry the commitment a piece must have", i)
		}
		ap := AddPiece{PieceFile: PieceFile{Local: p.GetPath(), Pledge: p.GetPath() == ""}, PayloadSize: uint64(s.Unpadded()), PieceSize: uint64(s.Unpadded())}
		t.Pieces = append(t.Pieces, ap)
	}
	return marshal(t)
}

func decodeAddPiecesOutput(_ proto.Message, out json.RawMessage) (proto.Message, error) {
	pieces, err := readPieces(out)
	if err != nil {
		return nil, fmt.Errorf("add_pieces output: %v", err)
	}
	r := &sealv1.AddPiecesResponse{}
	for i, p := range pieces {
		pi, err := pieceOf(i, p)
		if err != nil {
			return nil, fmt.Errorf("add_pieces output: %v", err)
		}
		r.Pieces = append(r.Pieces, pi)
	}
	return r, nil
}
