package plugintest

import (
	"fmt"
	"strings"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"
)

// zeroCommP2KiB is comm_p of 2 KiB of zeros: the one piece of a 2 KiB CC
// sector, and so also that sector's comm_d. TestZeroPiece2KiB checks it
// against the CID lotus-bench prints.
var zeroCommP2KiB = [32]byte{
	0xfc, 0x7e, 0x92, 0x82, 0x96, 0xe5, 0x16, 0xfa, 0xad, 0xe9, 0x86, 0xb2, 0x8f, 0x92, 0xd4, 0x4a,
	0x4f, 0x24, 0xb9, 0x35, 0x48, 0x52, 0x23, 0x37, 0x6a, 0x79, 0x90, 0x27, 0xbc, 0x18, 0xf8, 0x33,
}

// zeroPiece2KiB is zeroCommP2KiB as the piece CID in a request.
var zeroPiece2KiB = cidString(commcid.PieceCommitmentV1ToCID(zeroCommP2KiB[:]))

// cidString is the string form of a commitment CID that commcid built.
// commcid fails only on a digest other than 32 bytes, which the [32]byte
// callers rule out, so an error here is a bug in this package.
func cidString(c cid.Cid, err error) string {
	if err != nil {
		panic(fmt.Sprintf("plugintest: encoding a 32-byte commitment: %v", err))
	}
	return c.String()
}

// cidKind is the kind of commitment a response field must carry.
type cidKind int

const (
	unsealedKind cidKind = iota // comm_d, comm_p: fil-commitment-unsealed, sha2-256-trunc254-padded
	sealedKind                  // comm_r: fil-commitment-sealed, poseidon-bls12_381-a2-fc1
)

// checkCID reports why s is not a commitment CID of the given kind in the
// form filecoin-ffi returns (lower-case base32 CIDv1), or nil.
func checkCID(s string, kind cidKind) error {
	want, toCommitment := "an unsealed (comm_d) CID, baga6ea4seaq…", commcid.CIDToDataCommitmentV1
	if kind == sealedKind {
		want, toCommitment = "a sealed (comm_r) CID, bagboea4b5abc…", commcid.CIDToReplicaCommitmentV1
	}
	c, err := cid.Decode(s)
	switch {
	case err != nil && !strings.HasPrefix(s, "b"):
		return fmt.Errorf("%q is not a base32 CIDv1; want %s", s, want)
	case err != nil:
		return fmt.Errorf("%q is not a CID (%v); want %s", s, err, want)
	case c.Version() != 1:
		return fmt.Errorf("%q is not a base32 CIDv1 but a CIDv0; want %s", s, want)
	case c.String() != s:
		// Lotus would accept another multibase, but the host compares
		// tree_d's and pc2's comm_d as strings, so a plugin must return
		// the one form filecoin-ffi does.
		return fmt.Errorf("%q is not a base32 CIDv1 in the form filecoin-ffi returns; write it as %q", s, c.String())
	}
	d, err := toCommitment(c)
	if err != nil {
		p := c.Prefix()
		return fmt.Errorf("%q has codec %#x, hash %#x and a %d-byte digest (%v); want %s", s, p.Codec, p.MhType, p.MhLength, err, want)
	}
	if kind == unsealedKind && d[31]&0xc0 != 0 {
		return fmt.Errorf("%q carries a digest over 254 bits; comm_d and comm_p are SHA-256 with the top two bits cleared", s)
	}
	if kind == sealedKind && !belowScalarModulus(d) {
		return fmt.Errorf("%q carries a digest of at least the BLS12-381 scalar modulus; comm_r is a Poseidon hash, a scalar of that field (little-endian)", s)
	}
	return nil
}

// blsModulus is the BLS12-381 scalar field's modulus r, little-endian as
// rust-fil-proofs writes a field element.
var blsModulus = [32]byte{
	0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x5b, 0xfe, 0xff, 0x02, 0xa4, 0xbd, 0x53,
	0x05, 0xd8, 0xa1, 0x09, 0x08, 0xd8, 0x39, 0x33, 0x48, 0x7d, 0x9d, 0x29, 0x53, 0xa7, 0xed, 0x73,
}

// belowScalarModulus says whether the little-endian d is a canonical
// scalar: comm_r's top byte may be up to 0x73, so clearing two bits, as
// the SHA-256 commitments do, is not its rule.
func belowScalarModulus(d []byte) bool {
	for i := 31; i >= 0; i-- {
		if d[i] != blsModulus[i] {
			return d[i] < blsModulus[i]
		}
	}
	return false
}
