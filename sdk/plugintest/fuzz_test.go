package plugintest

import (
	"testing"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"
)

// FuzzCheckCID: checkCID never panics, and accepts only strings that
// commcid rebuilds exactly from a 254-bit digest.
func FuzzCheckCID(f *testing.F) {
	f.Add(zeroPiece2KiB)
	f.Add(cidString(commcid.ReplicaCommitmentV1ToCID(make([]byte, 32))))
	f.Add("bagboea4b5abc")
	f.Add("BAGA6EA4SEAQPY7USQKLOKFX2VXUYNMUPSLKEUTZEXE2UQURDG5VHTEBHXQMPQMY")
	f.Fuzz(func(t *testing.T, s string) {
		if checkCID(s, unsealedKind) != nil {
			return
		}
		c, err := cid.Decode(s)
		if err != nil {
			t.Fatalf("accepted %q, which does not decode: %v", s, err)
		}
		d, err := commcid.CIDToDataCommitmentV1(c)
		if err != nil || d[31]&0xc0 != 0 {
			t.Fatalf("accepted %q, which is not a 254-bit comm_d: %x, %v", s, d, err)
		}
		if again, _ := commcid.DataCommitmentV1ToCID(d); again.String() != s {
			t.Fatalf("accepted %q, which is not the canonical encoding %q", s, again)
		}
	})
}
