// Command fakeproc is a damocles-protocol external processor with FAKE
// results, for testing plugins/damocles: it speaks the protocol as a
// damocles-worker child does (ready line, JSON lines, concurrent requests,
// exit on stdin EOF) for tree_d, pc1, pc2, c2, window_post, unseal,
// snap_encode, snap_prove, winning_post and add_pieces, and its knobs make
// it misbehave the ways real processors do. Nothing it produces proves
// anything, and it says so: every output object carries "_fake", every
// proof starts with the same note in ASCII, the new replica snap_encode
// writes is that note repeated, and it says so on stderr. (tree_d's tree
// and comm_d are real; add_pieces' commitments are real for zero pieces
// only, its other pieces are written unpadded.)
//
//	fakeproc [processor] STAGE
//
// Knobs (environment):
//
//	FAKEPROC_DELAY=dur          each request takes this long before its answer
//	FAKEPROC_DELAY_FOR=text     only requests whose task holds text are delayed
//	FAKEPROC_CRASH_AT=N         exit(3) on receiving this process's Nth request
//	FAKEPROC_FIRST_LINE=text    print text instead of the ready line
//	FAKEPROC_READY_DELAY=dur    wait before the ready line
//	FAKEPROC_GARBAGE=1          before each answer, write lines that answer nobody
//	FAKEPROC_CUT=1              answer with a line cut short after the id
//	FAKEPROC_ONCE=path          the first start creates path; later ones print a wrong first line
//	FAKEPROC_BATCH=N            hold answers until N requests are in, then answer newest first
//	FAKEPROC_ERR=text           answer every request with this err_msg
//	FAKEPROC_OUTPUT_SIZE=bytes  pad pc1 outputs to at least this size
//	FAKEPROC_SPIN=1             while delayed, burn a cpu
//	FAKEPROC_OUTPUT=json        answer every request with this output, whatever the stage
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealhost/sealhost/internal/damocles"
)

const fakeNote = "FAKE: produced by plugins/damocles/testdata/fakeproc, proves nothing"

type knobs struct {
	delay      time.Duration
	delayFor   string
	cut        bool
	once       string
	crashAt    int
	firstLine  *string
	readyDelay time.Duration
	garbage    bool
	batch      int
	errMsg     *string
	outputSize int
	spin       bool
	output     json.RawMessage
}

func readKnobs() (knobs, error) {
	var k knobs
	var errs []error
	dur := func(name string, d *time.Duration) {
		if v := os.Getenv(name); v != "" {
			var err error
			if *d, err = time.ParseDuration(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
			}
		}
	}
	num := func(name string, n *int) {
		if v := os.Getenv(name); v != "" {
			var err error
			if *n, err = strconv.Atoi(v); err != nil || *n < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a count", name, v))
			}
		}
	}
	dur("FAKEPROC_DELAY", &k.delay)
	dur("FAKEPROC_READY_DELAY", &k.readyDelay)
	num("FAKEPROC_CRASH_AT", &k.crashAt)
	num("FAKEPROC_BATCH", &k.batch)
	num("FAKEPROC_OUTPUT_SIZE", &k.outputSize)
	if v, ok := os.LookupEnv("FAKEPROC_FIRST_LINE"); ok {
		k.firstLine = &v
	}
	if v, ok := os.LookupEnv("FAKEPROC_ERR"); ok {
		k.errMsg = &v
	}
	k.garbage = os.Getenv("FAKEPROC_GARBAGE") == "1"
	k.cut = os.Getenv("FAKEPROC_CUT") == "1"
	k.delayFor = os.Getenv("FAKEPROC_DELAY_FOR")
	k.once = os.Getenv("FAKEPROC_ONCE")
	k.spin = os.Getenv("FAKEPROC_SPIN") == "1"
	if v, ok := os.LookupEnv("FAKEPROC_OUTPUT"); ok {
		if !json.Valid([]byte(v)) {
			errs = append(errs, fmt.Errorf("FAKEPROC_OUTPUT=%q: not JSON", v))
		}
		k.output = json.RawMessage(v)
	}
	return k, errors.Join(errs...)
}

func main() {
	args := os.Args[1:]
	if len(args) == 2 && args[0] == "processor" {
		args = args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: fakeproc [processor] STAGE (a damocles stage but c1 and transfer)")
		os.Exit(2)
	}
	stage := args[0]
	work, ok := stages[stage]
	if !ok {
		fmt.Fprintf(os.Stderr, "fakeproc: no stage %q (%s)\n", stage, strings.Join(damocles.Stages, ", "))
		os.Exit(2)
	}
	k, err := readKnobs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeproc: %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "fakeproc: %s (pid %d, stage %s)\n", fakeNote, os.Getpid(), stage)
	p := &proc{k: k, work: work, out: bufio.NewWriter(os.Stdout)}
	time.Sleep(k.readyDelay)
	if k.once != "" {
		if f, err := os.OpenFile(k.once, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err != nil {
			msg := "fakeproc: started before (FAKEPROC_ONCE)"
			k.firstLine = &msg
		} else {
			f.Close()
		}
	}
	if k.firstLine != nil {
		p.writeRaw(*k.firstLine + "\n")
	} else {
		p.writeRaw(damocles.ReadyLine(stage) + "\n")
	}
	p.serve(os.Stdin)
}

type proc struct {
	k    knobs
	work func(task json.RawMessage, k knobs) (any, error)

	mu   sync.Mutex
	out  *bufio.Writer
	n    int                 // requests received
	held []damocles.Response // FAKEPROC_BATCH
	wg   sync.WaitGroup
}

func (p *proc) writeRaw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.WriteString(s)
	p.out.Flush()
}

func (p *proc) serve(in io.Reader) {
	lr := damocles.NewLineReader(in, damocles.MaxLine)
	for {
		line, err := lr.ReadLine()
		if errors.Is(err, damocles.ErrLineTooLong) {
			fmt.Fprintf(os.Stderr, "fakeproc: skipping a request line over %d bytes\n", damocles.MaxLine)
			continue
		}
		if err != nil {
			break
		}
		req, idOK, err := damocles.DecodeRequest(line)
		if err != nil {
			if idOK {
				p.answer(damocles.Failure(req.ID, "%v", err))
			} else {
				fmt.Fprintf(os.Stderr, "fakeproc: skipping an unreadable line: %v\n", err)
			}
			continue
		}
		p.mu.Lock()
		p.n++
		n := p.n
		p.mu.Unlock()
		if p.k.crashAt > 0 && n == p.k.crashAt {
			fmt.Fprintf(os.Stderr, "fakeproc: crashing on request %d (id %d), as FAKEPROC_CRASH_AT=%d asks\n", n, req.ID, p.k.crashAt)
			os.Exit(3)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.answer(p.handle(req))
		}()
	}
	// stdin EOF: damocles' children end here. Requests in flight still
	// get their answers, as far as anyone reads them.
	p.wg.Wait()
	p.mu.Lock()
	p.flushHeld()
	p.mu.Unlock()
}

func (p *proc) handle(req damocles.Request) damocles.Response {
	if p.k.delay > 0 && bytes.Contains(req.Task, []byte(p.k.delayFor)) {
		end := time.Now().Add(p.k.delay)
		for time.Now().Before(end) {
			if !p.k.spin {
				time.Sleep(time.Until(end))
			}
		}
	}
	if p.k.errMsg != nil {
		return damocles.Failure(req.ID, "%s", *p.k.errMsg)
	}
	if p.k.output != nil {
		return damocles.OK(req.ID, p.k.output)
	}
	out, err := p.work(req.Task, p.k)
	if err != nil {
		return damocles.Failure(req.ID, "%v", err)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return damocles.Failure(req.ID, "encoding the output: %v", err)
	}
	return damocles.OK(req.ID, raw)
}

func (p *proc) answer(r damocles.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.k.batch > 1 {
		p.held = append(p.held, r)
		if len(p.held) < p.k.batch {
			return
		}
		p.flushHeld()
		return
	}
	p.write(r)
}

// flushHeld answers the held responses newest first. Called with mu held.
func (p *proc) flushHeld() {
	for i := len(p.held) - 1; i >= 0; i-- {
		p.write(p.held[i])
	}
	p.held = nil
}

// write sends one response (and, with FAKEPROC_GARBAGE, lines that are
// none). Called with mu held.
func (p *proc) write(r damocles.Response) {
	if p.k.garbage {
		for _, g := range []string{
			"fakeproc: a log line printed to stdout by mistake",
			`{"id":"seven","err_msg":null,"output":true}`,
			`{"no_id":1}`,
			`[1,2,3]`,
			`{"id":18446744073709551615,"err_msg":null,"output":true}`,
			"",
			`{"id":` + strconv.FormatUint(r.ID+1<<40, 10) + `,"err_msg":null,"output":`, // cut short, for no request
		} {
			p.out.WriteString(g + "\n")
		}
	}
	if p.k.cut {
		p.out.WriteString(`{"id":` + strconv.FormatUint(r.ID, 10) + `,"err_msg":nu` + "\n")
		p.out.Flush()
		return
	}
	line, err := damocles.EncodeResponse(r)
	if err != nil {
		msg := err.Error()
		line, _ = damocles.EncodeResponse(damocles.Response{ID: r.ID, ErrMsg: &msg})
	}
	p.out.Write(line)
	p.out.Flush()
}

var stages = map[string]func(json.RawMessage, knobs) (any, error){
	"tree_d": treeD,
	"pc1":    pc1,
	"pc2":    pc2,
	"c2":     c2,

	"window_post": windowPoSt,
	"unseal":      unseal,

	"snap_encode":  snapEncode,
	"snap_prove":   snapProve,
	"winning_post": winningPoSt,
	"add_pieces":   addPieces,
}

// treeDFile is where damocles (and lotus) read comm_d from: the last 32
// bytes of the tree.
const treeDFile = "sc-02-data-tree-d.dat"

func checkDir(field, p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s is not a directory", field, p)
	}
	return nil
}

func checkFile(field, p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s %s is a directory, want a file", field, p)
	}
	return nil
}

// digest is a fake commitment: SHA-256 of its parts with the top two bits
// cleared, a BLS12-381 scalar like every real one.
func digest(parts ...[]byte) damocles.Bytes32 {
	h := sha256.New()
	for _, p := range parts {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(p))))
		h.Write(p)
	}
	var d damocles.Bytes32
	copy(d[:], h.Sum(nil))
	d[31] &= 0x3f
	return d
}

// treeD builds the real data tree over the staged file, as rust-fil-proofs
// lays it out (the leaves, then each level, the root last; a node is
// SHA-256 of its children with the top two bits cleared), in memory: test
// sectors are small. So comm_d is the real one and agrees with the
// sector's pieces, as the host and the kit check.
func buildTreeD(staged string) ([]byte, error) {
	data, err := os.ReadFile(staged)
	if err != nil {
		return nil, err
	}
	if n := len(data); n < 64 || n&(n-1) != 0 || n > 64<<20 {
		return nil, fmt.Errorf("staged_file %s has %d bytes: fakeproc builds trees over a power of two from 64 bytes to 64 MiB", staged, n)
	}
	tree := append([]byte(nil), data...)
	for level := data; len(level) > 32; {
		next := make([]byte, 0, len(level)/2)
		for i := 0; i < len(level); i += 64 {
			sum := sha256.Sum256(level[i : i+64])
			sum[31] &= 0x3f
			next = append(next, sum[:]...)
		}
		tree = append(tree, next...)
		level = next
	}
	return tree, nil
}

func treeD(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.TreeDTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("tree_d task: %v", err)
	}
	if err := errors.Join(checkDir("cache_dir", t.CacheDir), checkFile("staged_file", t.StagedFile)); err != nil {
		return nil, err
	}
	tree, err := buildTreeD(t.StagedFile)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(t.CacheDir, treeDFile), tree, 0o644); err != nil {
		return nil, err
	}
	return true, nil
}

// sectorSize is the sector size of a proof's name, by its size part.
func sectorSize(p damocles.SealProof) uint64 {
	name := p.String()
	for _, s := range []struct {
		name string
		size uint64
	}{{"2KiB", 2 << 10}, {"8MiB", 8 << 20}, {"512MiB", 512 << 20}, {"32GiB", 32 << 30}, {"64GiB", 64 << 30}} {
		if strings.Contains(name, s.name) {
			return s.size
		}
	}
	return 0
}

type storeConfig struct {
	Path          string  `json:"path"`
	ID            string  `json:"id"`
	Size          *uint64 `json:"size"`
	RowsToDiscard int     `json:"rows_to_discard"`
}

func pc1(raw json.RawMessage, k knobs) (any, error) {
	var t damocles.PC1Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("pc1 task: %v", err)
	}
	if err := errors.Join(checkDir("cache_path", t.CachePath), checkFile("in_path", t.InPath), checkFile("out_path", t.OutPath)); err != nil {
		return nil, err
	}
	var sum uint64
	for _, p := range t.PieceInfos {
		sum += p.Size
	}
	if size := sectorSize(t.RegisteredProof); sum != size/128*127 {
		return nil, fmt.Errorf("pieces add up to %d unpadded bytes, want %d for %v", sum, size/128*127, t.RegisteredProof)
	}
	// comm_d as tree_d left it in the cache, else from the staged file.
	tree, err := os.ReadFile(filepath.Join(t.CachePath, treeDFile))
	if err != nil || len(tree) < 32 {
		if tree, err = buildTreeD(t.InPath); err != nil {
			return nil, err
		}
	}
	var d damocles.Bytes32
	copy(d[:], tree[len(tree)-32:])
	nodes := sectorSize(t.RegisteredProof) / 32
	out := map[string]any{
		"_fake":            fakeNote,
		"registered_proof": t.RegisteredProof,
		"labels":           map[string]any{"StackedDrg2KiBV1": map[string]any{"labels": []storeConfig{}, "_h": nil}},
		"config":           storeConfig{Path: t.CachePath, ID: "tree-d", Size: &nodes},
		"comm_d":           d,
		"_replica":         digest([]byte("replica_id"), t.ProverID[:], binary.LittleEndian.AppendUint64(nil, t.SectorID), t.Ticket[:], d[:]),
	}
	if k.outputSize > 0 {
		out["_padding"] = strings.Repeat(".", k.outputSize)
	}
	return out, nil
}

func pc2(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.PC2Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("pc2 task: %v", err)
	}
	if err := errors.Join(checkDir("cache_dir", t.CacheDir), checkFile("sealed_file", t.SealedFile)); err != nil {
		return nil, err
	}
	var in struct {
		RegisteredProof damocles.SealProof `json:"registered_proof"`
		CommD           damocles.Bytes32   `json:"comm_d"`
	}
	if err := json.Unmarshal(t.PC1Out, &in); err != nil {
		return nil, fmt.Errorf("pc1out: want registered_proof and a 32-byte comm_d: %v", err)
	}
	r := digest([]byte("comm_r"), in.CommD[:], bytes.TrimSpace(t.PC1Out))
	return faked(damocles.PC2Output{RegisteredProof: in.RegisteredProof, CommR: r, CommD: in.CommD})
}

func c2(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.C2Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("c2 task: %v", err)
	}
	if m, err := damocles.MinerOf(t.ProverID); err != nil || m != t.MinerID {
		return nil, fmt.Errorf("prover_id is not miner %d's (%v)", t.MinerID, err)
	}
	var in struct {
		RegisteredProof damocles.SealProof `json:"registered_proof"`
	}
	if err := json.Unmarshal(t.C1Out, &in); err != nil {
		return nil, fmt.Errorf("c1out: %v", err)
	}
	partitions := 1
	if sectorSize(in.RegisteredProof) >= 32<<30 {
		partitions = 10
	}
	seed := digest([]byte("proof"), binary.LittleEndian.AppendUint64(nil, t.SectorID), binary.LittleEndian.AppendUint64(nil, t.MinerID), t.C1Out)
	return faked(damocles.C2Output{Proof: fakeProof(seed, 192*partitions)})
}

// windowPoSt answers the sectors whose files are missing as faults, else
// one fake 192-byte proof.
func windowPoSt(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.WindowPoStTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("window_post task: %v", err)
	}
	out := damocles.WindowPoStOutput{Proofs: [][]byte{}, Faults: []uint64{}}
	seed := []byte("window_post")
	for _, r := range t.Replicas {
		if checkDir("cache_dir", r.CacheDir) != nil || checkFile("sealed_file", r.SealedFile) != nil {
			out.Faults = append(out.Faults, r.SectorID)
		}
		seed = append(seed, r.CommR[:]...)
	}
	if len(out.Faults) == 0 {
		out.Proofs = append(out.Proofs, fakeProof(digest(seed, t.Seed[:]), 192))
	}
	return faked(out)
}

// unseal writes num_bytes zeros to unsealed_output (a CC sector's data).
func unseal(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.UnsealTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("unseal task: %v", err)
	}
	if err := checkDir("cache_dir", t.CacheDir); err != nil {
		return nil, err
	}
	if err := checkFile("sealed_file", t.SealedFile); err != nil {
		return nil, err
	}
	if size := sectorSize(t.RegisteredProof); size == 0 || t.NumBytes == 0 || t.Offset+t.NumBytes > size-size/128 {
		return nil, fmt.Errorf("range %d+%d is not inside the sector", t.Offset, t.NumBytes)
	}
	if err := os.WriteFile(t.UnsealedOutput, make([]byte, t.NumBytes), 0o644); err != nil {
		return nil, err
	}
	return t.NumBytes, nil
}
