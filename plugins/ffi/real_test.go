//go:build cgo && ffi

package main

// The real tests: filecoin-ffi (built by tools/filcrypto/build.sh) seals
// 2KiB sectors on the CPU with the local INSECURE parameters of `make
// params`. `make test-real` runs them; CI runs `make test-real`. None of
// them skips: a missing library does not link, missing parameters fail c2.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ffi "github.com/filecoin-project/filecoin-ffi"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/hashicorp/go-hclog"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func init() {
	// The parameters must be there: without them c2 fails with "No cached
	// parameters found", and a real test must fail, never skip.
	dir := os.Getenv("FIL_PROOFS_PARAMETER_CACHE")
	if dir == "" {
		panic("FIL_PROOFS_PARAMETER_CACHE is not set: run these tests with `make test-real`, which builds the parameters")
	}
}

// realStages is the plugin's stage logic on a childSealer whose child is
// this test binary running real filecoin-ffi calls (TestMain, mode "real").
func realStages(t *testing.T) *stages {
	t.Helper()
	t.Setenv(modeEnv, "real")
	c, err := newChildSealer(hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return &stages{sealer: c}
}

type sealed struct {
	commR, commD string
	proof        []byte
	verified     bool
}

// sealThrough runs tree_d → pc1 → pc2 → c1 → c2 on st, checking what the
// host checks between stages.
func sealThrough(t *testing.T, ctx context.Context, st *stages, s sectorDirs, id *sealv1.Sector, pieces []*sealv1.PieceInfo, tk, sd []byte) sealed {
	t.Helper()
	td, err := st.TreeD(ctx, &sealv1.TreeDRequest{Sector: id, CachePath: s.cache, StagedPath: s.staged, Pieces: pieces})
	if err != nil {
		t.Fatalf("tree_d: %v", err)
	}
	pc1, err := st.PC1(ctx, &sealv1.PC1Request{Sector: id, CachePath: s.cache, StagedPath: s.staged, SealedPath: s.sealed, Ticket: tk, Pieces: pieces})
	if err != nil {
		t.Fatalf("pc1: %v", err)
	}
	return finish(t, ctx, st, s, id, pieces, tk, sd, td.GetUnsealedCid(), pc1.GetPhase1Output())
}

func finish(t *testing.T, ctx context.Context, st *stages, s sectorDirs, id *sealv1.Sector, pieces []*sealv1.PieceInfo, tk, sd []byte, treeD string, pc1out []byte) sealed {
	t.Helper()
	pc2, err := st.PC2(ctx, &sealv1.PC2Request{Sector: id, Phase1Output: pc1out, CachePath: s.cache, SealedPath: s.sealed})
	if err != nil {
		t.Fatalf("pc2: %v", err)
	}
	// The cross-check of issue 15: our pure-Go tree_d and rust-fil-proofs
	// agree on comm_d for the same staged file.
	if treeD != "" && pc2.GetUnsealedCid() != treeD {
		t.Fatalf("pc2 comm_d %s, our tree_d %s", pc2.GetUnsealedCid(), treeD)
	}
	c1, err := st.C1(ctx, &sealv1.C1Request{Sector: id, SealedCid: pc2.GetSealedCid(), UnsealedCid: pc2.GetUnsealedCid(),
		CachePath: s.cache, SealedPath: s.sealed, Ticket: tk, Seed: sd, Pieces: pieces})
	if err != nil {
		t.Fatalf("c1: %v", err)
	}
	c2, err := st.C2(ctx, &sealv1.C2Request{Sector: id, Phase1Output: c1.GetPhase1Output()})
	if err != nil {
		t.Fatalf("c2: %v", err)
	}
	if !c2.GetVerified() || !strings.Contains(c2.GetVerification(), "INSECURE") {
		t.Fatalf("c2 verified=%v (%q), want verified against the INSECURE test parameters", c2.GetVerified(), c2.GetVerification())
	}
	return sealed{pc2.GetSealedCid(), pc2.GetUnsealedCid(), c2.GetProof(), c2.GetVerified()}
}

func sector2K(num uint64) *sealv1.Sector {
	return &sealv1.Sector{RegisteredSealProof: int64(proof2K), MinerId: 1000, SectorNumber: num}
}

func randomBytes(t *testing.T) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyDirect checks a proof with filecoin-ffi in this process, outside the
// plugin: what the chain would do (against the local keys).
func verifyDirect(t *testing.T, id *sealv1.Sector, r sealed, tk, sd []byte) {
	t.Helper()
	commR, _ := cid.Decode(r.commR)
	commD, _ := cid.Decode(r.commD)
	ok, err := ffi.VerifySeal(proof.SealVerifyInfo{SealProof: abi.RegisteredSealProof(id.GetRegisteredSealProof()),
		SectorID:   abi.SectorID{Miner: abi.ActorID(id.GetMinerId()), Number: abi.SectorNumber(id.GetSectorNumber())},
		Randomness: tk, InteractiveRandomness: sd, Proof: r.proof, SealedCID: commR, UnsealedCID: commD})
	if err != nil || !ok {
		t.Fatalf("VerifySeal in the test process = %v, %v", ok, err)
	}
}

// TestRealCommDMatchesTreeD: for a CC sector and for a sector holding a real
// piece, our tree_d, filecoin-ffi's GenerateUnsealedCID and PC2 agree on
// comm_d, and the sector seals and verifies.
func TestRealCommDMatchesTreeD(t *testing.T) {
	st := realStages(t)
	ctx := context.Background()

	t.Run("cc", func(t *testing.T) {
		s := newSector(t)
		tk, sd := randomBytes(t), randomBytes(t)
		r := sealThrough(t, ctx, st, s, sector2K(1), ccPieces(), tk, sd)
		if r.commD != zeroPiece2K.String() {
			t.Fatalf("comm_d %s, want the zero piece's %s", r.commD, zeroPiece2K)
		}
		verifyDirect(t, sector2K(1), r, tk, sd)
	})

	t.Run("real piece", func(t *testing.T) {
		s := newSector(t)
		data := make([]byte, abi.PaddedPieceSize(2048).Unpadded())
		rand.Read(data)
		src := filepath.Join(t.TempDir(), "piece")
		os.WriteFile(src, data, 0o644)
		in, _ := os.Open(src)
		defer in.Close()
		out, err := os.OpenFile(s.staged, os.O_RDWR|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, _, pieceCID, err := ffi.WriteWithAlignment(proof2K, in, abi.UnpaddedPieceSize(len(data)), out, nil)
		out.Close()
		if err != nil {
			t.Fatalf("WriteWithAlignment: %v", err)
		}
		in.Seek(0, 0)
		fromFile, err := ffi.GeneratePieceCIDFromFile(proof2K, in, abi.UnpaddedPieceSize(len(data)))
		if err != nil || !fromFile.Equals(pieceCID) {
			t.Fatalf("GeneratePieceCIDFromFile = %v, %v; WriteWithAlignment said %v", fromFile, err, pieceCID)
		}
		unsealed, err := ffi.GenerateUnsealedCID(proof2K, []abi.PieceInfo{{Size: 2048, PieceCID: pieceCID}})
		if err != nil {
			t.Fatal(err)
		}
		tk, sd := randomBytes(t), randomBytes(t)
		pieces := []*sealv1.PieceInfo{{Size: 2048, PieceCid: pieceCID.String()}}
		r := sealThrough(t, ctx, st, s, sector2K(2), pieces, tk, sd)
		if r.commD != unsealed.String() {
			t.Fatalf("comm_d %s (tree_d and pc2), GenerateUnsealedCID %s", r.commD, unsealed)
		}
		if r.commD == zeroPiece2K.String() {
			t.Fatal("a sector of random data has the zero piece's comm_d")
		}
		verifyDirect(t, sector2K(2), r, tk, sd)
	})
}

// TestRealCancelOnePC1: three PC1s of one plugin process at once; cancelling
// one kills that call's child only; the other two seal and verify; the
// cancelled one left its cache dir and sealed file ready for a retry, and
// the retry seals and verifies.
func TestRealCancelOnePC1(t *testing.T) {
	st := realStages(t)
	ctx := context.Background()
	type job struct {
		s      sectorDirs
		id     *sealv1.Sector
		tk, sd []byte
		treeD  string
		out    []byte
		err    error
		took   time.Duration
	}
	jobs := make([]*job, 3)
	for i := range jobs {
		j := &job{s: newSector(t), id: sector2K(uint64(10 + i)), tk: randomBytes(t), sd: randomBytes(t)}
		td, err := st.TreeD(ctx, &sealv1.TreeDRequest{Sector: j.id, CachePath: j.s.cache, StagedPath: j.s.staged, Pieces: ccPieces()})
		if err != nil {
			t.Fatal(err)
		}
		j.treeD = td.GetUnsealedCid()
		jobs[i] = j
	}
	// How long a 2KiB PC1 takes here, so the cancel lands inside one.
	warm := newSector(t)
	t0 := time.Now()
	if _, err := st.PC1(ctx, &sealv1.PC1Request{Sector: sector2K(9), CachePath: warm.cache, StagedPath: warm.staged, SealedPath: warm.sealed, Ticket: randomBytes(t), Pieces: ccPieces()}); err != nil {
		t.Fatal(err)
	}
	one := time.Since(t0)
	t.Logf("one 2KiB PC1 (child start included): %v", one)

	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, j := range jobs {
		callCtx := ctx
		if i == 0 {
			callCtx = cctx
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			var resp *sealv1.PC1Response
			resp, j.err = st.PC1(callCtx, &sealv1.PC1Request{Sector: j.id, CachePath: j.s.cache, StagedPath: j.s.staged, SealedPath: j.s.sealed, Ticket: j.tk, Pieces: ccPieces()})
			j.out, j.took = resp.GetPhase1Output(), time.Since(start)
		}()
	}
	// PC1 first copies the staged file into the sealed file, then computes
	// the layers: once the sealed file has grown, rust-fil-proofs is inside
	// the call, and the cancel lands mid-call.
	midCall := false
	for deadline := time.Now().Add(one * 20); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		if st, err := os.Stat(jobs[0].s.sealed); err == nil && st.Size() > 0 {
			midCall = true
			break
		}
	}
	cancel()
	wg.Wait()
	if !midCall {
		t.Fatalf("the cancelled PC1 never started writing its sealed file (err %v after %v)", jobs[0].err, jobs[0].took)
	}
	if !strings.Contains(errString(jobs[0].err), "context canceled") {
		t.Fatalf("cancelled PC1: err = %v (after %v), want context.Canceled", jobs[0].err, jobs[0].took)
	}
	t.Logf("PC1 cancelled mid-call (its sealed file written) returned after %v; the others took %v and %v", jobs[0].took, jobs[1].took, jobs[2].took)
	assertCleanForRetry(t, jobs[0].s)
	for i, j := range jobs[1:] {
		if j.err != nil {
			t.Fatalf("PC1 %d (not cancelled): %v", i+1, j.err)
		}
	}
	// The retry of the cancelled sector, on the files the cancel left.
	j := jobs[0]
	resp, err := st.PC1(ctx, &sealv1.PC1Request{Sector: j.id, CachePath: j.s.cache, StagedPath: j.s.staged, SealedPath: j.s.sealed, Ticket: j.tk, Pieces: ccPieces()})
	if err != nil {
		t.Fatalf("retried PC1: %v", err)
	}
	j.out = resp.GetPhase1Output()
	for _, j := range jobs {
		r := finish(t, ctx, st, j.s, j.id, ccPieces(), j.tk, j.sd, j.treeD, j.out)
		verifyDirect(t, j.id, r, j.tk, j.sd)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// hostSeal is the JSON of `host seal -json` this test reads.
type hostSeal struct {
	OK       bool `json:"ok"`
	Sectors  int  `json:"sectors"`
	Verified int  `json:"verified"`
	Results  []struct {
		Sector       uint64 `json:"sector"`
		Done         bool   `json:"done"`
		Error        string `json:"error"`
		SealedCID    string `json:"sealed_cid"`
		UnsealedCID  string `json:"unsealed_cid"`
		ProofBytes   int    `json:"proof_bytes"`
		Verified     bool   `json:"verified"`
		Verification string `json:"verification"`
	} `json:"results"`
}

// hostRandomness is `host seal`'s ticket and seed of a sector
// (host/internal/seal randomness, which this module cannot import): if the
// two drift apart, the comm_r comparison below fails.
func hostRandomness(seed, sector uint64) (ticket, interactive []byte) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], sector)
	r := mrand.NewChaCha8(key)
	ticket, interactive = make([]byte, 32), make([]byte, 32)
	r.Read(ticket)
	r.Read(interactive)
	return ticket, interactive
}

// TestRealHostSeal seals 2 sectors of 2KiB through the host (bin/host seal
// with examples/ffi-2k.hcl: every stage on this plugin, confined in cgroups)
// and checks every proof verified, then seals the same inputs by calling
// filecoin-ffi directly in this process: comm_r and comm_d must be equal bit
// for bit.
func TestRealHostSeal(t *testing.T) {
	root, _ := filepath.Abs("../..")
	host := filepath.Join(root, "bin", "host")
	if _, err := os.Stat(filepath.Join(root, "bin", "plugins", "ffi")); err != nil {
		t.Fatalf("bin/plugins/ffi: %v (make test-real builds it)", err)
	}
	work := t.TempDir()
	cmd := exec.Command(host, "seal", "-config", filepath.Join(root, "examples", "ffi-2k.hcl"), "-sectors", "2",
		"-in-process", "-require-verified", "-json", "-progress", "off", "-workdir", work, "-seed", "7", "-first", "1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("host seal: %v\nstdout: %s\nstderr: %s", err, out, lastLines(stderr.String(), 40))
	}
	var got hostSeal
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("host seal -json: %v\n%s", err, out)
	}
	if !got.OK || got.Verified != 2 || len(got.Results) != 2 {
		t.Fatalf("host seal: ok=%v verified=%d of %d\n%s", got.OK, got.Verified, got.Sectors, out)
	}
	for _, r := range got.Results {
		t.Logf("sector %d: comm_d %s comm_r %s proof %d bytes verified=%v (%s)", r.Sector, r.UnsealedCID, r.SealedCID, r.ProofBytes, r.Verified, r.Verification)
		if r.ProofBytes != 192 || !strings.Contains(r.Verification, "INSECURE") {
			t.Errorf("sector %d: proof %d bytes, verification %q", r.Sector, r.ProofBytes, r.Verification)
		}
		// The same inputs, sealed directly in this process.
		s := newSector(t)
		tk, _ := hostRandomness(7, r.Sector)
		piece := []abi.PieceInfo{{Size: 2048, PieceCID: zeroPiece2K}}
		pc1, err := ffi.SealPreCommitPhase1(proof2K, s.cache, s.staged, s.sealed, abi.SectorNumber(r.Sector), 1000, tk, piece)
		if err != nil {
			t.Fatal(err)
		}
		commR, commD, err := ffi.SealPreCommitPhase2(pc1, s.cache, s.sealed)
		if err != nil {
			t.Fatal(err)
		}
		if commR.String() != r.SealedCID || commD.String() != r.UnsealedCID {
			t.Errorf("sector %d: through the host comm_r %s comm_d %s; direct comm_r %s comm_d %s", r.Sector, r.SealedCID, r.UnsealedCID, commR, commD)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
