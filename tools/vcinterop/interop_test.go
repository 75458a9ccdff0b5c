//go:build interop

package vcinterop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The driver and the host are built by `make test-interop`.
func binaries(t *testing.T) (driver, host, root string) {
	t.Helper()
	root, _ = filepath.Abs("../..")
	driver = os.Getenv("VCINTEROP_BIN")
	if driver == "" {
		t.Fatal("VCINTEROP_BIN is not set: run this test with `make test-interop`, which builds the vc-processors driver")
	}
	host = filepath.Join(root, "bin", "host")
	for _, p := range []string{driver, host, filepath.Join(root, "bin", "plugins", "mock")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%v (make test-interop builds it)", err)
		}
	}
	return driver, host, root
}

func runHost(t *testing.T, host, config string) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "h.sock")
	var log bytes.Buffer
	cmd := exec.Command(host, "run", "-config", config, "-socket", socket, "-name", "vcinterop")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("host log:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return socket
		}
		select {
		case err := <-done:
			t.Fatalf("host run exited: %v\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("host run did not listen within 30 s\n%s", log.String())
		}
	}
}

type result struct {
	Output json.RawMessage `json:"output"`
	Err    string          `json:"err"`
}

// drive sends tasks, all at once, through vc-processors' producer to
// `host processor STAGE`, started as damocles-worker starts a block with
// bin = host and no args.
func drive(t *testing.T, driver, host, socket, stage string, tasks []any) []result {
	t.Helper()
	in, err := json.Marshal(tasks)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(driver, stage, host, "processor", stage)
	cmd.Env = append(os.Environ(), "SEALHOST_SOCKET="+socket)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vcinterop %s: %v\n%s", stage, err, stderr.String())
	}
	var res []result
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(tasks) {
		t.Fatalf("vcinterop %s: %d results for %d tasks (%v)\n%s", stage, len(res), len(tasks), err, out)
	}
	for i, r := range res {
		if r.Err != "" || len(r.Output) == 0 {
			t.Fatalf("%s task %d: %s\nprocessor stderr:\n%s", stage, i, r.Err, stderr.String())
		}
	}
	// The adapter says it leaves confinement to the host.
	if !strings.Contains(stderr.String(), "VC_CG_CPUSET") {
		t.Errorf("%s: host processor did not log VC_CG_CPUSET as ignored; stderr:\n%s", stage, stderr.String())
	}
	return res
}

// proverID is damocles' prover_id: the actor id as a uvarint, zero-padded.
func proverID(miner uint64) [32]byte {
	var p [32]byte
	i := 0
	for miner >= 0x80 {
		p[i] = byte(miner) | 0x80
		miner >>= 7
		i++
	}
	p[i] = byte(miner)
	return p
}

// TestVCProcessorsSealThroughHostProcessor: four 2KiB sectors, each stage's
// tasks in flight together, through damocles' producer.
func TestVCProcessorsSealThroughHostProcessor(t *testing.T) {
	driver, host, root := binaries(t)
	socket := runHost(t, host, filepath.Join(root, "examples", "local.hcl"))
	const n, miner = 4, 1000
	const proofName = "StackedDrg2KiBV1_1"
	zero := zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(2048).Unpadded())
	dec, err := commcid.CIDToPieceCommitmentV1(zero)
	if err != nil {
		t.Fatal(err)
	}
	var commitment [32]byte
	copy(commitment[:], dec)
	type dirs struct{ cache, staged, sealed string }
	sectors := make([]dirs, n)
	for i := range sectors {
		d := t.TempDir()
		s := dirs{filepath.Join(d, "cache"), filepath.Join(d, "staged"), filepath.Join(d, "sealed")}
		if err := os.Mkdir(s.cache, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(s.staged, make([]byte, 2048), 0o644)
		os.WriteFile(s.sealed, nil, 0o644)
		sectors[i] = s
	}
	ticket := func(i int) [32]byte { var b [32]byte; b[0] = byte(i + 1); return b }

	var tasks []any
	for _, s := range sectors {
		tasks = append(tasks, map[string]any{"registered_proof": proofName, "staged_file": s.staged, "cache_dir": s.cache})
	}
	for i, r := range drive(t, driver, host, socket, "tree_d", tasks) {
		if string(r.Output) != "true" {
			t.Fatalf("tree_d %d answered %s, want true", i, r.Output)
		}
	}

	tasks = tasks[:0]
	for i, s := range sectors {
		tasks = append(tasks, map[string]any{
			"registered_proof": proofName, "cache_path": s.cache, "in_path": s.staged, "out_path": s.sealed,
			"prover_id": proverID(miner), "sector_id": 100 + i, "ticket": ticket(i),
			"piece_infos": []any{map[string]any{"commitment": commitment, "size": 2032}},
		})
	}
	pc1 := drive(t, driver, host, socket, "pc1", tasks)

	tasks = tasks[:0]
	for i, s := range sectors {
		tasks = append(tasks, map[string]any{"pc1out": pc1[i].Output, "cache_dir": s.cache, "sealed_file": s.sealed})
	}
	pc2 := drive(t, driver, host, socket, "pc2", tasks)

	// c1 runs inside damocles-worker: here, through the task API.
	c, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tasks = tasks[:0]
	for i, s := range sectors {
		var out struct{ CommR, CommD [32]byte }
		var raw struct {
			CommR []int `json:"comm_r"`
			CommD []int `json:"comm_d"`
		}
		if err := json.Unmarshal(pc2[i].Output, &raw); err != nil || len(raw.CommR) != 32 || len(raw.CommD) != 32 {
			t.Fatalf("pc2 %d output %s: %v", i, pc2[i].Output, err)
		}
		for j := range 32 {
			out.CommR[j], out.CommD[j] = byte(raw.CommR[j]), byte(raw.CommD[j])
		}
		sealed, _ := commcid.ReplicaCommitmentV1ToCID(out.CommR[:])
		unsealed, _ := commcid.DataCommitmentV1ToCID(out.CommD[:])
		if unsealed != zero {
			t.Errorf("sector %d: pc2 comm_d %s, want the zero piece's %s", i, unsealed, zero)
		}
		tk, seed := ticket(i), [32]byte{9}
		id := &sealv1.Sector{RegisteredSealProof: int64(abi.RegisteredSealProof_StackedDrg2KiBV1_1), MinerId: miner, SectorNumber: uint64(100 + i)}
		c1, err := c.C1(context.Background(), &sealv1.C1Request{Sector: id, SealedCid: sealed.String(), UnsealedCid: unsealed.String(),
			CachePath: s.cache, SealedPath: s.sealed, Ticket: tk[:], Seed: seed[:],
			Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: zero.String()}}})
		if err != nil {
			t.Fatalf("c1 %d: %v", i, err)
		}
		tasks = append(tasks, map[string]any{"c1out": json.RawMessage(c1.GetPhase1Output()), "prover_id": proverID(miner), "sector_id": 100 + i, "miner_id": miner})
	}
	for i, r := range drive(t, driver, host, socket, "c2", tasks) {
		var out struct{ Proof []int }
		if err := json.Unmarshal(r.Output, &out); err != nil || len(out.Proof) == 0 {
			t.Fatalf("c2 %d output %s: %v", i, r.Output, err)
		}
	}

	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]int64{}
	for _, p := range st.GetProcessors() {
		done[p.GetId()] += p.GetDone()
	}
	want := fmt.Sprint(map[string]int64{"tree_d.0": n, "pc1.0": n, "pc2.0": n, "c1.0": n, "c2.0": n})
	if fmt.Sprint(done) != want {
		t.Errorf("host status: tasks done per processor %v, want %s", done, want)
	}
}
