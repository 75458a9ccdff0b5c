package main

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestCIDKnownVector checks that the mock gives each commitment the
// codec lotus shows for it: the piece CID of 2 KiB of zeros, which
// lotus-bench prints and whose bytes are published alongside it, and the
// prefix every sealed CID in lotus has.
func TestCIDKnownVector(t *testing.T) {
	const want = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
	d, _ := hex.DecodeString("fc7e928296e516faade986b28f92d44a4f24b935485223376a799027bc18f833")
	var c [32]byte
	copy(c[:], d)
	if got := unsealedCID(c); got != want {
		t.Fatalf("unsealedCID = %s, want %s", got, want)
	}
	back, err := parseUnsealedCID("unsealed_cid", want)
	if err != nil || back != c {
		t.Fatalf("parse(%s) = %x, %v; want %x", want, back, err, c)
	}
	if got := sealedCID(c); !strings.HasPrefix(got, "bagboea4b5abc") {
		t.Errorf("sealedCID = %s, want the bagboea4b5abc prefix of fil-commitment-sealed", got)
	}
	if back, err := parseSealedCID("sealed_cid", sealedCID(c)); err != nil || back != c {
		t.Errorf("parseSealedCID(sealedCID(%x)) = %x, %v", c, back, err)
	}
}

func TestParseCommitmentCIDRejects(t *testing.T) {
	var c [32]byte
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "not a base32 CIDv1"},
		{"base58 CIDv0", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "not a base32 CIDv1"},
		{"bad base32", "b!!!!", "not a CID"},
		{"upper case", strings.ToUpper(unsealedCID(c)), "write it as \"" + unsealedCID(c) + "\""},
		{"sealed given as unsealed", sealedCID(c), "want an unsealed commitment"},
		{"dag-cbor CID", "bafy2bzacechsyl7ovbmimehbcdxy3unfxk6rfhxyfhrufkjtc76scyjiov4i6", "codec 0x71"},
		{"truncated", unsealedCID(c)[:20], "not a CID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseUnsealedCID("unsealed_cid", tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "unsealed_cid ") {
				t.Fatalf("error = %v, want one naming unsealed_cid and containing %q", err, tc.want)
			}
		})
	}
	if _, err := parseSealedCID("sealed_cid", unsealedCID(c)); err == nil || !strings.Contains(err.Error(), "want a sealed commitment") {
		t.Errorf("parseSealedCID(an unsealed CID) = %v, want a sealed commitment asked for", err)
	}
}

func TestCommitmentIs254Bits(t *testing.T) {
	for i := range 64 {
		c := commitment("t", []byte{byte(i)})
		if c[31]&0xc0 != 0 {
			t.Fatalf("commitment %x has its top bits set", c)
		}
	}
	if commitment("t", []byte("ab"), []byte("c")) == commitment("t", []byte("a"), []byte("bc")) {
		t.Error("parts are not length-prefixed: (ab,c) and (a,bc) collide")
	}
}
