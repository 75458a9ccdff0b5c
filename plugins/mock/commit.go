package main

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Multicodec and multihash codes of Filecoin's commitments, from the
// multicodec table (as go-fil-commcid uses them).
const (
	codecUnsealed = 0xf101 // fil-commitment-unsealed
	codecSealed   = 0xf102 // fil-commitment-sealed
	hashSHA254    = 0x1012 // sha2-256-trunc254-padded
	hashPoseidon  = 0xb401 // poseidon-bls12_381-a2-fc1
)

// cidBase32 is multibase "b": RFC 4648 base32, lower case, no padding.
var cidBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

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

// commitmentCID encodes a commitment as a CIDv1 string, the form
// filecoin-ffi hands out: <0x01><codec><multihash code><32><digest>,
// varint-encoded, in multibase base32. Written here rather than by
// go-cid to keep that module and its five dependencies out of go.mod;
// TestCIDKnownVector checks it against a CID lotus prints.
func commitmentCID(codec, mh uint64, c [32]byte) string {
	b := binary.AppendUvarint(nil, 1)
	b = binary.AppendUvarint(b, codec)
	b = binary.AppendUvarint(b, mh)
	b = binary.AppendUvarint(b, 32)
	b = append(b, c[:]...)
	return "b" + cidBase32.EncodeToString(b)
}

func unsealedCID(c [32]byte) string { return commitmentCID(codecUnsealed, hashSHA254, c) }
func sealedCID(c [32]byte) string   { return commitmentCID(codecSealed, hashPoseidon, c) }

// parseCommitmentCID reverses commitmentCID, checking the codec and hash
// a field of that name must carry.
func parseCommitmentCID(field, s string, codec, mh uint64) ([32]byte, error) {
	var c [32]byte
	if !strings.HasPrefix(s, "b") {
		return c, fmt.Errorf("%s %q is not a base32 CIDv1 (want the form filecoin-ffi returns, starting with \"b\")", field, s)
	}
	b, err := cidBase32.DecodeString(s[1:])
	if err != nil {
		return c, fmt.Errorf("%s %q is not a CID: %v", field, s, err)
	}
	var got [4]uint64
	for i := range got {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return c, fmt.Errorf("%s %q is not a CID: truncated header", field, s)
		}
		got[i], b = v, b[n:]
	}
	want := [4]uint64{1, codec, mh, 32}
	if got == want && len(b) != 32 {
		return c, fmt.Errorf("%s %q is not a CID: its digest is %d bytes, its header says 32", field, s, len(b))
	}
	if got != want {
		return c, fmt.Errorf("%s %q has version/codec/hash/length %#x, want %#x: %w",
			field, s, got, want, errWrongCID)
	}
	copy(c[:], b)
	return c, nil
}

var errWrongCID = errors.New("not a commitment of that kind")
