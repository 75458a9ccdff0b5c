//go:build cgo && ffi

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ffi "github.com/filecoin-project/filecoin-ffi"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"

	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// processorChild is `bin/host processor STAGE` as damocles-worker runs it
// (cleared environment plus its envs, ready line, one JSON line per
// request), driven one request at a time.
type processorChild struct {
	t      *testing.T
	stage  string
	stdin  io.WriteCloser
	stdout *bufio.Reader
	log    bytes.Buffer
	next   uint64
}

func startProcessor(t *testing.T, host, socket, stage string) *processorChild {
	t.Helper()
	p := &processorChild{t: t, stage: stage}
	cmd := exec.Command(host, "processor", stage)
	cmd.Env = []string{"SEALHOST_SOCKET=" + socket}
	cmd.Stderr = &p.log
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stdin.Close()
		cmd.Wait()
		if t.Failed() {
			t.Logf("host processor %s log:\n%s", stage, lastLines(p.log.String(), 20))
		}
	})
	p.stdout = bufio.NewReaderSize(out, 1<<20)
	ready := make(chan string, 1)
	go func() { l, _ := p.stdout.ReadString('\n'); ready <- l }()
	select {
	case l := <-ready:
		if strings.TrimSpace(l) != stage+" processor ready" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no ready line within 5 s", stage)
	}
	return p
}

// call sends task and returns the output of its answer.
func (p *processorChild) call(task string) json.RawMessage {
	p.t.Helper()
	p.next++
	if _, err := fmt.Fprintf(p.stdin, "{\"id\":%d,\"task\":%s}\n", p.next, task); err != nil {
		p.t.Fatal(err)
	}
	line, err := p.stdout.ReadBytes('\n')
	if err != nil {
		p.t.Fatalf("%s: reading the answer: %v", p.stage, err)
	}
	var resp struct {
		ID     uint64          `json:"id"`
		ErrMsg *string         `json:"err_msg"`
		Output json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(line, &resp); err != nil || resp.ID != p.next {
		p.t.Fatalf("%s: answer %q: %v", p.stage, line, err)
	}
	if resp.ErrMsg != nil {
		p.t.Fatalf("%s failed: %s", p.stage, *resp.ErrMsg)
	}
	return resp.Output
}

func ints(b []byte) string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(s, ",") + "]"
}

func bytesOf(t *testing.T, v []int) []byte {
	t.Helper()
	if len(v) != 32 {
		t.Fatalf("a commitment of %d integers", len(v))
	}
	b := make([]byte, 32)
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// TestRealHostProcessor seals a 2KiB sector through `bin/host processor`
// as damocles-worker drives it: tree_d, pc1, pc2 and c2 on the processor,
// in damocles' JSON, on a host running this plugin on real filecoin-ffi
// (examples/ffi-2k.hcl); c1 through the task API, as damocles runs c1 in
// the worker. The pc1 and c1 outputs travel as the JSON values damocles
// carries; the proof must verify (VerifySeal here, in this process), and
// comm_r must equal a direct PC1+PC2 of the same inputs bit for bit.
func TestRealHostProcessor(t *testing.T) {
	socket, host := runHost(t, "examples/ffi-2k.hcl")
	procs := map[string]*processorChild{}
	for _, stage := range []string{"tree_d", "pc1", "pc2", "c2"} {
		procs[stage] = startProcessor(t, host, socket, stage)
	}
	// The sector as damocles lays it out: tree_d built in a prepared
	// folder and linked into the cache before pc1.
	root := t.TempDir()
	name := "s-t01000-7"
	staged, sealed := filepath.Join(root, "unsealed", name), filepath.Join(root, "sealed", name)
	cache, prepared := filepath.Join(root, "cache", name), filepath.Join(root, "prepared", name)
	for _, d := range []string{filepath.Dir(staged), filepath.Dir(sealed), cache, prepared} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(staged, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sealed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tk, sd := make([]byte, 32), make([]byte, 32)
	rand.Read(tk)
	rand.Read(sd)
	tk[31] &= 0x3f
	sd[31] &= 0x3f
	zeroComm, err := commcid.CIDToPieceCommitmentV1(zeroPiece2K)
	if err != nil {
		t.Fatal(err)
	}
	proverID := make([]byte, 32)
	proverID[0], proverID[1] = 0xe8, 0x07 // uvarint(1000)

	out := procs["tree_d"].call(fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1_1","staged_file":%q,"cache_dir":%q}`, staged, prepared))
	if string(out) != "true" {
		t.Fatalf("tree_d output %s, want true", out)
	}
	tree, err := os.ReadFile(filepath.Join(prepared, TreeDFile))
	if err != nil || len(tree) < 32 {
		t.Fatalf("tree_d file: %v", err)
	}
	commDFromTree := tree[len(tree)-32:] // what damocles-worker reads
	if err := os.Symlink(filepath.Join(prepared, TreeDFile), filepath.Join(cache, TreeDFile)); err != nil {
		t.Fatal(err)
	}

	pc1out := procs["pc1"].call(fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1_1","cache_path":%q,"in_path":%q,"out_path":%q,"prover_id":%s,"sector_id":7,"ticket":%s,"piece_infos":[{"commitment":%s,"size":2032}]}`,
		cache, staged, sealed, ints(proverID), ints(tk), ints(zeroComm)))
	var compact bytes.Buffer
	if err := json.Compact(&compact, pc1out); err != nil || !bytes.Equal(compact.Bytes(), pc1out) {
		t.Errorf("pc1out is not compact JSON as serde_json writes it: %v", err)
	}
	var pc1 struct {
		RegisteredProof string `json:"registered_proof"`
		CommD           []int  `json:"comm_d"`
		Labels          map[string]json.RawMessage
	}
	if err := json.Unmarshal(pc1out, &pc1); err != nil || pc1.RegisteredProof != "StackedDrg2KiBV1_1" || pc1.Labels["StackedDrg2KiBV1"] == nil {
		t.Fatalf("pc1out is not filecoin-proofs' SealPreCommitPhase1Output: %v: %.300s", err, pc1out)
	}
	if !bytes.Equal(bytesOf(t, pc1.CommD), commDFromTree) {
		t.Errorf("pc1out comm_d %v, tree_d root %v", pc1.CommD, commDFromTree)
	}

	// A fixed damocles-worker's pc2: its marker, then the task.
	os.WriteFile(filepath.Join(cache, ".pc2_running"), nil, 0o644)
	pc2out := procs["pc2"].call(fmt.Sprintf(`{"pc1out":%s,"cache_dir":%q,"sealed_file":%q}`, pc1out, cache, sealed))
	os.Remove(filepath.Join(cache, ".pc2_running"))
	var pc2 struct {
		RegisteredProof string `json:"registered_proof"`
		CommR           []int  `json:"comm_r"`
		CommD           []int  `json:"comm_d"`
	}
	if err := json.Unmarshal(pc2out, &pc2); err != nil || pc2.RegisteredProof != "StackedDrg2KiBV1_1" {
		t.Fatalf("pc2 output %s: %v", pc2out, err)
	}
	commR, _ := commcid.ReplicaCommitmentV1ToCID(bytesOf(t, pc2.CommR))
	commD, _ := commcid.DataCommitmentV1ToCID(bytesOf(t, pc2.CommD))
	if !bytes.Equal(bytesOf(t, pc2.CommD), commDFromTree) || !commD.Equals(zeroPiece2K) {
		t.Errorf("pc2 comm_d %s; want the tree_d root, the zero piece's %s", commD, zeroPiece2K)
	}

	// c1 in the worker: here straight through the task API.
	api, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	sector := &sealv1.Sector{RegisteredSealProof: int64(proof2K), MinerId: 1000, SectorNumber: 7}
	c1, err := api.C1(ctx, &sealv1.C1Request{Sector: sector, SealedCid: commR.String(), UnsealedCid: commD.String(), CachePath: cache,
		SealedPath: sealed, Ticket: tk, Seed: sd, Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: zeroPiece2K.String()}}})
	if err != nil {
		t.Fatalf("c1: %v", err)
	}

	c2out := procs["c2"].call(fmt.Sprintf(`{"c1out":%s,"prover_id":%s,"sector_id":7,"miner_id":1000}`, c1.GetPhase1Output(), ints(proverID)))
	var c2 struct {
		Proof []int `json:"proof"`
	}
	if err := json.Unmarshal(c2out, &c2); err != nil || len(c2.Proof) != 192 {
		t.Fatalf("c2 output %.200s: %v; want a proof of 192 integers", c2out, err)
	}
	proofBytes := make([]byte, len(c2.Proof))
	for i, x := range c2.Proof {
		proofBytes[i] = byte(x)
	}
	ok, err := ffi.VerifySeal(proof.SealVerifyInfo{SealProof: proof2K, SectorID: abi.SectorID{Miner: 1000, Number: 7},
		Randomness: tk, InteractiveRandomness: sd, Proof: proofBytes, SealedCID: commR, UnsealedCID: commD})
	if err != nil || !ok {
		t.Fatalf("VerifySeal of the proof from host processor c2: %v, %v", ok, err)
	}

	// The same inputs sealed directly here: comm_r bit for bit.
	s := newSector(t)
	dpc1, err := ffi.SealPreCommitPhase1(proof2K, s.cache, s.staged, s.sealed, 7, 1000, tk, []abi.PieceInfo{{Size: 2048, PieceCID: zeroPiece2K}})
	if err != nil {
		t.Fatal(err)
	}
	dR, dD, err := ffi.SealPreCommitPhase2(dpc1, s.cache, s.sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !dR.Equals(commR) || !dD.Equals(commD) {
		t.Errorf("through host processor comm_r %s comm_d %s; direct comm_r %s comm_d %s", commR, commD, dR, dD)
	}
	t.Logf("sealed through host processor: comm_d %s comm_r %s, proof of %d bytes verified", commD, commR, len(proofBytes))
}
