package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// mock serves every stage (the ones besides sealing in later.go). Every output is a pure function of the
// request (and the output-size knob), so two runs agree and a test can
// predict them; the inputs are checked the way filecoin-ffi and lotus
// check them, so a host bug that sends a wrong path or a sealed CID where
// an unsealed one belongs fails here too.
type mock struct{ w *worker }

const fakeNote = "FAKE: produced by the sealhost mock plugin, proves nothing"

// fakeProofNote is c2's C2Response.verification: the host prints it where
// a real plugin's says which verifier accepted the proof, so the demo's own
// output says its proofs are fake.
const fakeProofNote = "FAKE proof from plugins/mock: not a SNARK, nothing verified"

// sectorBytes encodes the sector's identity for hashing.
func sectorBytes(s *sealv1.Sector) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(s.GetRegisteredSealProof()))
	b = binary.LittleEndian.AppendUint64(b, s.GetMinerId())
	return binary.LittleEndian.AppendUint64(b, s.GetSectorNumber())
}

func piecesBytes(ps []*sealv1.PieceInfo) []byte {
	var b []byte
	for _, p := range ps {
		b = binary.LittleEndian.AppendUint64(b, p.GetSize())
		b = append(b, p.GetPieceCid()...)
		b = append(b, 0)
	}
	return b
}

func checkSector(s *sealv1.Sector) (proofInfo, error) {
	if s == nil {
		return proofInfo{}, sdk.Errorf("request has no sector: set sector {registered_seal_proof, miner_id, sector_number}")
	}
	p, err := lookupProof(s.GetRegisteredSealProof())
	if err != nil {
		return p, sdk.Errorf("%v", err)
	}
	return p, nil
}

// checkPieces applies lotus' rule: the pieces' padded sizes are powers of
// two and add up exactly to the sector size, and each is a piece CID.
func checkPieces(p proofInfo, ps []*sealv1.PieceInfo) error {
	if len(ps) == 0 {
		return sdk.Errorf("no pieces: a sector holds at least one piece (a CC sector one zero piece of %d bytes)", p.sectorSize)
	}
	var sum uint64
	for i, pc := range ps {
		if sz := pc.GetSize(); sz < 128 || sz&(sz-1) != 0 {
			return sdk.Errorf("piece %d: padded size %d is not a power of two of at least 128 bytes", i, sz)
		}
		if _, err := parseUnsealedCID(fmt.Sprintf("piece %d piece_cid", i), pc.GetPieceCid()); err != nil {
			return sdk.Errorf("%v", err)
		}
		sum += pc.GetSize()
	}
	if sum != p.sectorSize {
		return sdk.Errorf("pieces add up to %d bytes, want exactly the %s sector size %d", sum, p.name, p.sectorSize)
	}
	return nil
}

func checkDir(field, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return sdk.Errorf("%s: %v", field, err)
	}
	if !st.IsDir() {
		return sdk.Errorf("%s %s is not a directory", field, path)
	}
	return nil
}

func checkFile(field, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return sdk.Errorf("%s: %v", field, err)
	}
	if st.IsDir() {
		return sdk.Errorf("%s %s is a directory, want a file", field, path)
	}
	return nil
}

func check32(field string, b []byte) error {
	if len(b) != 32 {
		return sdk.Errorf("%s is %d bytes, want 32", field, len(b))
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// commD is the sector's comm_d. A sector filled by one piece has that
// piece's commitment as its comm_d, as in real sealing (a CC sector's is
// the zero piece's); the mock keeps that rule, which the conformance kit
// checks, and makes up the rest, since it builds no tree.
func commD(req interface {
	GetSector() *sealv1.Sector
	GetPieces() []*sealv1.PieceInfo
}) [32]byte {
	ps := req.GetPieces()
	if size, err := sdk.SectorSize(req.GetSector().GetRegisteredSealProof()); err == nil && len(ps) == 1 && ps[0].GetSize() == size {
		if c, err := cid.Decode(ps[0].GetPieceCid()); err == nil {
			if d, err := commcid.CIDToPieceCommitmentV1(c); err == nil && len(d) == 32 {
				return [32]byte(d)
			}
		}
	}
	return commitment("comm_d", sectorBytes(req.GetSector()), piecesBytes(req.GetPieces()))
}

func (m *mock) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	p, err := checkSector(req.GetSector())
	if err == nil && len(req.GetPieces()) > 0 {
		// Optional, as for plugins/ffi: tree_d reads the staged file, and
		// damocles' tree_d task names no pieces.
		err = checkPieces(p, req.GetPieces())
	}
	if err == nil {
		err = firstErr(checkDir("cache_path", req.GetCachePath()), checkFile("staged_path", req.GetStagedPath()))
	}
	if err != nil {
		return nil, err
	}
	if err := m.w.do(ctx, "tree_d"); err != nil {
		return nil, err
	}
	return &sealv1.TreeDResponse{UnsealedCid: unsealedCID(commD(req))}, nil
}

// pc1Output mirrors the shape of rust-fil-proofs' SealPreCommitPhase1Output
// JSON where other tools look (registered_proof, comm_d as an array of 32
// numbers), so an external PC2 fed by the mock can find comm_d there.
type pc1Output struct {
	Mock            string   `json:"_mock"`
	RegisteredProof string   `json:"registered_proof"`
	CommD           []uint16 `json:"comm_d"`
	ReplicaID       string   `json:"replica_id"`
	Padding         string   `json:"padding,omitempty"`
}

func (m *mock) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error) {
	p, err := checkSector(req.GetSector())
	if err == nil {
		err = firstErr(checkPieces(p, req.GetPieces()), check32("ticket", req.GetTicket()),
			checkDir("cache_path", req.GetCachePath()), checkFile("staged_path", req.GetStagedPath()),
			checkFile("sealed_path (lotus creates it empty before PC1)", req.GetSealedPath()))
	}
	if err != nil {
		return nil, err
	}
	if err := m.w.do(ctx, "pc1"); err != nil {
		return nil, err
	}
	d := commD(req)
	out := pc1Output{
		Mock:            fakeNote,
		RegisteredProof: p.name,
		ReplicaID:       fmt.Sprintf("%x", commitment("replica_id", sectorBytes(req.GetSector()), req.GetTicket(), d[:])),
	}
	for _, b := range d {
		out.CommD = append(out.CommD, uint16(b))
	}
	b, err := marshalPadded(&out, &out.Padding, m.w.k.OutputSize)
	if err != nil {
		return nil, err
	}
	return &sealv1.PC1Response{Phase1Output: b}, nil
}

// marshalPadded marshals v, growing *pad until the JSON is at least size
// bytes: the output-size knob emulates a 51 MB C1 output.
func marshalPadded(v any, pad *string, size int64) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || int64(len(b)) >= size {
		return b, err
	}
	*pad = string(repeat('.', int(size-int64(len(b)))))
	return json.Marshal(v)
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func (m *mock) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	_, err := checkSector(req.GetSector())
	if err == nil {
		err = firstErr(checkDir("cache_path", req.GetCachePath()), checkFile("sealed_path", req.GetSealedPath()))
	}
	if err != nil {
		return nil, err
	}
	var in pc1Output
	if err := json.Unmarshal(req.GetPhase1Output(), &in); err != nil || len(in.CommD) != 32 {
		return nil, sdk.Errorf("phase1_output is not a PC1 output (want JSON with a 32-number comm_d, as rust-fil-proofs writes): %.80q", req.GetPhase1Output())
	}
	var d [32]byte
	for i, n := range in.CommD {
		d[i] = byte(n)
	}
	if err := m.w.do(ctx, "pc2"); err != nil {
		return nil, err
	}
	r := commitment("comm_r", sectorBytes(req.GetSector()), d[:], req.GetPhase1Output())
	return &sealv1.PC2Response{SealedCid: sealedCID(r), UnsealedCid: unsealedCID(d)}, nil
}

type c1Output struct {
	Mock            string `json:"_mock"`
	RegisteredProof string `json:"registered_proof"`
	CommR           string `json:"comm_r"`
	CommD           string `json:"comm_d"`
	Seed            string `json:"seed"`
	Ticket          string `json:"ticket"`
	VanillaProofs   string `json:"vanilla_proofs"`
	Padding         string `json:"padding,omitempty"`
}

func (m *mock) C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, error) {
	p, err := checkSector(req.GetSector())
	var r, d [32]byte
	if err == nil {
		r, err = parseSealedCID("sealed_cid", req.GetSealedCid())
	}
	if err == nil {
		d, err = parseUnsealedCID("unsealed_cid", req.GetUnsealedCid())
	}
	if err != nil {
		return nil, sdk.Errorf("%v", err)
	}
	if err := firstErr(checkPieces(p, req.GetPieces()), check32("ticket", req.GetTicket()), check32("seed", req.GetSeed()),
		checkDir("cache_path", req.GetCachePath()), checkFile("sealed_path", req.GetSealedPath())); err != nil {
		return nil, err
	}
	if err := m.w.do(ctx, "c1"); err != nil {
		return nil, err
	}
	out := c1Output{
		Mock:            fakeNote,
		RegisteredProof: p.name,
		CommR:           fmt.Sprintf("%x", r),
		CommD:           fmt.Sprintf("%x", d),
		Seed:            fmt.Sprintf("%x", req.GetSeed()),
		Ticket:          fmt.Sprintf("%x", req.GetTicket()),
	}
	v := commitment("vanilla", sectorBytes(req.GetSector()), r[:], d[:], req.GetTicket(), req.GetSeed())
	out.VanillaProofs = fmt.Sprintf("%x", v)
	b, err := marshalPadded(&out, &out.Padding, m.w.k.OutputSize)
	if err != nil {
		return nil, err
	}
	return &sealv1.C1Response{Phase1Output: b}, nil
}

func (m *mock) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	p, err := checkSector(req.GetSector())
	if err != nil {
		return nil, err
	}
	if len(req.GetPhase1Output()) == 0 {
		return nil, sdk.Errorf("phase1_output is empty: pass C1's output")
	}
	if err := m.w.do(ctx, "c2"); err != nil {
		return nil, err
	}
	return &sealv1.C2Response{Proof: fakeProof(p, req), Verified: false, Verification: fakeProofNote}, nil
}

// fakeProof stretches a digest of the request to the proof size of p's
// type, 192 bytes per partition, in SHA-256 counter mode.
func fakeProof(p proofInfo, req *sealv1.C2Request) []byte {
	return stretch(commitment("proof", sectorBytes(req.GetSector()), req.GetPhase1Output()), p.proofSize())
}
