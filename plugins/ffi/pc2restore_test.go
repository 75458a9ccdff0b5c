package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestPC2RetryRestoresTheSealedFile is damocles#837 on this plugin: a PC2
// that stops half way has changed the sealed file in place; the retry must
// start again from the staged data, not from the half-encoded file, and
// without the earlier run's trees.
func TestPC2RetryRestoresTheSealedFile(t *testing.T) {
	s := newSector(t)
	staged := bytes.Repeat([]byte{7}, 2048)
	if err := os.WriteFile(s.staged, staged, 0o644); err != nil {
		t.Fatal(err)
	}
	commR, _ := cid.Decode("bagboea4b5abcatlxechwbp7kjpjguna6r6q7ejrhe6mdp3lf34pmswn27pkkiekz")
	f := &fakeSealer{commR: commR, commD: zeroPiece2K}
	st := &stages{sealer: f}

	// PC1, as rust-fil-proofs does it: the sealed file becomes a copy of
	// the staged data.
	f.onCall = func() { os.WriteFile(s.sealed, staged, 0o644) }
	if _, err := st.PC1(context.Background(), pc1Req(s)); err != nil {
		t.Fatal(err)
	}
	req := &sealv1.PC2Request{Sector: sector, Phase1Output: []byte("p1"), CachePath: s.cache, SealedPath: s.sealed}

	// A PC2 that dies half way: half the file encoded, a tree written,
	// then the child gone. (A plugin killed outright leaves the same, minus
	// the cleanup of the tree.)
	f.onCall = func() {
		os.WriteFile(s.sealed, append(bytes.Repeat([]byte{0xee}, 1024), staged[1024:]...), 0o644)
		os.WriteFile(filepath.Join(s.cache, "sc-02-data-tree-c.dat"), []byte("half"), 0o644)
	}
	f.err = &ChildError{Op: "seal_pre_commit_phase2", Pid: 1, Status: "killed by signal SIGKILL"}
	_, err := st.PC2(context.Background(), req)
	var se *sdk.Error
	if !errors.As(err, &se) || !se.Retryable {
		t.Fatalf("interrupted pc2 = %v, want a retryable error", err)
	}
	// Left behind as a plugin killed outright would leave it.
	os.WriteFile(filepath.Join(s.cache, "p_aux"), make([]byte, 64), 0o644)

	// The retry sees the staged data again and no stale output.
	f.err = nil
	f.onCall = func() {
		if got, _ := os.ReadFile(s.sealed); !bytes.Equal(got, staged) {
			t.Errorf("the retried pc2 started from a sealed file that is not the staged data (first bytes %x)", got[:4])
		}
		for _, n := range []string{"p_aux", "sc-02-data-tree-c.dat"} {
			if _, err := os.Stat(filepath.Join(s.cache, n)); err == nil {
				t.Errorf("the retried pc2 started with the earlier run's %s", n)
			}
		}
	}
	if _, err := st.PC2(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.cache, pc2RunningFile)); !os.IsNotExist(err) {
		t.Errorf("the marker outlived a pc2 that finished: %v", err)
	}

	// A finished pc2 is not undone by the next call.
	os.WriteFile(s.sealed, []byte("replica"), 0o644)
	f.onCall = func() {
		if got, _ := os.ReadFile(s.sealed); string(got) != "replica" {
			t.Errorf("a pc2 after a finished one restored the sealed file")
		}
	}
	if _, err := st.PC2(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

// TestPC2RetryWithoutRecord: a cache whose PC1 was not this plugin's has no
// record of the staged file, so an unfinished PC2 cannot be undone here;
// the retry is refused, for good, with the fix.
func TestPC2RetryWithoutRecord(t *testing.T) {
	s := newSector(t)
	if err := os.WriteFile(filepath.Join(s.cache, pc2RunningFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeSealer{}
	_, err := (&stages{sealer: f}).PC2(context.Background(), &sealv1.PC2Request{Sector: sector, Phase1Output: []byte("p1"), CachePath: s.cache, SealedPath: s.sealed})
	var se *sdk.Error
	if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, "copy the staged (unsealed) file over the sealed file") {
		t.Fatalf("pc2 = %v, want a final error saying how to restore the sealed file", err)
	}
	if len(f.calls) != 0 {
		t.Fatal("filecoin-ffi was called over a possibly half-encoded sealed file")
	}
}
