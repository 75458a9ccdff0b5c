package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"
)

// commitment derives a 32-byte commitment from its parts with SHA-256,
// the parts length-prefixed so that ("ab","c") and ("a","bc") differ.
// The top two bits are cleared, as the proofs do, so the value is a valid
// BLS12-381 scalar (254 bits) like every real commitment.
func commitment(tag string, parts ...[]byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, p := range append([][]byte{[]byte(tag)}, parts...) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var c [32]byte
	h.Sum(c[:0])
	c[31] &= 0x3f
	return c
}

// unsealedCID and sealedCID give a commitment the CID form filecoin-ffi
// hands out.
func unsealedCID(c [32]byte) string { return cidString(commcid.DataCommitmentV1ToCID(c[:])) }
func sealedCID(c [32]byte) string   { return cidString(commcid.ReplicaCommitmentV1ToCID(c[:])) }

// cidString is the string form of a CID that commcid built. commcid fails
// only on a digest other than 32 bytes, which [32]byte rules out, so an
// error here is a bug in the mock rather than bad input.
func cidString(c cid.Cid, err error) string {
	if err != nil {
		panic(fmt.Sprintf("mock: encoding a 32-byte commitment: %v", err))
	}
	return c.String()
}

// parseUnsealedCID and parseSealedCID read the commitment out of the CID
// in the request field named field, checking it is of the kind that field
// must carry.
func parseUnsealedCID(field, s string) ([32]byte, error) {
	return parseCommitmentCID(field, s, commcid.CIDToDataCommitmentV1,
		"an unsealed commitment (fil-commitment-unsealed, sha2-256-trunc254-padded: baga6ea4seaq…)")
}

func parseSealedCID(field, s string) ([32]byte, error) {
	return parseCommitmentCID(field, s, commcid.CIDToReplicaCommitmentV1,
		"a sealed commitment (fil-commitment-sealed, poseidon-bls12_381-a2-fc1: bagboea4b5abc…, as pc2 returns)")
}

// parseCommitmentCID accepts only the lower-case base32 CIDv1 that
// filecoin-ffi writes, so that every CID it accepts is the one the mock
// would have written for that commitment.
func parseCommitmentCID(field, s string, toCommitment func(cid.Cid) ([]byte, error), want string) ([32]byte, error) {
	var out [32]byte
	c, err := cid.Decode(s)
	switch {
	case err != nil && !strings.HasPrefix(s, "b"), err == nil && c.Version() != 1:
		return out, fmt.Errorf("%s %q is not a base32 CIDv1 (want the form filecoin-ffi returns, starting with \"b\")", field, s)
	case err != nil:
		return out, fmt.Errorf("%s %q is not a CID: %v", field, s, err)
	case c.String() != s:
		return out, fmt.Errorf("%s %q is not in the form filecoin-ffi returns; write it as %q", field, s, c.String())
	}
	d, err := toCommitment(c)
	if err != nil {
		p := c.Prefix()
		return out, fmt.Errorf("%s %q has codec %#x and hash %#x (%v); want %s", field, s, p.Codec, p.MhType, err, want)
	}
	copy(out[:], d)
	return out, nil
}
