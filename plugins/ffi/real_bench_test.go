//go:build cgo && ffi

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	ffi "github.com/filecoin-project/filecoin-ffi"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/hashicorp/go-hclog"
)

// BenchmarkRealSeal2KiB seals one 2KiB CC sector per iteration three ways,
// in the same run: filecoin-ffi called directly in this process (the
// baseline), through childSealer (the plugin's child process per call), and
// through `bin/host seal` (host, confinement, gRPC, child process; the
// host's own per-stage run times). It reports each stage's time per way as
// <stage>-<way>-ns/op; tools/benchtable prints the ratios.
func BenchmarkRealSeal2KiB(b *testing.B) {
	b.Setenv(modeEnv, "real")
	child, err := newChildSealer(hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	ways := map[string]Sealer{"direct": newSealer(), "child": child}
	sum := map[string]time.Duration{}
	for i := 0; i < b.N; i++ {
		for way, s := range ways {
			for stage, d := range sealOnce(b, s, uint64(100+i)) {
				sum[stage+"-"+way] += d
			}
		}
		for stage, d := range hostSealOnce(b) {
			sum[stage+"-host"] += d
		}
	}
	for k, d := range sum {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), k+"-ns/op")
	}
}

// sealOnce runs pc1 → pc2 → c1 → c2 → verify on s and times each call.
func sealOnce(b *testing.B, s Sealer, num uint64) map[string]time.Duration {
	ctx := context.Background()
	sec := newSector(b)
	tk, sd := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
	pieces := []abi.PieceInfo{{Size: 2048, PieceCID: zeroPiece2K}}
	out := map[string]time.Duration{}
	t := time.Now()
	pc1, err := s.SealPreCommitPhase1(ctx, proof2K, sec.cache, sec.staged, sec.sealed, abi.SectorNumber(num), 1000, tk, pieces)
	out["pc1"] = time.Since(t)
	if err != nil {
		b.Fatal(err)
	}
	t = time.Now()
	commR, commD, err := s.SealPreCommitPhase2(ctx, pc1, sec.cache, sec.sealed)
	out["pc2"] = time.Since(t)
	if err != nil {
		b.Fatal(err)
	}
	t = time.Now()
	c1, err := s.SealCommitPhase1(ctx, proof2K, commR, commD, sec.cache, sec.sealed, abi.SectorNumber(num), 1000, tk, sd, pieces)
	out["c1"] = time.Since(t)
	if err != nil {
		b.Fatal(err)
	}
	t = time.Now()
	p, err := s.SealCommitPhase2(ctx, c1, abi.SectorNumber(num), 1000)
	out["c2"] = time.Since(t)
	if err != nil {
		b.Fatal(err)
	}
	t = time.Now()
	ok, err := s.VerifySeal(ctx, proof.SealVerifyInfo{SealProof: proof2K, SectorID: abi.SectorID{Miner: 1000, Number: abi.SectorNumber(num)},
		Randomness: tk, InteractiveRandomness: sd, Proof: p, SealedCID: commR, UnsealedCID: commD})
	out["verify"] = time.Since(t)
	if err != nil || !ok {
		b.Fatalf("VerifySeal = %v, %v", ok, err)
	}
	return out
}

// hostSealOnce seals one sector through bin/host seal and returns the
// host's run time of each stage (time on a processor, not waits).
func hostSealOnce(b *testing.B) map[string]time.Duration {
	root, _ := filepath.Abs("../..")
	cmd := exec.Command(filepath.Join(root, "bin", "host"), "seal", "-config", filepath.Join(root, "examples", "ffi-2k.hcl"),
		"-sectors", "1", "-in-process", "-json", "-progress", "off", "-require-verified")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		b.Fatalf("host seal: %v\n%s", err, lastLines(stderr.String(), 30))
	}
	var got struct {
		Stages []struct {
			Stage string  `json:"stage"`
			Run   float64 `json:"run_p50_seconds"`
		} `json:"stages"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		b.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, s := range got.Stages {
		out[s.Stage] = time.Duration(s.Run * float64(time.Second))
	}
	return out
}

// BenchmarkRealChildStart is the fixed cost of a call in a child process:
// a filecoin-ffi call that does almost nothing (GetGPUDevices on a machine
// without GPUs) through childSealer, against the same call in this process
// (direct-ns/op).
func BenchmarkRealChildStart(b *testing.B) {
	b.Setenv(modeEnv, "real")
	child, err := newChildSealer(hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var direct time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := child.GPUDevices(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		t := time.Now()
		if _, err := ffi.GetGPUDevices(); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(t)
		b.StartTimer()
	}
	b.ReportMetric(float64(direct.Nanoseconds())/float64(b.N), "direct-ns/op")
}
