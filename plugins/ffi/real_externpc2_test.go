//go:build cgo && ffi

package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	ffi "github.com/filecoin-project/filecoin-ffi"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
)

// TestRealExternPC2 runs `host extern-pc2` exactly as lotus-worker
// --external-pc2 does: `sh -c CMD` with the seven EXTSEAL_PC2_* variables
// and nothing else in the environment (no PATH). PC1 runs here, directly in
// filecoin-ffi, as lotus runs it; the PC2 runs on a host serving
// examples/ffi-2k.hcl. Then what lotus checks: exit 0, a 64-byte p_aux,
// comm_d from tree_d, and C1 over the trees with three random seeds; and
// comm_r against a PC2 of an identical sector run directly.
func TestRealExternPC2(t *testing.T) {
	socket, host := runHost(t, "examples/ffi-2k.hcl")
	pieces := []abi.PieceInfo{{Size: 2048, PieceCID: zeroPiece2K}}
	const num, miner = 11, 1000
	tk := randomBytes(t)

	ext, twin := newSector(t), newSector(t)
	var pc1out []byte
	for _, s := range []sectorDirs{ext, twin} {
		out, err := ffi.SealPreCommitPhase1(proof2K, s.cache, s.staged, s.sealed, num, miner, tk, pieces)
		if err != nil {
			t.Fatal(err)
		}
		pc1out = out
	}
	cmd := exec.Command("/bin/sh", "-c", host+" extern-pc2 -socket "+socket)
	cmd.Env = []string{
		"EXTSEAL_PC2_SECTOR_NUM=" + strconv.Itoa(num),
		"EXTSEAL_PC2_SECTOR_MINER=" + strconv.Itoa(miner),
		"EXTSEAL_PC2_PROOF_TYPE=" + strconv.Itoa(int(proof2K)),
		"EXTSEAL_PC2_SECTOR_SIZE=2048",
		"EXTSEAL_PC2_CACHE=" + ext.cache,
		"EXTSEAL_PC2_SEALED=" + ext.sealed,
		"EXTSEAL_PC2_PC1OUT=" + base64.StdEncoding.EncodeToString(pc1out),
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("host extern-pc2: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))

	paux, err := os.ReadFile(filepath.Join(ext.cache, "p_aux"))
	if err != nil || len(paux) != 64 {
		t.Fatalf("p_aux: %d bytes, %v (lotus wants exactly 64)", len(paux), err)
	}
	commR, err := os.ReadFile(filepath.Join(ext.cache, "comm_r"))
	if err != nil || len(commR) != 32 {
		t.Fatalf("comm_r: %x, %v", commR, err)
	}
	tree, err := os.ReadFile(filepath.Join(ext.cache, "sc-02-data-tree-d.dat"))
	if err != nil {
		t.Fatal(err)
	}
	sealedCID, _ := commcid.ReplicaCommitmentV1ToCID(commR)
	unsealedCID, _ := commcid.DataCommitmentV1ToCID(tree[len(tree)-32:])

	directR, directD, err := ffi.SealPreCommitPhase2(pc1out, twin.cache, twin.sealed)
	if err != nil {
		t.Fatal(err)
	}
	if directR != sealedCID || directD != unsealedCID {
		t.Fatalf("through host extern-pc2 comm_r %s comm_d %s; direct %s %s", sealedCID, unsealedCID, directR, directD)
	}
	// Lotus' acceptance test of an external PC2.
	for i := range 3 {
		if _, err := ffi.SealCommitPhase1(proof2K, sealedCID, unsealedCID, ext.cache, ext.sealed, num, miner, tk, randomBytes(t), pieces); err != nil {
			t.Fatal(fmt.Errorf("c1 round %d over the trees host extern-pc2 left: %w", i+1, err))
		}
	}
}
