package plugintest

import "testing"

// FuzzCheckCID: checkCID never panics, and accepts only strings that
// re-encode to themselves from a 254-bit digest.
func FuzzCheckCID(f *testing.F) {
	f.Add(zeroPiece2KiB)
	f.Add(encodeCID(codecSealed, hashPoseidon, [32]byte{7}))
	f.Add("bagboea4b5abc")
	f.Fuzz(func(t *testing.T, s string) {
		if checkCID(s, codecUnsealed, hashSHA254) != nil {
			return
		}
		b, err := cidBase32.DecodeString(s[1:])
		if err != nil || len(b) < 32 {
			t.Fatalf("accepted %q, which does not decode", s)
		}
		var c [32]byte
		copy(c[:], b[len(b)-32:])
		if encodeCID(codecUnsealed, hashSHA254, c) != s {
			t.Fatalf("accepted %q, which is not the canonical encoding", s)
		}
	})
}
