package plugintest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// Inputs holds one valid request per stage. The kit fills what a stage's
// earlier stages produce (PC2's phase1_output, C1's CIDs, C2's
// phase1_output) from the plugin's own answers when it serves those
// stages, and uses these values otherwise.
type Inputs struct {
	TreeD *sealv1.TreeDRequest
	PC1   *sealv1.PC1Request
	PC2   *sealv1.PC2Request
	C1    *sealv1.C1Request
	C2    *sealv1.C2Request

	// The stages besides sealing (later.go). DefaultInputs fills them; a
	// Config.Inputs that leaves one nil gets the default.
	SnapEncode  *sealv1.SnapEncodeRequest
	SnapProve   *sealv1.SnapProveRequest
	WindowPoSt  *sealv1.WindowPoStRequest
	WinningPoSt *sealv1.WinningPoStRequest
	Unseal      *sealv1.UnsealRequest
	AddPieces   *sealv1.AddPiecesRequest
}

// DefaultProofType is StackedDrg2KiBV1_1: sectors small enough for tests.
const DefaultProofType = 5

// DefaultInputs lays out a 2 KiB CC sector in dir and returns valid
// requests for it: dir/cache (a folder), dir/staged (2 KiB of zeros),
// dir/sealed (an empty file, as lotus creates it before PC1), one zero
// piece, a 32-byte ticket and seed. PC2's phase1_output is a placeholder
// in rust-fil-proofs' shape (JSON with registered_proof and a comm_d of 32
// numbers); C1's CIDs are the zero piece's comm_d and a made-up comm_r;
// C2's phase1_output is a placeholder JSON. A plugin whose later stages
// need real earlier outputs should serve the earlier stages too or pass
// its own Config.Inputs (which may start from DefaultInputs). The later
// stages' requests are laterDefaults'.
func DefaultInputs(dir string) (*Inputs, error) {
	cache := filepath.Join(dir, "cache")
	staged := filepath.Join(dir, "staged")
	sealed := filepath.Join(dir, "sealed")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(sealed, nil, 0o644); err != nil {
		return nil, err
	}
	sector := func() *sealv1.Sector {
		return &sealv1.Sector{RegisteredSealProof: DefaultProofType, MinerId: 1000, SectorNumber: 1}
	}
	pieces := func() []*sealv1.PieceInfo { return []*sealv1.PieceInfo{{Size: 2048, PieceCid: zeroPiece2KiB}} }
	ticket, seed := make([]byte, 32), make([]byte, 32)
	for i := range ticket {
		ticket[i], seed[i] = byte(i), byte(255-i)
	}
	ticket[31], seed[31] = 0, 0 // randomness is a field element too

	// comm_d of a 2 KiB zero sector is the zero piece's commitment.
	commD := make([]int, 32)
	for i, b := range zeroCommP2KiB {
		commD[i] = int(b)
	}
	pc1out, err := json.Marshal(map[string]any{
		"_plugintest":      "placeholder PC1 output",
		"registered_proof": "StackedDrg2KiBV1_1",
		"comm_d":           commD,
	})
	if err != nil {
		return nil, err
	}
	var fakeCommR [32]byte
	copy(fakeCommR[:], "plugintest placeholder comm_r..")
	in := &Inputs{
		TreeD: &sealv1.TreeDRequest{Sector: sector(), CachePath: cache, StagedPath: staged, Pieces: pieces()},
		PC1: &sealv1.PC1Request{Sector: sector(), CachePath: cache, StagedPath: staged, SealedPath: sealed,
			Ticket: ticket, Pieces: pieces()},
		PC2: &sealv1.PC2Request{Sector: sector(), Phase1Output: pc1out, CachePath: cache, SealedPath: sealed},
		C1: &sealv1.C1Request{Sector: sector(), SealedCid: cidString(commcid.ReplicaCommitmentV1ToCID(fakeCommR[:])),
			UnsealedCid: zeroPiece2KiB, CachePath: cache, SealedPath: sealed, Ticket: ticket, Seed: seed, Pieces: pieces()},
		C2: &sealv1.C2Request{Sector: sector(), Phase1Output: []byte(`{"_plugintest":"placeholder C1 output"}`)},
	}
	if err := laterDefaults(dir, in); err != nil {
		return nil, err
	}
	return in, nil
}

// proofSize is the C2 proof length for a proof type: 192 bytes per SNARK
// partition, 10 partitions for 32 GiB and 64 GiB sectors, 1 below.
func proofSize(pt int64) (int, error) {
	if pt < 0 || pt >= 15 {
		return 0, fmt.Errorf("proof type %d: the kit knows proof sizes for 0..14 only", pt)
	}
	if pt%5 >= 3 {
		return 1920, nil
	}
	return 192, nil
}
