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

// runDriver sends tasks, all at once, through vc-processors' producer to
// the processor argv, with env added to the test's environment; it
// returns one result per task and the processor's stderr.
func runDriver(t *testing.T, driver, stage string, tasks []any, env []string, argv ...string) ([]result, string) {
	t.Helper()
	in, err := json.Marshal(tasks)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(driver, append([]string{stage}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
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
	return res, stderr.String()
}

// hostProcessor drives `host processor STAGE`, started as damocles-worker
// starts a block with bin = host and no args, and returns every result,
// failed ones included, and its stderr.
func hostProcessor(t *testing.T, driver, host, socket, stage string, tasks []any) ([]result, string) {
	t.Helper()
	res, stderr := runDriver(t, driver, stage, tasks, []string{"SEALHOST_SOCKET=" + socket}, host, "processor", stage)
	// The adapter says it leaves confinement to the host.
	if !strings.Contains(stderr, "VC_CG_CPUSET") {
		t.Errorf("%s: host processor did not log VC_CG_CPUSET as ignored; stderr:\n%s", stage, stderr)
	}
	return res, stderr
}

// drive is hostProcessor for tasks that must all succeed.
func drive(t *testing.T, driver, host, socket, stage string, tasks []any) []result {
	t.Helper()
	res, _ := driveLogged(t, driver, host, socket, stage, tasks)
	return res
}

func driveLogged(t *testing.T, driver, host, socket, stage string, tasks []any) ([]result, string) {
	t.Helper()
	res, stderr := hostProcessor(t, driver, host, socket, stage, tasks)
	for i, r := range res {
		if r.Err != "" || len(r.Output) == 0 {
			t.Fatalf("%s task %d: %s\nprocessor stderr:\n%s", stage, i, r.Err, stderr)
		}
	}
	return res, stderr
}

// fakeNote is what host processor logs for each of the mock's proofs:
// damocles' outputs have no field to say a proof is FAKE, so the line the
// worker shows from the child's stderr says it.
const fakeNote = "the proof was not verified: FAKE proof from plugins/mock"

// driveProofs is drive for a stage that answers proofs.
func driveProofs(t *testing.T, driver, host, socket, stage string, tasks []any) []result {
	t.Helper()
	res, stderr := driveLogged(t, driver, host, socket, stage, tasks)
	if n := strings.Count(stderr, fakeNote); n != len(tasks) {
		t.Errorf("%s: host processor said %q for %d of the %d answers\nstderr:\n%s", stage, fakeNote, n, len(tasks), stderr)
	}
	return res
}

// refused drives tasks that must each fail with an err_msg holding its
// want: damocles' answer to a task it cannot do.
func refused(t *testing.T, driver, host, socket, stage string, tasks []any, want []string) {
	t.Helper()
	res, stderr := hostProcessor(t, driver, host, socket, stage, tasks)
	for i, r := range res {
		if r.Err == "" || !strings.Contains(r.Err, want[i]) {
			t.Errorf("%s refusal %d: answered output %s, err %q; want an err_msg containing %q\nprocessor stderr:\n%s", stage, i, r.Output, r.Err, want[i], stderr)
		}
	}
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

// ints is a byte vector as serde writes Vec<u8>: an array of integers
// (encoding/json would write base64).
type ints []byte

func (b ints) MarshalJSON() ([]byte, error) {
	n := make([]int, len(b))
	for i, v := range b {
		n[i] = int(v)
	}
	return json.Marshal(n)
}

func (b *ints) UnmarshalJSON(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '[' {
		return fmt.Errorf("want an array of integers, got %.40s", raw)
	}
	return json.Unmarshal(raw, (*[]uint8)(b))
}

// pieceInfo is filecoin-proofs-api's PieceInfo as the driver writes it.
type pieceInfo struct {
	Commitment [32]byte `json:"commitment"`
	Size       uint64   `json:"size"`
}

func zeroCommitment(t *testing.T, padded abi.PaddedPieceSize) [32]byte {
	t.Helper()
	d, err := commcid.CIDToPieceCommitmentV1(zerocomm.ZeroPieceCommitment(padded.Unpadded()))
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(d)
}

// sector is one 2KiB sector's files, laid out and named as damocles-worker
// names them (s-t0<miner>-<number>), which is how `host processor` finds
// the sector of a task that carries only paths.
type sector struct {
	number                            uint64
	cache, staged, sealed             string
	updateStaged, update, updateCache string
	commR, commD, commRNew, commDNew  [32]byte
	updatePieces                      []pieceInfo
	commC, commRLast, commRLastNew    [32]byte
}

const (
	miner     = 1000
	proofName = "StackedDrg2KiBV1_1"
)

func layout(t *testing.T, n int) []*sector {
	root := t.TempDir()
	for _, d := range []string{"cache", "staged", "sealed", "update-staged", "update", "update-cache", "pieces"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]*sector, n)
	for i := range out {
		num := uint64(100 + i)
		name := fmt.Sprintf("s-t0%d-%d", miner, num)
		s := &sector{number: num, cache: filepath.Join(root, "cache", name), staged: filepath.Join(root, "staged", name),
			sealed: filepath.Join(root, "sealed", name), updateStaged: filepath.Join(root, "update-staged", name),
			update: filepath.Join(root, "update", name), updateCache: filepath.Join(root, "update-cache", name)}
		for _, d := range []string{s.cache, s.updateCache} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(s.staged, make([]byte, 2048), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.sealed, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// TestVCProcessorsThroughHostProcessor: damocles' producer drives `host
// processor` for every stage vc-processors 0.2.1 has a task for, on four
// 2KiB sectors of plugins/mock, each stage's tasks in flight together:
// the four CC sectors sealed (tree_d → pc1 → pc2 → c2), then data pieces
// added for an update of each, the update encoded and proved, and the
// sealed and updated replicas proved with WindowPoSt and WinningPoSt; and
// the tasks `host processor` or the mock must refuse, refused with an
// err_msg naming the problem. Every output is read by the driver in
// vc-processors' own types (src/main.rs) and compared with what the task
// API answers for the same request, so the translation, not only the
// shape, is checked.
func TestVCProcessorsThroughHostProcessor(t *testing.T) {
	driver, host, root := binaries(t)
	socket := runHost(t, host, filepath.Join(root, "tools", "vcinterop", "testdata", "host.hcl"))
	c, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	const n = 4
	sectors := layout(t, n)
	run := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // the later stages use this one's sectors
		}
	}
	run("seal", func(t *testing.T) { seal(t, ctx, c, driver, host, socket, sectors) })
	run("add_pieces", func(t *testing.T) { addPieces(t, driver, host, socket, sectors) })
	run("snap_encode", func(t *testing.T) { snapEncode(t, ctx, c, driver, host, socket, sectors) })
	run("snap_prove", func(t *testing.T) { snapProve(t, ctx, c, driver, host, socket, sectors) })
	run("window_post", func(t *testing.T) { windowPoSt(t, ctx, c, driver, host, socket, sectors) })
	run("winning_post", func(t *testing.T) { winningPoSt(t, ctx, c, driver, host, socket, sectors) })

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]int64{}
	for _, p := range st.GetProcessors() {
		if p.GetDone() > 0 {
			done[p.GetId()] += p.GetDone()
		}
	}
	// Each stage's tasks through host processor, plus the task API's own
	// calls that checked them (one per sector; window_post: one). The
	// refusals that reached the mock count as failed, not done, but for
	// snap_encode's: the host ran it, and host processor refused its
	// answer for want of a p_aux.
	want := fmt.Sprint(map[string]int64{"tree_d.0": n, "pc1.0": n, "pc2.0": n, "c1.0": n, "c2.0": n, "add_pieces.0": n,
		"snap_encode.0": 2*n + 1, "snap_prove.0": 2 * n, "window_post.0": 3 + 1, "winning_post.0": 2 + 2})
	if fmt.Sprint(done) != want {
		t.Errorf("host status: tasks done per processor %v, want %s", done, want)
	}
}

func seal(t *testing.T, ctx context.Context, c *client.Client, driver, host, socket string, sectors []*sector) {
	zero := zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(2048).Unpadded())
	commitment := zeroCommitment(t, 2048)
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
			"prover_id": proverID(miner), "sector_id": s.number, "ticket": ticket(i),
			"piece_infos": []any{map[string]any{"commitment": commitment, "size": 2032}},
		})
	}
	pc1 := drive(t, driver, host, socket, "pc1", tasks)
	for i, r := range pc1 {
		// The mock's PC1 output is its own object, carried whole: it says
		// it is FAKE.
		var out struct {
			Mock string `json:"_mock"`
		}
		if err := json.Unmarshal(r.Output, &out); err != nil || !strings.Contains(out.Mock, "FAKE") {
			t.Errorf("pc1 %d output %s: no _mock FAKE label (%v)", i, r.Output, err)
		}
	}

	tasks = tasks[:0]
	for i, s := range sectors {
		tasks = append(tasks, map[string]any{"pc1out": pc1[i].Output, "cache_dir": s.cache, "sealed_file": s.sealed})
	}
	pc2 := drive(t, driver, host, socket, "pc2", tasks)

	// c1 runs inside damocles-worker: here, through the task API.
	tasks = tasks[:0]
	for i, s := range sectors {
		var out struct {
			CommR [32]byte `json:"comm_r"`
			CommD [32]byte `json:"comm_d"`
		}
		if err := json.Unmarshal(pc2[i].Output, &out); err != nil {
			t.Fatalf("pc2 %d output %s: %v", i, pc2[i].Output, err)
		}
		s.commR, s.commD = out.CommR, out.CommD
		sealed, _ := commcid.ReplicaCommitmentV1ToCID(out.CommR[:])
		unsealed, _ := commcid.DataCommitmentV1ToCID(out.CommD[:])
		if unsealed != zero {
			t.Errorf("sector %d: pc2 comm_d %s, want the zero piece's %s", i, unsealed, zero)
		}
		tk, seed := ticket(i), [32]byte{9}
		id := &sealv1.Sector{RegisteredSealProof: int64(abi.RegisteredSealProof_StackedDrg2KiBV1_1), MinerId: miner, SectorNumber: s.number}
		c1, err := c.C1(ctx, &sealv1.C1Request{Sector: id, SealedCid: sealed.String(), UnsealedCid: unsealed.String(),
			CachePath: s.cache, SealedPath: s.sealed, Ticket: tk[:], Seed: seed[:],
			Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: zero.String()}}})
		if err != nil {
			t.Fatalf("c1 %d: %v", i, err)
		}
		tasks = append(tasks, map[string]any{"c1out": json.RawMessage(c1.GetPhase1Output()), "prover_id": proverID(miner), "sector_id": s.number, "miner_id": miner})
	}
	for i, r := range driveProofs(t, driver, host, socket, "c2", tasks) {
		var out struct{ Proof ints }
		if err := json.Unmarshal(r.Output, &out); err != nil || len(out.Proof) == 0 {
			t.Fatalf("c2 %d output %s: %v", i, r.Output, err)
		}
	}
}

// addPieces writes each sector's update data: one local piece of half the
// sector, with the half after it filled by the host (sectors 0, 1) or sent
// as a pledge piece (2, 3); either way the answer lists both halves.
func addPieces(t *testing.T, driver, host, socket string, sectors []*sector) {
	zeroHalf := zeroCommitment(t, 1024)
	var tasks []any
	for i, s := range sectors {
		data := filepath.Join(filepath.Dir(filepath.Dir(s.cache)), "pieces", filepath.Base(s.cache))
		if err := os.WriteFile(data, bytes.Repeat([]byte{byte(i + 1), 0x5a}, 508), 0o644); err != nil {
			t.Fatal(err)
		}
		pieces := []any{map[string]any{"piece_file": map[string]any{"local": data}, "payload_size": 1016, "piece_size": 1016}}
		if i >= 2 {
			pieces = append(pieces, map[string]any{"piece_file": "pledge", "payload_size": 1016, "piece_size": 1016})
		}
		tasks = append(tasks, map[string]any{"seal_proof_type": proofName, "pieces": pieces, "staged_filepath": s.updateStaged})
	}
	for i, r := range drive(t, driver, host, socket, "add_pieces", tasks) {
		s := sectors[i]
		if err := json.Unmarshal(r.Output, &s.updatePieces); err != nil {
			t.Fatalf("add_pieces %d output %s: %v", i, r.Output, err)
		}
		p := s.updatePieces
		if len(p) != 2 || p[0].Size != 1016 || p[1].Size != 1016 || p[1].Commitment != zeroHalf || p[0].Commitment == zeroHalf {
			t.Errorf("add_pieces %d answered %s; want the data piece and the 1024-byte zero piece (commitment %v), 1016 unpadded bytes each", i, r.Output, zeroHalf)
		}
		b, err := os.ReadFile(s.updateStaged)
		if err != nil || len(b) != 2048 || bytes.Count(b[:1024], []byte{0}) == 1024 || !bytes.Equal(b[1024:], make([]byte, 1024)) {
			t.Errorf("add_pieces %d: staged file %d bytes (%v); want 2048, the data's half written, the other zeros", i, len(b), err)
		}
	}

	// What sealhost's add_pieces cannot do is refused, saying why.
	local := filepath.Join(filepath.Dir(filepath.Dir(sectors[0].cache)), "pieces", filepath.Base(sectors[0].cache))
	refused(t, driver, host, socket, "add_pieces", []any{
		map[string]any{"seal_proof_type": proofName, "staged_filepath": sectors[0].updateStaged + ".url",
			"pieces": []any{map[string]any{"piece_file": map[string]any{"url": "http://piece.example/p"}, "payload_size": 1016, "piece_size": 1016}}},
		map[string]any{"seal_proof_type": proofName, "staged_filepath": sectors[0].updateStaged + ".short",
			"pieces": []any{map[string]any{"piece_file": map[string]any{"local": local}, "payload_size": 1000, "piece_size": 1016}}},
	}, []string{"is at the URL http://piece.example/p: the task API's add_pieces reads local files only", "payload_size 1000 is less than piece_size 1016"})
}

// pAux is rust-fil-proofs' p_aux: comm_c, then comm_r_last.
func pAux(t *testing.T, dir string, commC, commRLast [32]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "p_aux"), append(commC[:], commRLast[:]...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sealedCID and unsealedCID are a comm_r's and a comm_d's CIDs, "" for
// bytes that are none (a mismatch then shows).
func sealedCID(b [32]byte) string {
	c, err := commcid.ReplicaCommitmentV1ToCID(b[:])
	if err != nil {
		return ""
	}
	return c.String()
}

func unsealedCID(b [32]byte) string {
	c, err := commcid.DataCommitmentV1ToCID(b[:])
	if err != nil {
		return ""
	}
	return c.String()
}

func pieceCIDs(t *testing.T, ps []pieceInfo) []*sealv1.PieceInfo {
	var out []*sealv1.PieceInfo
	for _, p := range ps {
		c, err := commcid.PieceCommitmentV1ToCID(p.Commitment[:])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &sealv1.PieceInfo{Size: uint64(abi.UnpaddedPieceSize(p.Size).Padded()), PieceCid: c.String()})
	}
	return out
}

func snapEncodeTask(s *sector) map[string]any {
	return map[string]any{"registered_proof": "StackedDrg2KiBV1", "new_replica_path": s.update, "new_cache_path": s.updateCache,
		"sector_path": s.sealed, "sector_cache_path": s.cache, "staged_data_path": s.updateStaged, "piece_infos": s.updatePieces}
}

// snapEncode updates each sealed sector with its new data. damocles'
// output carries comm_r_last_new, which `host processor` reads from the
// new cache's p_aux, where rust-fil-proofs' encode_into writes it; the
// mock writes no p_aux (neither at pc2 nor here), so without one the task
// is refused naming it, and the test then writes both as rust-fil-proofs
// would leave them (the sector key's at pc2, the new one at encode).
func snapEncode(t *testing.T, ctx context.Context, c *client.Client, driver, host, socket string, sectors []*sector) {
	for i, s := range sectors {
		if err := os.WriteFile(s.update, make([]byte, 2048), 0o644); err != nil {
			t.Fatal(err)
		}
		s.commC, s.commRLast, s.commRLastNew = [32]byte{0xc0, byte(i)}, [32]byte{0x1a, byte(i)}, [32]byte{0x2b, byte(i)}
		pAux(t, s.cache, s.commC, s.commRLast)
	}
	refused(t, driver, host, socket, "snap_encode", []any{snapEncodeTask(sectors[0])},
		[]string{"damocles' output needs comm_r_last_new, which the task API's answer does not carry; it is read from " + filepath.Join(sectors[0].updateCache, "p_aux")})

	var tasks []any
	for _, s := range sectors {
		pAux(t, s.updateCache, s.commC, s.commRLastNew)
		tasks = append(tasks, snapEncodeTask(s))
	}
	for i, r := range drive(t, driver, host, socket, "snap_encode", tasks) {
		s := sectors[i]
		var out struct {
			CommRNew     [32]byte `json:"comm_r_new"`
			CommRLastNew [32]byte `json:"comm_r_last_new"`
			CommDNew     [32]byte `json:"comm_d_new"`
		}
		if err := json.Unmarshal(r.Output, &out); err != nil {
			t.Fatalf("snap_encode %d output %s: %v", i, r.Output, err)
		}
		s.commRNew, s.commDNew = out.CommRNew, out.CommDNew
		if out.CommRLastNew != s.commRLastNew {
			t.Errorf("snap_encode %d: comm_r_last_new %v, want the new p_aux's %v", i, out.CommRLastNew, s.commRLastNew)
		}
		if out.CommRNew == s.commR {
			t.Errorf("snap_encode %d: comm_r_new is the sector key's comm_r", i)
		}
		// The same update through the task API, as the sector's own
		// request: host processor found the sector from the path's name
		// and the padded pieces from the unpadded ones.
		want, err := c.SnapEncode(ctx, &sealv1.SnapEncodeRequest{
			Sector:                &sealv1.Sector{RegisteredSealProof: int64(abi.RegisteredSealProof_StackedDrg2KiBV1_1), MinerId: miner, SectorNumber: s.number},
			RegisteredUpdateProof: int64(abi.RegisteredUpdateProof_StackedDrg2KiBV1), NewReplicaPath: s.update, NewCachePath: s.updateCache,
			SectorKeyPath: s.sealed, SectorKeyCachePath: s.cache, StagedPath: s.updateStaged, Pieces: pieceCIDs(t, s.updatePieces)})
		if err != nil {
			t.Fatalf("snap_encode %d through the task API: %v", i, err)
		}
		r, d := sealedCID(out.CommRNew), unsealedCID(out.CommDNew)
		if r != want.GetSealedCid() || d != want.GetUnsealedCid() {
			t.Errorf("snap_encode %d: host processor answered comm_r_new %s, comm_d_new %s; the task API %s, %s", i, r, d, want.GetSealedCid(), want.GetUnsealedCid())
		}
	}
}

func snapProveTask(s *sector, vanilla []ints, commRNew, commDNew [32]byte) map[string]any {
	return map[string]any{"registered_proof": "StackedDrg2KiBV1", "vannilla_proofs": vanilla,
		"comm_r_old": s.commR, "comm_r_new": commRNew, "comm_d_new": commDNew}
}

// snapProve proves each update from its vanilla proof (one partition at
// 2KiB; the worker makes them where the replica is, so any bytes do for
// the mock), and has three refused: a sector never encoded (its comm_r
// given as the new one), no vanilla proofs, and one too many.
func snapProve(t *testing.T, ctx context.Context, c *client.Client, driver, host, socket string, sectors []*sector) {
	vanilla := []ints{bytes.Repeat([]byte{7}, 64)}
	var tasks []any
	for _, s := range sectors {
		tasks = append(tasks, snapProveTask(s, vanilla, s.commRNew, s.commDNew))
	}
	for i, r := range driveProofs(t, driver, host, socket, "snap_prove", tasks) {
		s := sectors[i]
		var proof ints
		if err := json.Unmarshal(r.Output, &proof); err != nil || len(proof) != 192 {
			t.Fatalf("snap_prove %d output %s: %v; want the mock's 192-byte proof as integers", i, r.Output, err)
		}
		// The task names no sector: host processor asks for one of the
		// update proof's size, numbered 0.
		want, err := c.SnapProve(ctx, &sealv1.SnapProveRequest{Sector: &sealv1.Sector{RegisteredSealProof: int64(abi.RegisteredSealProof_StackedDrg2KiBV1_1)},
			RegisteredUpdateProof: int64(abi.RegisteredUpdateProof_StackedDrg2KiBV1), OldSealedCid: sealedCID(s.commR), NewSealedCid: sealedCID(s.commRNew),
			NewUnsealedCid: unsealedCID(s.commDNew), VanillaProofs: [][]byte{vanilla[0]}})
		if err != nil {
			t.Fatalf("snap_prove %d through the task API: %v", i, err)
		}
		if !bytes.Equal(proof, want.GetProof()) {
			t.Errorf("snap_prove %d: host processor's proof is not the task API's for the same update", i)
		}
		if !strings.Contains(want.GetVerification(), "FAKE") {
			t.Errorf("snap_prove %d: the task API's verification %q does not say the mock's proof is FAKE", i, want.GetVerification())
		}
	}
	s := sectors[0]
	refused(t, driver, host, socket, "snap_prove", []any{
		snapProveTask(s, vanilla, s.commR, s.commD),
		snapProveTask(s, []ints{}, s.commRNew, s.commDNew),
		snapProveTask(s, append(vanilla, vanilla[0]), s.commRNew, s.commDNew),
	}, []string{"an update changes comm_r", "vannilla_proofs is empty", "2 vanilla_proofs, want one per partition: 1 for"})
}

type replica struct {
	SectorID   uint64   `json:"sector_id"`
	CommR      [32]byte `json:"comm_r"`
	CacheDir   string   `json:"cache_dir"`
	SealedFile string   `json:"sealed_file"`
}

func postTask(proof string, seed [32]byte, reps []replica) map[string]any {
	return map[string]any{"miner_id": miner, "proof_type": proof, "replicas": reps, "seed": seed}
}

func sealedReplica(s *sector) replica {
	return replica{SectorID: s.number, CommR: s.commR, CacheDir: s.cache, SealedFile: s.sealed}
}

func updatedReplica(s *sector) replica {
	return replica{SectorID: s.number, CommR: s.commRNew, CacheDir: s.updateCache, SealedFile: s.update}
}

// postSectors is the task API's form of reps, as host processor makes it:
// the PoSt proof's size, sealed V1_1.
func postSectors(reps []replica) []*sealv1.PoStSector {
	var out []*sealv1.PoStSector
	for _, r := range reps {
		out = append(out, &sealv1.PoStSector{RegisteredSealProof: int64(abi.RegisteredSealProof_StackedDrg2KiBV1_1), SectorNumber: r.SectorID,
			SealedCid: sealedCID(r.CommR), CachePath: r.CacheDir, SealedPath: r.SealedFile})
	}
	return out
}

// windowPoSt proves the four sealed sectors in one task, the four updated
// replicas in another (two partitions each: the mock proves two 2KiB
// sectors a partition), and answers a sector whose files are gone as
// faulty, not as an error. The proof type is vc-processors 0.2.1's name,
// StackedDrgWindow2KiBV1.
func windowPoSt(t *testing.T, ctx context.Context, c *client.Client, driver, host, socket string, sectors []*sector) {
	seed := [32]byte{0x77, 1}
	var sealed, updated []replica
	for _, s := range sectors {
		sealed, updated = append(sealed, sealedReplica(s)), append(updated, updatedReplica(s))
	}
	gone := replica{SectorID: 199, CommR: sectors[0].commR, CacheDir: sectors[0].cache + ".gone", SealedFile: sectors[0].sealed + ".gone"}
	tasks := []any{postTask("StackedDrgWindow2KiBV1", seed, sealed), postTask("StackedDrgWindow2KiBV1", seed, updated),
		postTask("StackedDrgWindow2KiBV1", seed, []replica{sealed[1], gone})}
	res := driveProofs(t, driver, host, socket, "window_post", tasks)
	outs := make([]struct {
		Proofs [][]byte `json:"proofs"` // SnarkProofs: base64 strings
		Faults []uint64 `json:"faults"`
	}, len(res))
	for i, r := range res {
		if err := json.Unmarshal(r.Output, &outs[i]); err != nil {
			t.Fatalf("window_post %d output %s: %v", i, r.Output, err)
		}
	}
	for i := range 2 {
		if len(outs[i].Proofs) != 2 || len(outs[i].Proofs[0]) != 192 || len(outs[i].Faults) != 0 {
			t.Errorf("window_post %d answered %s; want two 192-byte proofs, no faults", i, res[i].Output)
		}
	}
	if bytes.Equal(outs[0].Proofs[0], outs[1].Proofs[0]) {
		t.Errorf("window_post: the sealed and the updated replicas have the same proof")
	}
	if len(outs[2].Proofs) != 0 || fmt.Sprint(outs[2].Faults) != "[199]" {
		t.Errorf("window_post 2 answered %s; want sector 199 faulty and no proofs", res[2].Output)
	}
	want, err := c.WindowPoSt(ctx, &sealv1.WindowPoStRequest{MinerId: miner, RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWindow2KiBV1),
		Randomness: seed[:], Sectors: postSectors(sealed)})
	if err != nil {
		t.Fatalf("window_post through the task API: %v", err)
	}
	if len(want.GetProofs()) != len(outs[0].Proofs) || !bytes.Equal(want.GetProofs()[0].GetProof(), outs[0].Proofs[0]) || !bytes.Equal(want.GetProofs()[1].GetProof(), outs[0].Proofs[1]) {
		t.Errorf("window_post: host processor's proofs are not the task API's for the same sectors")
	}
	refused(t, driver, host, socket, "window_post", []any{postTask("StackedDrgWinning2KiBV1", seed, sealed)},
		[]string{"proof_type StackedDrgWinning2KiBV1 is a winning PoSt proof"})
}

// winningPoSt proves one sealed and one updated replica; a window proof
// type and a sector whose files are gone (no faults to declare: the
// block is lost) are refused.
func winningPoSt(t *testing.T, ctx context.Context, c *client.Client, driver, host, socket string, sectors []*sector) {
	seed := [32]byte{0x88, 2}
	reps := [][]replica{{sealedReplica(sectors[0])}, {updatedReplica(sectors[1])}}
	tasks := []any{postTask("StackedDrgWinning2KiBV1", seed, reps[0]), postTask("StackedDrgWinning2KiBV1", seed, reps[1])}
	for i, r := range driveProofs(t, driver, host, socket, "winning_post", tasks) {
		var out struct {
			Proofs [][]byte `json:"proofs"`
		}
		if err := json.Unmarshal(r.Output, &out); err != nil || len(out.Proofs) != 1 || len(out.Proofs[0]) != 192 {
			t.Fatalf("winning_post %d output %s: %v; want one 192-byte proof", i, r.Output, err)
		}
		want, err := c.WinningPoSt(ctx, &sealv1.WinningPoStRequest{MinerId: miner, RegisteredPostProof: int64(abi.RegisteredPoStProof_StackedDrgWinning2KiBV1),
			Randomness: seed[:], Sectors: postSectors(reps[i])})
		if err != nil {
			t.Fatalf("winning_post %d through the task API: %v", i, err)
		}
		if !bytes.Equal(want.GetProofs()[0].GetProof(), out.Proofs[0]) {
			t.Errorf("winning_post %d: host processor's proof is not the task API's for the same sector", i)
		}
	}
	gone := updatedReplica(sectors[2])
	gone.SealedFile += ".gone"
	refused(t, driver, host, socket, "winning_post", []any{
		postTask("StackedDrgWindow2KiBV1", seed, reps[0]),
		postTask("StackedDrgWinning2KiBV1", seed, []replica{gone}),
	}, []string{"proof_type StackedDrgWindow2KiBV1 is a window PoSt proof", fmt.Sprintf("winning PoSt: sectors [%d] have no readable cache or sealed file", gone.SectorID)})
}
