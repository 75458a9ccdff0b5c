package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/host/internal/seal"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// This file drives `host processor` the way damocles-worker does
// (vc-processors' producer, read from damocles 4235a895): the child is
// spawned with a cleared environment plus the worker's variables, its
// first stdout line must be the ready line within stable_wait (5 s), each
// request is one JSON line with an id from a counter that keeps growing
// across restarts, answers are matched by id in any order, and when the
// child's stdout ends every request in flight fails with "child process
// exited: STAGE" and the child is respawned. The JSON is written here by
// hand, as serde writes it, not with internal/damocles, so the adapter's
// codec is checked against an independent encoder.

// damoclesChild is one external processor as the worker holds it.
type damoclesChild struct {
	t     testing.TB
	stage string
	env   []string
	args  []string
	ids   *atomic.Uint64 // the worker's counter: shared across respawns

	mu      sync.Mutex
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	waiting map[uint64]chan workerAnswer
	answers []uint64 // ids in the order answered
	stderr  childLog
	exited  chan struct{}
}

type workerAnswer struct {
	out json.RawMessage
	err error
}

// childLog is the child's stderr: a file, as the worker's inherited
// stderr is, so no copying goroutine runs in the test.
type childLog struct{ f *os.File }

func (l childLog) String() string {
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}

const stableWait = 5 * time.Second // damocles' default stable_wait

// spawnDamoclesChild starts `host processor STAGE`; args go before the
// stage (a worker's `args`).
func spawnDamoclesChild(t testing.TB, stage string, env []string, args ...string) *damoclesChild {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), stage+"-stderr-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c := &damoclesChild{t: t, stage: stage, env: env, args: args, ids: &atomic.Uint64{}, stderr: childLog{f}}
	c.start()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *damoclesChild) start() {
	c.t.Helper()
	cmd := exec.Command(runTestHostBinary(c.t), append(append([]string{"processor"}, c.args...), c.stage)...) // bin = host, no args
	cmd.Env = c.env                                                                                           // inherit_envs = false: only envs
	cmd.Stderr = c.stderr.f                                                                                   // inherited from the worker: its log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	r := bufio.NewReaderSize(stdout, 1<<20)
	ready := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		ready <- line
	}()
	timer := time.NewTimer(stableWait)
	defer timer.Stop()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != c.stage+" processor ready" {
			cmd.Process.Kill()
			c.t.Fatalf("unexpected first line %q; stderr:\n%s", line, c.stderr)
		}
	case <-timer.C:
		cmd.Process.Kill()
		c.t.Fatalf("timeout exceeded before child get ready (%s); stderr:\n%s", stableWait, c.stderr)
	}
	c.mu.Lock()
	c.cmd, c.stdin, c.waiting, c.exited = cmd, stdin, map[uint64]chan workerAnswer{}, make(chan struct{})
	exited := c.exited
	c.mu.Unlock()
	go c.read(r, exited)
}

// read dispatches answers by id; at stdout's end it fails what is in
// flight, as the worker does.
func (c *damoclesChild) read(r *bufio.Reader, exited chan struct{}) {
	defer close(exited)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var resp struct {
				ID     uint64          `json:"id"`
				ErrMsg *string         `json:"err_msg"`
				Output json.RawMessage `json:"output"`
			}
			if e := json.Unmarshal(line, &resp); e != nil {
				c.t.Errorf("%s: answer %q is not a response: %v", c.stage, line, e)
				continue
			}
			a := workerAnswer{out: resp.Output}
			if resp.ErrMsg != nil {
				a = workerAnswer{err: errors.New(*resp.ErrMsg)}
			} else if len(resp.Output) == 0 || string(resp.Output) == "null" {
				a = workerAnswer{err: errors.New("output field lost")}
			}
			c.mu.Lock()
			ch, ok := c.waiting[resp.ID]
			delete(c.waiting, resp.ID)
			c.answers = append(c.answers, resp.ID)
			c.mu.Unlock()
			if !ok {
				c.t.Errorf("%s: answer for id %d, which is not in flight", c.stage, resp.ID)
				continue
			}
			ch <- a
		}
		if err != nil {
			break
		}
	}
	c.cmd.Wait()
	c.mu.Lock()
	for id, ch := range c.waiting {
		ch <- workerAnswer{err: fmt.Errorf("child process exited: %s", c.stage)}
		delete(c.waiting, id)
	}
	c.mu.Unlock()
}

// send writes one request line and returns where its answer comes.
func (c *damoclesChild) send(task string) (uint64, chan workerAnswer) {
	id := c.ids.Add(1)
	return id, c.sendLine(id, fmt.Sprintf(`{"id":%d,"task":%s}`, id, task))
}

// sendLine writes a raw line; id, when not 0, is awaited.
func (c *damoclesChild) sendLine(id uint64, line string) chan workerAnswer {
	ch := make(chan workerAnswer, 1)
	c.mu.Lock()
	if id != 0 {
		c.waiting[id] = ch
	}
	stdin := c.stdin
	c.mu.Unlock()
	if _, err := io.WriteString(stdin, line+"\n"); err != nil {
		c.t.Errorf("%s: writing a request: %v", c.stage, err)
	}
	return ch
}

// call sends a task and waits for its answer (the worker waits forever;
// the test gives up after a minute so a hang is a failure, not a stall).
func (c *damoclesChild) call(task string) (json.RawMessage, error) {
	_, ch := c.send(task)
	return c.wait(ch)
}

func (c *damoclesChild) wait(ch chan workerAnswer) (json.RawMessage, error) {
	select {
	case a := <-ch:
		return a.out, a.err
	case <-time.After(time.Minute):
		c.t.Fatalf("%s: no answer in a minute; child stderr:\n%s", c.stage, c.stderr)
		return nil, nil
	}
}

func (c *damoclesChild) kill() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// respawn is auto_restart (the worker sleeps 3 s first; so do we not).
func (c *damoclesChild) respawn() { c.start() }

func (c *damoclesChild) stop() {
	c.mu.Lock()
	stdin, exited := c.stdin, c.exited
	c.mu.Unlock()
	if stdin == nil {
		return
	}
	stdin.Close()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		c.kill()
	}
}

// serde's forms.
func serdeBytes(b []byte) string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(s, ",") + "]"
}

func serdeProverID(miner uint64) string {
	b := make([]byte, 32)
	n := 0
	for v := miner; ; n++ {
		b[n] = byte(v & 0x7f)
		if v >>= 7; v == 0 {
			break
		}
		b[n] |= 0x80
	}
	return serdeBytes(b)
}

// workerSector is one sector's files as damocles lays them out.
type workerSector struct {
	num                             uint64
	staged, sealed, cache, prepared string
	ticket, seed                    []byte
	zeroComm                        []byte
}

func newWorkerSector(t *testing.T, root string, num uint64) workerSector {
	name := fmt.Sprintf("s-t01000-%d", num)
	s := workerSector{num: num, staged: filepath.Join(root, "unsealed", name), sealed: filepath.Join(root, "sealed", name),
		cache: filepath.Join(root, "cache", name), prepared: filepath.Join(root, "prepared", name)}
	for _, d := range []string{s.cache, s.prepared, filepath.Dir(s.staged), filepath.Dir(s.sealed)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.staged, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.sealed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.ticket, s.seed = bytes.Repeat([]byte{byte(num)}, 32), bytes.Repeat([]byte{byte(num + 100)}, 32)
	c, err := cid.Decode(seal.ZeroPieceCID(2048))
	if err != nil {
		t.Fatal(err)
	}
	s.zeroComm, err = commcid.CIDToPieceCommitmentV1(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s workerSector) treeDTask() string {
	return fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1_1","staged_file":%q,"cache_dir":%q}`, s.staged, s.prepared)
}

func (s workerSector) pc1Task() string {
	return fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1_1","cache_path":%q,"in_path":%q,"out_path":%q,"prover_id":%s,"sector_id":%d,"ticket":%s,"piece_infos":[{"commitment":%s,"size":2032}]}`,
		s.cache, s.staged, s.sealed, serdeProverID(1000), s.num, serdeBytes(s.ticket), serdeBytes(s.zeroComm))
}

// pc2 runs a pc2 as a damocles-worker with the #837 fix does: the
// .pc2_running marker, and the staged file copied over the sealed one
// when the marker shows an earlier pc2.
func (s workerSector) pc2(t *testing.T, c *damoclesChild, pc1out json.RawMessage) (json.RawMessage, error) {
	marker := filepath.Join(s.cache, ".pc2_running")
	if _, err := os.Stat(marker); err == nil {
		b, _ := os.ReadFile(s.staged)
		os.WriteFile(s.sealed, b, 0o644)
	} else if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.call(fmt.Sprintf(`{"pc1out":%s,"cache_dir":%q,"sealed_file":%q}`, pc1out, s.cache, s.sealed))
	if err == nil {
		os.Remove(marker)
	}
	return out, err
}

// c1 runs in the worker itself; here straight through the task API.
func (s workerSector) c1(t *testing.T, c *client.Client, pc2out json.RawMessage) (json.RawMessage, error) {
	var o struct {
		CommR []byte `json:"-"`
		R     []int  `json:"comm_r"`
		D     []int  `json:"comm_d"`
	}
	if err := json.Unmarshal(pc2out, &o); err != nil || len(o.R) != 32 || len(o.D) != 32 {
		t.Fatalf("pc2 output %s: %v", pc2out, err)
	}
	toBytes := func(v []int) []byte {
		b := make([]byte, len(v))
		for i, x := range v {
			b[i] = byte(x)
		}
		return b
	}
	r, _ := commcid.ReplicaCommitmentV1ToCID(toBytes(o.R))
	d, _ := commcid.DataCommitmentV1ToCID(toBytes(o.D))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := c.C1(ctx, &sealv1.C1Request{Sector: &sealv1.Sector{RegisteredSealProof: 5, MinerId: 1000, SectorNumber: s.num},
		SealedCid: r.String(), UnsealedCid: d.String(), CachePath: s.cache, SealedPath: s.sealed, Ticket: s.ticket, Seed: s.seed,
		Pieces: []*sealv1.PieceInfo{{Size: 2048, PieceCid: seal.ZeroPieceCID(2048)}}})
	if err != nil {
		return nil, err
	}
	return resp.GetPhase1Output(), nil
}

func (s workerSector) c2Task(c1out json.RawMessage) string {
	return fmt.Sprintf(`{"c1out":%s,"prover_id":%s,"sector_id":%d,"miner_id":1000}`, c1out, serdeProverID(1000), s.num)
}

// statusWatch polls the host's status and keeps the extremes the test
// asserts on.
type statusWatch struct {
	mu                    sync.Mutex
	maxPC1Running, maxGPU int
	maxPC1Waiting         int
	last                  *taskv1.StatusResponse
}

func watchStatus(ctx context.Context, c *client.Client) *statusWatch {
	w := &statusWatch{}
	go func() {
		for ctx.Err() == nil {
			st, err := c.Status(ctx)
			if err == nil {
				w.mu.Lock()
				w.last = st
				for _, s := range st.GetStages() {
					if s.GetStage() == sealv1.Stage_STAGE_PC1 {
						w.maxPC1Running = max(w.maxPC1Running, int(s.GetRunning()))
						w.maxPC1Waiting = max(w.maxPC1Waiting, int(s.GetWaiting()))
					}
				}
				for _, l := range st.GetLocks() {
					if l.GetName() == "gpu" {
						w.maxGPU = max(w.maxGPU, len(l.GetHolders()))
					}
				}
				w.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return w
}

// TestProcessorUnderDamocles seals 8 sectors through `host processor` on
// the mock, as damocles-worker drives it, with a garbage line and an
// unparsable request among the tasks; then kills and respawns a child
// mid-task, closes one's stdin mid-task, and kills the host mid-task.
func TestProcessorUnderDamocles(t *testing.T) {
	name := fmt.Sprintf("hosttest-damocles-%d", os.Getpid())
	cfg := fmt.Sprintf(`sector_size = "2KiB"
plugin "mock" {
  path = %q
  args = ["-duration", "tree_d=150ms,pc1=300ms,pc2=200ms,c1=20ms,c2=200ms"]
}
limits {
  pc1 = 2
}
lock "gpu" {
  capacity = 1
}
processor "tree_d" {
  plugin     = "mock"
  concurrent = 8
}
processor "pc1" {
  plugin     = "mock"
  concurrent = 8
}
processor "pc2" {
  plugin     = "mock"
  concurrent = 4
  locks      = ["gpu"]
}
processor "c1" {
  plugin     = "mock"
  concurrent = 8
}
processor "c2" {
  plugin     = "mock"
  concurrent = 4
  locks      = ["gpu"]
}
`, runTestMock)
	hostCmd, socket, hostErr := runTestStartHostConfig(t, name, cfg)
	env := []string{"SEALHOST_SOCKET=" + socket, "VC_CG_NAME=damocles/sub-pc2-1-0", "VC_CG_CPUSET=0-1", "VENUS_WORKER_NUMA_PREFERRED=0"}
	children := map[string]*damoclesChild{}
	for _, stage := range []string{"tree_d", "pc1", "pc2", "c2"} {
		children[stage] = spawnDamoclesChild(t, stage, env)
	}
	api, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := watchStatus(ctx, api)

	root := t.TempDir()
	sectors := make([]workerSector, 8)
	for i := range sectors {
		sectors[i] = newWorkerSector(t, root, uint64(i+1))
	}

	// tree_d for all 8 at once, a garbage line and an unparsable request
	// (its id readable) among them.
	td := children["tree_d"]
	var pending []chan workerAnswer
	for i, s := range sectors {
		_, ch := td.send(s.treeDTask())
		pending = append(pending, ch)
		if i == 3 {
			td.sendLine(0, `this line is not JSON`)
			id := td.ids.Add(1)
			bad := td.sendLine(id, fmt.Sprintf(`{"id":%d,"task":{"registered_proof":"StackedDrg2KiBV1_1","staged_file":`, id))
			if _, err := td.wait(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("request %d cannot be read", id)) {
				t.Errorf("unparsable request %d: %v, want its own error", id, err)
			}
		}
	}
	for i, ch := range pending {
		if out, err := td.wait(ch); err != nil || string(out) != "true" {
			t.Fatalf("tree_d of sector %d: %s, %v", i+1, out, err)
		}
	}

	// The rest of the pipeline, 8 sectors concurrently.
	proofs := make([]int, len(sectors))
	var wg sync.WaitGroup
	for i, s := range sectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc1out, err := children["pc1"].call(s.pc1Task())
			if err != nil {
				t.Errorf("pc1 of sector %d: %v", s.num, err)
				return
			}
			pc2out, err := s.pc2(t, children["pc2"], pc1out)
			if err != nil {
				t.Errorf("pc2 of sector %d: %v", s.num, err)
				return
			}
			c1out, err := s.c1(t, api, pc2out)
			if err != nil {
				t.Errorf("c1 of sector %d: %v", s.num, err)
				return
			}
			c2out, err := children["c2"].call(s.c2Task(c1out))
			if err != nil {
				t.Errorf("c2 of sector %d: %v", s.num, err)
				return
			}
			var p struct{ Proof []int }
			if err := json.Unmarshal(c2out, &p); err != nil {
				t.Errorf("c2 output of sector %d: %s: %v", s.num, c2out, err)
			}
			proofs[i] = len(p.Proof)
		}()
	}
	// What `host status` shows while they run.
	time.Sleep(200 * time.Millisecond)
	shown, err := exec.Command(runTestHostBinary(t), "status", "-socket", socket).CombinedOutput()
	if err != nil || !strings.Contains(string(shown), "gpu") {
		t.Errorf("host status: %v\n%s", err, shown)
	}
	t.Logf("host status during the run:\n%s", shown)
	wg.Wait()
	for i, n := range proofs {
		if n != 192 {
			t.Errorf("sector %d: proof of %d bytes, want 192 (one 2KiB partition)", i+1, n)
		}
	}

	// Answers came out of order: the unparsable request (id 5) was
	// answered before tree_d tasks sent before it.
	td.mu.Lock()
	order := append([]uint64(nil), td.answers...)
	td.mu.Unlock()
	if sorted(order) {
		t.Errorf("tree_d answers came in id order %v; the unparsable one should overtake the running ones", order)
	}
	watch.mu.Lock()
	if watch.maxPC1Running > 2 || watch.maxPC1Waiting == 0 {
		t.Errorf("pc1 ran %d at once (limit 2), %d waited at most: the host's limit did not apply", watch.maxPC1Running, watch.maxPC1Waiting)
	}
	if watch.maxGPU != 1 {
		t.Errorf("lock gpu had %d holders at most, want 1 (capacity 1, pc2 and c2 sharing it)", watch.maxGPU)
	}
	watch.mu.Unlock()
	st, err := api.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range st.GetLocks() {
		if l.GetName() == "gpu" && (l.GetShare()["pc2"] == 0 || l.GetShare()["c2"] == 0) {
			t.Errorf("lock gpu shares %v: pc2 and c2 should both have held it", l.GetShare())
		}
	}
	for stage, c := range children {
		log := c.stderr.String()
		for _, w := range []string{"ignoring VC_CG_NAME=damocles/sub-pc2-1-0", "ignoring VC_CG_CPUSET=0-1", "ignoring VENUS_WORKER_NUMA_PREFERRED=0"} {
			if !strings.Contains(log, w) {
				t.Errorf("%s child log lacks %q", stage, w)
			}
		}
	}
	if !strings.Contains(td.stderr.String(), "skipped, no id to answer") {
		t.Errorf("the garbage line was not logged:\n%s", td.stderr)
	}

	// Kill the pc2 child mid-task: the worker fails it, respawns, and the
	// retry (ids going on) seals; the host freed the killed call's slot.
	pc2 := children["pc2"]
	s := sectors[0]
	os.WriteFile(filepath.Join(s.cache, ".pc2_running"), nil, 0o644) // as the worker does before its pc2
	pc1out, err := children["pc1"].call(s.pc1Task())
	if err != nil {
		t.Fatal(err)
	}
	before := pc2.ids.Load()
	_, ch := pc2.send(fmt.Sprintf(`{"pc1out":%s,"cache_dir":%q,"sealed_file":%q}`, pc1out, s.cache, s.sealed))
	waitRunning(t, api, sealv1.Stage_STAGE_PC2, 1)
	pc2.kill()
	if _, err := pc2.wait(ch); err == nil || err.Error() != "child process exited: pc2" {
		t.Errorf("in-flight pc2 after the kill: %v", err)
	}
	waitRunning(t, api, sealv1.Stage_STAGE_PC2, 0)
	pc2.respawn()
	if _, err := s.pc2(t, pc2, pc1out); err != nil {
		t.Errorf("pc2 retry after the respawn: %v", err)
	}
	if pc2.ids.Load() <= before+1 {
		t.Errorf("ids did not go on across the respawn")
	}

	// The same crash under a damocles-worker without the #837 fix (no
	// .pc2_running): the adapter's own marker outlives the killed child,
	// and the retry is refused with the manual fix instead of sealing over
	// a half-encoded sealed file; after the fix it seals.
	old := sectors[1]
	oldOut, err := children["pc1"].call(old.pc1Task())
	if err != nil {
		t.Fatal(err)
	}
	pc2Task := fmt.Sprintf(`{"pc1out":%s,"cache_dir":%q,"sealed_file":%q}`, oldOut, old.cache, old.sealed)
	_, ch = pc2.send(pc2Task)
	waitRunning(t, api, sealv1.Stage_STAGE_PC2, 1)
	pc2.kill()
	pc2.wait(ch)
	waitRunning(t, api, sealv1.Stage_STAGE_PC2, 0)
	pc2.respawn()
	if _, err := pc2.call(pc2Task); err == nil || !strings.Contains(err.Error(), "did not finish") || !strings.Contains(err.Error(), "copy the sector's staged file over "+old.sealed) {
		t.Errorf("pc2 retry after a crash, old worker: %v; want it refused with the fix", err)
	}
	os.Remove(filepath.Join(old.cache, ".sealhost-pc2-started")) // the operator's fix, as the message says
	if _, err := pc2.call(pc2Task); err != nil {
		t.Errorf("pc2 after the manual fix: %v", err)
	}

	// stdin's end with a task in flight: the child exits, the host's
	// slot is freed.
	c2 := children["c2"]
	c1out, err := s.c1(t, api, mustPC2(t, s, pc2, pc1out))
	if err != nil {
		t.Fatal(err)
	}
	_, ch = c2.send(s.c2Task(c1out))
	waitRunning(t, api, sealv1.Stage_STAGE_C2, 1)
	c2.mu.Lock()
	c2.stdin.Close()
	exited := c2.exited
	c2.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the c2 child did not exit at stdin's end")
	}
	if _, err := c2.wait(ch); err == nil {
		t.Error("the c2 task in flight at stdin's end answered success")
	}
	waitRunning(t, api, sealv1.Stage_STAGE_C2, 0)
	c2.respawn()

	// The host goes away mid-task: the task is answered, retryable; so is
	// every task after it.
	_, ch = c2.send(s.c2Task(c1out))
	waitRunning(t, api, sealv1.Stage_STAGE_C2, 1)
	hostCmd.Process.Signal(syscall.SIGKILL)
	hostCmd.Wait()
	if _, err := c2.wait(ch); err == nil || !strings.Contains(err.Error(), "went away during the task") || !strings.Contains(err.Error(), "retryable") {
		t.Errorf("c2 in flight when the host died: %v", err)
	}
	if _, err := c2.call(s.c2Task(c1out)); err == nil || !strings.Contains(err.Error(), "no sealhost host answers on "+socket) || !strings.Contains(err.Error(), "retryable") {
		t.Errorf("c2 with no host: %v", err)
	}
	if t.Failed() {
		t.Logf("host stderr:\n%s", hostErr)
	}
}

func mustPC2(t *testing.T, s workerSector, c *damoclesChild, pc1out json.RawMessage) json.RawMessage {
	out, err := s.pc2(t, c, pc1out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sorted(ids []uint64) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i] < ids[i-1] {
			return false
		}
	}
	return true
}

// waitRunning waits until n tasks of stage hold a processor.
func waitRunning(t *testing.T, c *client.Client, stage sealv1.Stage, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil {
			for _, s := range st.GetStages() {
				if s.GetStage() == stage && int(s.GetRunning()) == n {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never had %d running: %v", stage, n, st.GetStages())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkProcessorNoop measures what `host processor` adds to a task: a
// no-op c2 (mock, 0 s) sent as damocles-worker sends it, through the
// adapter's pipes, JSON and its own task API call (ns/op), against the
// same c2 made straight through the task API (taskapi-ns/op), on one host,
// the two calls alternating so both see the same load. Report
// ns/op / taskapi-ns/op as the ratio.
func BenchmarkProcessorNoop(b *testing.B) {
	cfg := fmt.Sprintf(`sector_size = "2KiB"
plugin "mock" {
  path = %q
  args = ["-duration", "0s"]
}
processor "c2" {
  plugin = "mock"
}
`, runTestMock)
	_, socket, _ := runTestStartHostConfig(b, fmt.Sprintf("hostbench-damocles-%d", os.Getpid()), cfg)
	api, err := client.Dial(socket)
	if err != nil {
		b.Fatal(err)
	}
	defer api.Close()
	c1out := json.RawMessage(`{"registered_proof":"StackedDrg2KiBV1_1","vanilla_proofs":"fake","comm_r":"","comm_d":""}`)
	req := &sealv1.C2Request{Sector: &sealv1.Sector{RegisteredSealProof: 5, MinerId: 1000, SectorNumber: 1}, Phase1Output: c1out}
	child := spawnDamoclesChild(b, "c2", []string{"SEALHOST_SOCKET=" + socket})
	task := workerSector{num: 1}.c2Task(c1out)
	timed := func(call func() error) time.Duration {
		begin := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		return time.Since(begin)
	}
	direct := func() error { _, err := api.C2(context.Background(), req); return err }
	through := func() error { _, err := child.call(task); return err }
	for range 20 { // connections and buffers warm, off the clock
		timed(direct)
		timed(through)
	}
	b.ResetTimer()
	var dThrough, dDirect time.Duration
	for range b.N {
		dThrough += timed(through)
		dDirect += timed(direct)
	}
	n := float64(b.N)
	b.ReportMetric(float64(dThrough.Nanoseconds())/n, "ns/op")
	b.ReportMetric(float64(dDirect.Nanoseconds())/n, "taskapi-ns/op")
}

// TestProcessorHostHangs: a host that stops answering (SIGSTOP) while a
// task runs must not leave the worker waiting forever: the adapter's
// keepalive ping goes unanswered and the task is answered, retryable.
func TestProcessorHostHangs(t *testing.T) {
	cfg := fmt.Sprintf(`sector_size = "2KiB"
plugin "mock" {
  path = %q
  args = ["-duration", "5m"]
}
processor "c2" {
  plugin = "mock"
}
`, runTestMock)
	hostCmd, socket, _ := runTestStartHostConfig(t, fmt.Sprintf("hosttest-hang-%d", os.Getpid()), cfg)
	defer hostCmd.Process.Signal(syscall.SIGCONT)
	api, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	c := spawnDamoclesChild(t, "c2", []string{"SEALHOST_SOCKET=" + socket}, "-keepalive", "10s")
	s := workerSector{num: 1}
	_, ch := c.send(s.c2Task(json.RawMessage(`{"registered_proof":"StackedDrg2KiBV1_1"}`)))
	waitRunning(t, api, sealv1.Stage_STAGE_C2, 1)
	if err := hostCmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.wait(ch)
	if err == nil || !strings.Contains(err.Error(), "went away during the task") || !strings.Contains(err.Error(), "retryable") {
		t.Errorf("c2 on a stopped host: %v", err)
	}
	t.Logf("answered %s after the host stopped: %v", time.Since(start).Round(time.Second), err)
}
