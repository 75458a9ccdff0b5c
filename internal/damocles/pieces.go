package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk"
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
	if _, err := Layout(req); err != nil {
		return nil, fmt.Errorf("add_pieces task: %v", err)
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

// encodeAddPieces writes the whole staged file as damocles pieces: a
// damocles add_pieces processor writes its pieces back to back, neither
// aligning them (write_and_preprocess with no pieces before it) nor
// filling the sector, while sealhost's add_pieces aligns each piece and
// fills the sector with zero pieces (WriteWithAlignment, then zeros). So
// the zero pieces sealhost would write are sent as pledge pieces in their
// places (Layout), and the processor writes the same file. A piece_cid is
// not sent (the task has no field for it) but checked against the
// processor's answer (decodeAddPiecesOutput).
func encodeAddPieces(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.AddPiecesRequest](req)
	if err != nil {
		return nil, err
	}
	all, err := Layout(r)
	if err != nil {
		return nil, fmt.Errorf("add_pieces: %v", err)
	}
	t := AddPiecesTask{SealProofType: SealProof(r.GetSector().GetRegisteredSealProof()), StagedFilepath: r.GetStagedPath(), Pieces: make([]AddPiece, 0, len(all))}
	for _, p := range all {
		u := uint64(abi.PaddedPieceSize(p.GetSize()).Unpadded())
		t.Pieces = append(t.Pieces, AddPiece{PieceFile: PieceFile{Local: p.GetPath(), Pledge: p.GetPath() == ""}, PayloadSize: u, PieceSize: u})
	}
	return marshal(t)
}

// Layout is every piece of the staged file sealhost's add_pieces writes
// for r, in order: r's pieces, each after the zero pieces (no path) that
// align it to a multiple of its size, then zero pieces to the sector's
// end. A zero piece is as large as its offset's alignment allows, so the
// gaps are filled as filecoin-ffi's WriteWithAlignment fills them.
func Layout(r *sealv1.AddPiecesRequest) ([]*sealv1.PieceFile, error) {
	sector, err := sdk.SectorSize(r.GetSector().GetRegisteredSealProof())
	if err != nil {
		return nil, fmt.Errorf("sector: %v", err)
	}
	if len(r.GetPieces()) > maxPieces {
		return nil, fmt.Errorf("pieces has %d entries, at most %d are taken (a sector holds at most 256 deals)", len(r.GetPieces()), maxPieces)
	}
	var out []*sealv1.PieceFile
	var off uint64
	zeros := func(to uint64) {
		for off < to {
			z := to - off
			if a := off & -off; off != 0 && a < z {
				z = a // the largest piece aligned at off
			}
			z = 1 << (bits.Len64(z) - 1)
			out = append(out, &sealv1.PieceFile{Size: z})
			off += z
		}
	}
	for i, p := range r.GetPieces() {
		s := abi.PaddedPieceSize(p.GetSize())
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("pieces[%d].size %d: %v", i, p.GetSize(), err)
		}
		if len(p.GetPath()) > maxString {
			return nil, fmt.Errorf("pieces[%d].path is %d bytes long, at most %d are taken (PATH_MAX)", i, len(p.GetPath()), maxString)
		}
		if c := p.GetPieceCid(); c != "" {
			if _, err := commitmentOf(fmt.Sprintf("pieces[%d].piece_cid", i), c, commcid.CIDToPieceCommitmentV1); err != nil {
				return nil, err
			}
		}
		start := (off + uint64(s) - 1) / uint64(s) * uint64(s)
		if start+uint64(s) > sector {
			return nil, fmt.Errorf("pieces[%d] (%d bytes) does not fit: aligned, it would end at byte %d of the %d-byte sector", i, s, start+uint64(s), sector)
		}
		zeros(start)
		out = append(out, p)
		off += uint64(s)
	}
	zeros(sector)
	return out, nil
}

// decodeAddPiecesOutput reads a damocles processor's pieces, one per piece
// the task sent (Layout's), and checks them against the request: the same
// sizes in order, the zero pieces' commitment the zero piece's, a piece
// with a piece_cid that CID; and the staged file the sector size, as
// tree_d and pc1 read it.
func decodeAddPiecesOutput(req proto.Message, out json.RawMessage) (proto.Message, error) {
	q, err := as[*sealv1.AddPiecesRequest](req)
	if err != nil {
		return nil, err
	}
	sent, err := Layout(q)
	if err != nil {
		return nil, fmt.Errorf("add_pieces: %v", err)
	}
	pieces, err := readPieces(out)
	if err != nil {
		return nil, fmt.Errorf("add_pieces output: %v", err)
	}
	if len(pieces) != len(sent) {
		return nil, fmt.Errorf("add_pieces output has %d pieces, want %d: one per piece of the task (the request's %d and the zero pieces that align and fill them)", len(pieces), len(sent), len(q.GetPieces()))
	}
	r := &sealv1.AddPiecesResponse{}
	for i, p := range pieces {
		pi, err := pieceOf(i, p)
		if err != nil {
			return nil, fmt.Errorf("add_pieces output: %v", err)
		}
		w := sent[i]
		switch {
		case pi.Size != w.GetSize():
			return nil, fmt.Errorf("add_pieces output: piece_infos[%d] is %d bytes (padded), the task's piece %d is %d", i, pi.Size, i, w.GetSize())
		case w.GetPath() == "":
			if z := zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(w.GetSize()).Unpadded()).String(); pi.PieceCid != z {
				return nil, fmt.Errorf("add_pieces output: piece_infos[%d] is a pledge piece (zeros), whose commitment is %s, but the processor answered %s", i, z, pi.PieceCid)
			}
		case w.GetPieceCid() != "" && pi.PieceCid != w.GetPieceCid():
			return nil, fmt.Errorf("add_pieces output: piece_infos[%d] (%s): the data's piece CID is %s, the request expects %s: the file is not the deal's data", i, shortString(w.GetPath()), pi.PieceCid, w.GetPieceCid())
		}
		r.Pieces = append(r.Pieces, pi)
	}
	sector, _ := sdk.SectorSize(q.GetSector().GetRegisteredSealProof()) // Layout checked it
	st, err := os.Stat(q.GetStagedPath())
	if err != nil {
		return nil, fmt.Errorf("add_pieces: after the processor answered, the staged file: %v", err)
	}
	if !st.Mode().IsRegular() || uint64(st.Size()) != sector {
		return nil, fmt.Errorf("add_pieces: after the processor answered, the staged file %s is %d bytes, want the sector's %d (its pieces fr32-padded, as tree_d and pc1 read it)", q.GetStagedPath(), st.Size(), sector)
	}
	return r, nil
}
