package plugintest

import (
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
)

// Filecoin commitment CIDs: codec and multihash codes from the multicodec
// table, as filecoin-ffi produces them.
const (
	codecUnsealed = 0xf101 // fil-commitment-unsealed
	codecSealed   = 0xf102 // fil-commitment-sealed
	hashSHA254    = 0x1012 // sha2-256-trunc254-padded
	hashPoseidon  = 0xb401 // poseidon-bls12_381-a2-fc1
)

var cidBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// zeroPiece2KiB is comm_p of 2 KiB of zeros: the one piece of a 2 KiB CC
// sector, as lotus-bench prints it.
const zeroPiece2KiB = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"

func encodeCID(codec, mh uint64, c [32]byte) string {
	b := binary.AppendUvarint(nil, 1)
	b = binary.AppendUvarint(b, codec)
	b = binary.AppendUvarint(b, mh)
	b = binary.AppendUvarint(b, 32)
	return "b" + cidBase32.EncodeToString(append(b, c[:]...))
}

// checkCID reports why s is not a commitment CID of the given kind, or nil.
func checkCID(s string, codec, mh uint64) error {
	kind := "an unsealed (comm_d) CID, baga6ea4seaq…"
	if codec == codecSealed {
		kind = "a sealed (comm_r) CID, bagboea4b5abc…"
	}
	if !strings.HasPrefix(s, "b") {
		return fmt.Errorf("%q is not a base32 CIDv1; want %s", s, kind)
	}
	b, err := cidBase32.DecodeString(s[1:])
	if err != nil {
		return fmt.Errorf("%q is not a CID (%v); want %s", s, err, kind)
	}
	var got [4]uint64
	for i := range got {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%q is a truncated CID; want %s", s, kind)
		}
		got[i], b = v, b[n:]
	}
	if want := [4]uint64{1, codec, mh, 32}; got != want || len(b) != 32 {
		return fmt.Errorf("%q has version, codec, hash, length %#x and a %d-byte digest; want %s (%#x, 32 bytes)", s, got, len(b), kind, want)
	}
	if b[31]&0xc0 != 0 {
		return fmt.Errorf("%q carries a digest over 254 bits; every commitment is a BLS12-381 scalar", s)
	}
	return nil
}
