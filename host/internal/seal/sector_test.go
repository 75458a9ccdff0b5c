package seal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	"github.com/filecoin-project/go-state-types/abi"
)

// TestZeroPieceCID checks against the unsealed CIDs of empty (CC) sectors
// that lotus shows for 2 KiB devnet and 32 GiB mainnet sectors.
func TestZeroPieceCID(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		want string
	}{
		{2 << 10, "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"},
		{32 << 30, "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq"},
	} {
		if got := ZeroPieceCID(tc.size); got != tc.want {
			t.Errorf("ZeroPieceCID(%d) = %s, want %s", tc.size, got, tc.want)
		}
	}
	// Every size zerocomm tabulates, 128 bytes to 2 TiB, against its table.
	for level := range zerocomm.Levels - zerocomm.Skip {
		sz := uint64(128) << level
		want := zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(sz).Unpadded())
		if got := ZeroPieceCID(sz); got != want.String() {
			t.Errorf("ZeroPieceCID(%d) = %s, zerocomm says %s", sz, got, want)
		}
	}
}

func TestProofType(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		want int64
		ok   bool
	}{
		{2 << 10, 5, true}, {8 << 20, 6, true}, {512 << 20, 7, true}, {32 << 30, 8, true}, {64 << 30, 9, true},
		{4 << 10, 0, false}, {0, 0, false},
	} {
		got, err := ProofType(tc.size)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ProofType(%d) = %d, %v; want %d, ok %v", tc.size, got, err, tc.want, tc.ok)
		}
	}
}

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	s, err := Prepare(PrepareRequest{Dir: dir, SectorBytes: 2048, MinerID: 1000, First: 10, Count: 3, RandSeed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 {
		t.Fatalf("%d sectors, want 3", len(s))
	}
	for i, sec := range s {
		if sec.ID.GetSectorNumber() != uint64(10+i) || sec.ID.GetMinerId() != 1000 || sec.ID.GetRegisteredSealProof() != 5 {
			t.Errorf("sector %d: id %v", i, sec.ID)
		}
		staged, err := os.ReadFile(sec.StagedPath)
		if err != nil || !bytes.Equal(staged, make([]byte, 2048)) {
			t.Errorf("sector %d: staged file %d bytes, %v; want 2048 zeros", i, len(staged), err)
		}
		if st, err := os.Stat(sec.SealedPath); err != nil || st.Size() != 0 {
			t.Errorf("sector %d: sealed file %v, %v; want empty", i, st, err)
		}
		if st, err := os.Stat(sec.CachePath); err != nil || !st.IsDir() {
			t.Errorf("sector %d: cache %v", i, err)
		}
		if filepath.Dir(sec.CachePath) != filepath.Join(dir, fmt.Sprintf("s-t01000-%d", 10+i)) {
			t.Errorf("sector %d: folder %s", i, filepath.Dir(sec.CachePath))
		}
		if len(sec.Pieces) != 1 || sec.Pieces[0].GetSize() != 2048 || sec.Pieces[0].GetPieceCid() != ZeroPieceCID(2048) {
			t.Errorf("sector %d: pieces %v", i, sec.Pieces)
		}
		if len(sec.Ticket) != 32 || len(sec.Seed) != 32 || bytes.Equal(sec.Ticket, sec.Seed) {
			t.Errorf("sector %d: ticket %x seed %x", i, sec.Ticket, sec.Seed)
		}
		if i > 0 && bytes.Equal(sec.Ticket, s[i-1].Ticket) {
			t.Errorf("sectors %d and %d share a ticket", i-1, i)
		}
	}
	// The same seed gives a sector the same randomness, whatever the count;
	// another seed does not.
	again, err := Prepare(PrepareRequest{Dir: t.TempDir(), SectorBytes: 2048, MinerID: 1000, First: 11, Count: 1, RandSeed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again[0].Ticket, s[1].Ticket) || !bytes.Equal(again[0].Seed, s[1].Seed) {
		t.Error("sector 11's randomness depends on the sectors before it")
	}
	other, err := Prepare(PrepareRequest{Dir: t.TempDir(), SectorBytes: 2048, MinerID: 1000, First: 11, Count: 1, RandSeed: 43})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other[0].Ticket, s[1].Ticket) {
		t.Error("seeds 42 and 43 give the same ticket")
	}
}

func TestPrepareRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  PrepareRequest
	}{
		{"unknown size", PrepareRequest{Dir: t.TempDir(), SectorBytes: 4096, Count: 1}},
		{"no sectors", PrepareRequest{Dir: t.TempDir(), SectorBytes: 2048, Count: 0}},
		{"folder is a file", PrepareRequest{Dir: "/dev/null/x", SectorBytes: 2048, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Prepare(tc.req); err == nil {
				t.Error("no error")
			}
		})
	}
}
