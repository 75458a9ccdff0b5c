package main

import (
	"io"
	"strings"
	"testing"
)

// FuzzParseCommitmentCID: any string either fails with an error or is a
// commitment CID that encodes back to itself.
func FuzzParseCommitmentCID(f *testing.F) {
	f.Add(zeroPiece2KiB)
	f.Add(sealedCID([32]byte{1}))
	f.Add("b")
	f.Add("BAGA6EA4SEAQPY7USQKLOKFX2VXUYNMUPSLKEUTZEXE2UQURDG5VHTEBHXQMPQMY")
	f.Add("bafy2bzacechsyl7ovbmimehbcdxy3unfxk6rfhxyfhrufkjtc76scyjiov4i6")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseUnsealedCID("x", s)
		if err == nil && unsealedCID(c) != s {
			t.Fatalf("parse(%q) = %x, which encodes to %q", s, c, unsealedCID(c))
		}
	})
}

// FuzzParseKnobs: no flag or environment value makes the parser panic,
// and what it accepts is within range.
func FuzzParseKnobs(f *testing.F) {
	f.Add("pc1=2s,c2=1ms", "64MiB", "0.5", "pc2")
	f.Add("2s", "1GB", "1", "")
	f.Add("=", "-1", "NaN", ",")
	f.Add("1s", "1", "NaN", "")
	f.Fuzz(func(t *testing.T, dur, size, rate, hang string) {
		env := map[string]string{"MOCK_DURATION": dur, "MOCK_MEMORY": size, "MOCK_FAIL_RATE": rate, "MOCK_HANG": hang}
		k, err := parseKnobs(nil, func(n string) string { return env[n] }, io.Discard)
		if err != nil {
			return
		}
		if k.Memory < 0 || !(k.FailRate >= 0 && k.FailRate <= 1) {
			t.Fatalf("accepted out-of-range knobs %+v", k)
		}
		for st, d := range k.Duration {
			if d < 0 || !isStage(st) {
				t.Fatalf("accepted duration %v for %q", d, st)
			}
		}
		for st := range k.Hang {
			if !isStage(strings.TrimSpace(st)) {
				t.Fatalf("accepted hang stage %q", st)
			}
		}
	})
}
