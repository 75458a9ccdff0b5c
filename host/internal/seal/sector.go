package seal

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Sector is one synthetic committed-capacity sector, laid out on disk as
// lotus lays out a sector before PC1: a staged (unsealed) file of the full
// sector size holding zeros, an empty sealed file and a fresh cache folder.
type Sector struct {
	ID          *sealv1.Sector
	StagedPath  string
	SealedPath  string
	CachePath   string
	Pieces      []*sealv1.PieceInfo
	Ticket      []byte // 32 bytes
	Seed        []byte // 32 bytes, the interactive randomness of C1
	SectorBytes uint64
}

// proofTypes maps a sector size to its StackedDrg V1_1 registered seal
// proof (go-state-types abi numbering), the one lotus picks for new
// sectors at network version 16 and later.
var proofTypes = map[uint64]int64{
	2 << 10:   5,
	8 << 20:   6,
	512 << 20: 7,
	32 << 30:  8,
	64 << 30:  9,
}

// ProofType returns the V1_1 registered seal proof of a sector size.
func ProofType(sectorBytes uint64) (int64, error) {
	p, ok := proofTypes[sectorBytes]
	if !ok {
		return 0, fmt.Errorf("no seal proof for a sector of %d bytes (sizes: 2KiB, 8MiB, 512MiB, 32GiB, 64GiB)", sectorBytes)
	}
	return p, nil
}

// PrepareRequest says which sectors to lay out and where.
type PrepareRequest struct {
	// Dir is the work folder; each sector gets a folder inside it.
	Dir         string
	SectorBytes uint64
	MinerID     uint64
	// First is the first sector number; sectors are numbered First,
	// First+1, ….
	First uint64
	Count int
	// RandSeed makes tickets and seeds reproducible: the same value gives
	// the same randomness to the same sector number.
	RandSeed uint64
}

// Prepare creates the files of req.Count sectors. The staged file is made
// by truncation, so it reads as zeros without writing them: for a 32 GiB
// sector that is a sparse file, as cheap as the 2 KiB of the demo.
func Prepare(req PrepareRequest) ([]Sector, error) {
	proof, err := ProofType(req.SectorBytes)
	if err != nil {
		return nil, err
	}
	if req.Count < 1 {
		return nil, fmt.Errorf("sector count %d: want at least 1", req.Count)
	}
	piece := &sealv1.PieceInfo{Size: req.SectorBytes, PieceCid: ZeroPieceCID(req.SectorBytes)}
	out := make([]Sector, 0, req.Count)
	for i := range req.Count {
		num := req.First + uint64(i)
		dir := filepath.Join(req.Dir, fmt.Sprintf("s-t0%d-%d", req.MinerID, num))
		s := Sector{
			ID:          &sealv1.Sector{RegisteredSealProof: proof, MinerId: req.MinerID, SectorNumber: num},
			StagedPath:  filepath.Join(dir, "unsealed"),
			SealedPath:  filepath.Join(dir, "sealed"),
			CachePath:   filepath.Join(dir, "cache"),
			Pieces:      []*sealv1.PieceInfo{piece},
			SectorBytes: req.SectorBytes,
		}
		s.Ticket, s.Seed = randomness(req.RandSeed, num)
		if err := os.MkdirAll(s.CachePath, 0o755); err != nil {
			return nil, fmt.Errorf("sector %d: %w", num, err)
		}
		if err := makeFile(s.StagedPath, int64(req.SectorBytes)); err != nil {
			return nil, fmt.Errorf("sector %d: staged file: %w", num, err)
		}
		if err := makeFile(s.SealedPath, 0); err != nil {
			return nil, fmt.Errorf("sector %d: sealed file: %w", num, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func makeFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// randomness draws a sector's ticket and seed from a stream keyed by the
// run's seed and the sector number, so a sector's values do not depend on
// how many sectors the run has.
func randomness(seed, sector uint64) (ticket, interactive []byte) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], sector)
	r := rand.NewChaCha8(key)
	ticket = make([]byte, 32)
	interactive = make([]byte, 32)
	_, _ = r.Read(ticket)
	_, _ = r.Read(interactive)
	return ticket, interactive
}

// ZeroPieceCID is the piece CID (comm_p) of a piece of zeros of the given
// padded size: the root of the binary tree of SHA-256 over 32-byte nodes,
// each digest truncated to 254 bits, whose leaves are zeros. A CC sector
// holds one such piece of the full sector size, and then comm_d is the
// same value. go-commp-utils' zerocomm tabulates these roots, but it would
// bring go-state-types, cbor-gen and go-address into the host for one
// lookup; a test checks this computation against its table instead.
// paddedSize must be a power of two of at least 128 bytes.
func ZeroPieceCID(paddedSize uint64) string {
	var node [32]byte
	for range bits.TrailingZeros64(paddedSize) - 5 { // leaves are 32 bytes
		node = sha256.Sum256(append(node[:], node[:]...))
		node[31] &= 0x3f
	}
	c, err := commcid.PieceCommitmentV1ToCID(node[:])
	if err != nil {
		// commcid refuses only digests other than 32 bytes.
		panic(fmt.Sprintf("seal: encoding a 32-byte piece commitment: %v", err))
	}
	return c.String()
}
