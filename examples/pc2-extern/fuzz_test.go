package main

import "testing"

// FuzzCommD: no PC1 output makes CommD panic, and what it accepts holds
// a 32-number comm_d.
func FuzzCommD(f *testing.F) {
	f.Add([]byte(`{"comm_d":[252,126,146,130,150,229,22,250,173,233,134,178,143,146,212,74,79,36,185,53,72,82,35,55,106,121,144,39,188,24,248,51]}`))
	f.Add([]byte(`{"comm_d":"base64"}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, pc1out []byte) {
		if _, err := CommD(dir, pc1out); err == nil && len(pc1out) < 2+32*2 {
			t.Fatalf("CommD accepted %q, too short to hold 32 numbers", pc1out)
		}
	})
}
