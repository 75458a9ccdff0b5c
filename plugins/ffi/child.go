package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/hashicorp/go-hclog"
	"github.com/ipfs/go-cid"
)

// childArg is the hidden first argument that makes the plugin binary run one
// filecoin-ffi call instead of serving gRPC (as Curio's ffiselect does).
const childArg = "__sealhost-ffi-call"

// childSealer runs every filecoin-ffi call in a fresh child process of the
// plugin's own binary, so that:
//   - cancelling a call (the task's ctx, the host's timeout) kills that
//     call's child only, not the other calls the plugin is serving;
//   - a Rust panic or abort ends one task with an error naming the signal and
//     the child's last stderr lines, instead of the whole plugin;
//   - the memory rust-fil-proofs allocated returns to the OS after each call.
//
// The child inherits the plugin's cgroup (a fork stays in its parent's
// cgroup), environment and TMPDIR, so it is confined exactly as the
// processor is. Requests and results cross in files of a per-call folder
// under TMPDIR (the processor's own, removed with its cgroup): a C1 output of
// tens of MB is written once by the child and read once by the parent, not
// copied through pipes.
type childSealer struct {
	// exe is the binary to run with childArg: the plugin itself.
	exe string
	// grace is how long a killed child's stderr may still drain.
	grace time.Duration
	log   hclog.Logger
}

func newChildSealer(log hclog.Logger) (*childSealer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the plugin's own binary to run filecoin-ffi calls in child processes: %w", err)
	}
	return &childSealer{exe: exe, grace: 2 * time.Second, log: log}, nil
}

// callRequest is one call, as the parent writes it to req.json. Byte
// strings of unbounded size (phase-1 outputs) go in in.bin instead.
type callRequest struct {
	Op       string      `json:"op"`
	Proof    int64       `json:"proof,omitempty"`
	CacheDir string      `json:"cache_dir,omitempty"`
	Staged   string      `json:"staged,omitempty"`
	Sealed   string      `json:"sealed,omitempty"`
	Sector   uint64      `json:"sector,omitempty"`
	Miner    uint64      `json:"miner,omitempty"`
	Ticket   []byte      `json:"ticket,omitempty"`
	Seed     []byte      `json:"seed,omitempty"`
	Pieces   []callPiece `json:"pieces,omitempty"`
	CommR    string      `json:"comm_r,omitempty"`
	CommD    string      `json:"comm_d,omitempty"`
	Proofs   []byte      `json:"proof_bytes,omitempty"`

	// Snap updates: the sector key is the sealed CC sector (Sealed and
	// CacheDir above are the new replica and its cache); CommROld is the
	// key's comm_r, CommR and CommD the new replica's.
	UpdateProof    int64  `json:"update_proof,omitempty"`
	SectorKey      string `json:"sector_key,omitempty"`
	SectorKeyCache string `json:"sector_key_cache,omitempty"`
	CommROld       string `json:"comm_r_old,omitempty"`
	// PoSt: the sectors to prove (or, to verify, the challenged ones).
	PoStSectors []callPoStSector `json:"post_sectors,omitempty"`
	Randomness  []byte           `json:"randomness,omitempty"`
	PoStProofs  []callPoStProof  `json:"post_proofs,omitempty"`
	// Unseal writes [Offset, Offset+Size) of the data to Out; add_piece
	// appends Piece (PieceSize unpadded bytes) to Staged after Existing.
	Out       string   `json:"out,omitempty"`
	Offset    uint64   `json:"offset,omitempty"`
	Size      uint64   `json:"size,omitempty"`
	Piece     string   `json:"piece,omitempty"`
	PieceSize uint64   `json:"piece_size,omitempty"`
	Existing  []uint64 `json:"existing,omitempty"`
}

type callPoStSector struct {
	SealProof int64  `json:"seal_proof"`
	PoStProof int64  `json:"post_proof"`
	Number    uint64 `json:"number"`
	SealedCID string `json:"sealed_cid"`
	CacheDir  string `json:"cache_dir,omitempty"`
	Sealed    string `json:"sealed,omitempty"`
}

type callPoStProof struct {
	Type  int64  `json:"type"`
	Proof []byte `json:"proof"`
}

type callPiece struct {
	Size uint64 `json:"size"`
	CID  string `json:"cid"`
}

// callResult is what the child writes to result.json; an unbounded output
// goes to out.bin.
type callResult struct {
	// Error is filecoin-ffi's own error: the call ran and failed.
	Error    string   `json:"error,omitempty"`
	CommR    string   `json:"comm_r,omitempty"`
	CommD    string   `json:"comm_d,omitempty"`
	Verified bool     `json:"verified,omitempty"`
	GPUs     []string `json:"gpus,omitempty"`

	PieceCID   string          `json:"piece_cid,omitempty"`
	Left       uint64          `json:"left,omitempty"`
	Total      uint64          `json:"total,omitempty"`
	PoStProofs []callPoStProof `json:"post_proofs,omitempty"`
	Faults     []uint64        `json:"faults,omitempty"`
	// FaultError is filecoin-ffi's error that came with Faults.
	FaultError string `json:"fault_error,omitempty"`
}

const (
	reqFile    = "req.json"
	inFile     = "in.bin"
	resultFile = "result.json"
	outFile    = "out.bin"
)

// ChildError is a call whose child did not report a result: it was killed,
// crashed or could not start. It is not filecoin-ffi's verdict on the input,
// so a retry may succeed.
type ChildError struct {
	Op     string
	Pid    int
	Status string // "killed by signal SIGABRT", "exited with status 2", …
	Stderr string // the child's last stderr lines
}

func (e *ChildError) Error() string {
	msg := fmt.Sprintf("filecoin-ffi %s call (child process %d) %s before it reported a result", e.Op, e.Pid, e.Status)
	if e.Stderr != "" {
		msg += "; its last stderr lines: " + e.Stderr
	}
	return msg
}

// call runs req in a child and returns its result and out.bin's bytes.
func (c *childSealer) call(ctx context.Context, req callRequest, in []byte) (callResult, []byte, error) {
	if err := ctx.Err(); err != nil {
		return callResult{}, nil, err
	}
	dir, err := os.MkdirTemp("", "ffi-"+req.Op+"-")
	if err != nil {
		return callResult{}, nil, fmt.Errorf("making the %s call's folder in TMPDIR: %w", req.Op, err)
	}
	defer os.RemoveAll(dir)
	b, err := json.Marshal(req)
	if err != nil {
		return callResult{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, reqFile), b, 0o600); err != nil {
		return callResult{}, nil, err
	}
	if in != nil {
		if err := os.WriteFile(filepath.Join(dir, inFile), in, 0o600); err != nil {
			return callResult{}, nil, err
		}
	}

	cmd := exec.CommandContext(ctx, c.exe, childArg, dir)
	// The plugin's stdout is go-plugin's handshake channel: the child's
	// stdout (rust-fil-proofs may print) joins stderr, which the host logs.
	tail := &tailBuffer{max: 64 << 10} // a Go crash dump is a few KB
	cmd.Stdout = io.MultiWriter(os.Stderr, tail)
	cmd.Stderr = cmd.Stdout
	// A Rust abort inside the call is a SIGABRT the Go runtime turns into a
	// crash dump; GOTRACEBACK=none keeps it to the crashing goroutine, and
	// lastLines shows Rust's message from before it.
	cmd.Env = os.Environ()
	if os.Getenv("GOTRACEBACK") == "" {
		cmd.Env = append(cmd.Env, "GOTRACEBACK=none")
	}
	// The child must not outlive a plugin that was killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = c.grace
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		// Killed because the task ended: report that, not the signal.
		return callResult{}, nil, ctx.Err()
	}
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	var res callResult
	rb, rerr := os.ReadFile(filepath.Join(dir, resultFile))
	if err != nil || rerr != nil {
		return callResult{}, nil, &ChildError{Op: req.Op, Pid: pid, Status: exitStatus(cmd, err, rerr), Stderr: tail.lastLines(8)}
	}
	if err := json.Unmarshal(rb, &res); err != nil {
		return callResult{}, nil, &ChildError{Op: req.Op, Pid: pid, Status: "wrote an unreadable result: " + err.Error(), Stderr: tail.lastLines(8)}
	}
	if res.Error != "" {
		return res, nil, errors.New(res.Error)
	}
	out, err := os.ReadFile(filepath.Join(dir, outFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return callResult{}, nil, err
	}
	c.log.Debug("filecoin-ffi call done", "call", req.Op, "child", pid, "duration", time.Since(start), "output_bytes", len(out))
	return res, out, nil
}

func exitStatus(cmd *exec.Cmd, runErr, readErr error) string {
	var ee *exec.ExitError
	switch {
	case errors.As(runErr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig := ws.Signal()
			s := fmt.Sprintf("was killed by signal %d (%s)", int(sig), sig)
			if sig == syscall.SIGKILL {
				s += "; if no one sent it, the processor's memory limit (OOM killer) is the likely cause"
			}
			return s
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	case runErr != nil:
		return "could not run: " + runErr.Error()
	default:
		return "exited 0 without writing " + resultFile + ": " + readErr.Error()
	}
}

// tailBuffer keeps at least the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	// Trimmed only past twice the bound, so a chatty child (RUST_LOG=debug)
	// costs one copy per max bytes written, not one per line.
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// lastLines returns the last n lines joined with " | ". When the Go runtime
// crashed the child (a Rust abort arrives as SIGABRT), its register dump is
// dropped: the lines that matter are the ones before its "SIGABRT: abort".
func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if goCrash.MatchString(lines[i]) {
			lines = lines[:i+1]
			break
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, " | "))
}

var goCrash = regexp.MustCompile(`^SIG[A-Z]+: `)

func pieceList(pieces []abi.PieceInfo) []callPiece {
	out := make([]callPiece, len(pieces))
	for i, p := range pieces {
		out[i] = callPiece{Size: uint64(p.Size), CID: p.PieceCID.String()}
	}
	return out
}

func (c *childSealer) SealPreCommitPhase1(ctx context.Context, proof abi.RegisteredSealProof, cacheDir, staged, sealed string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, pieces []abi.PieceInfo) ([]byte, error) {
	_, out, err := c.call(ctx, callRequest{Op: "pc1", Proof: int64(proof), CacheDir: cacheDir, Staged: staged, Sealed: sealed,
		Sector: uint64(sector), Miner: uint64(miner), Ticket: ticket, Pieces: pieceList(pieces)}, nil)
	return out, err
}

func (c *childSealer) SealPreCommitPhase2(ctx context.Context, phase1Out []byte, cacheDir, sealed string) (cid.Cid, cid.Cid, error) {
	res, _, err := c.call(ctx, callRequest{Op: "pc2", CacheDir: cacheDir, Sealed: sealed}, phase1Out)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	commR, err := cid.Decode(res.CommR)
	if err != nil {
		return cid.Undef, cid.Undef, fmt.Errorf("pc2 child returned comm_r %q: %w", res.CommR, err)
	}
	commD, err := cid.Decode(res.CommD)
	if err != nil {
		return cid.Undef, cid.Undef, fmt.Errorf("pc2 child returned comm_d %q: %w", res.CommD, err)
	}
	return commR, commD, nil
}

func (c *childSealer) SealCommitPhase1(ctx context.Context, proof abi.RegisteredSealProof, commR, commD cid.Cid, cacheDir, sealed string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness,
	pieces []abi.PieceInfo) ([]byte, error) {
	_, out, err := c.call(ctx, callRequest{Op: "c1", Proof: int64(proof), CommR: commR.String(), CommD: commD.String(),
		CacheDir: cacheDir, Sealed: sealed, Sector: uint64(sector), Miner: uint64(miner), Ticket: ticket, Seed: seed,
		Pieces: pieceList(pieces)}, nil)
	return out, err
}

func (c *childSealer) SealCommitPhase2(ctx context.Context, phase1Out []byte, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error) {
	_, out, err := c.call(ctx, callRequest{Op: "c2", Sector: uint64(sector), Miner: uint64(miner)}, phase1Out)
	return out, err
}

func (c *childSealer) VerifySeal(ctx context.Context, info proof.SealVerifyInfo) (bool, error) {
	res, _, err := c.call(ctx, callRequest{Op: "verify", Proof: int64(info.SealProof), Sector: uint64(info.Number),
		Miner: uint64(info.Miner), Ticket: info.Randomness, Seed: info.InteractiveRandomness,
		CommR: info.SealedCID.String(), CommD: info.UnsealedCID.String(), Proofs: info.Proof}, nil)
	return res.Verified, err
}

func (c *childSealer) GPUDevices(ctx context.Context) ([]string, error) {
	res, _, err := c.call(ctx, callRequest{Op: "gpus"}, nil)
	return res.GPUs, err
}

var _ Prover = (*childSealer)(nil)

func (c *childSealer) AddPiece(ctx context.Context, proof abi.RegisteredSealProof, piecePath string, size abi.UnpaddedPieceSize,
	stagedPath string, existing []abi.UnpaddedPieceSize) (abi.UnpaddedPieceSize, abi.UnpaddedPieceSize, cid.Cid, error) {
	ex := make([]uint64, len(existing))
	for i, e := range existing {
		ex[i] = uint64(e)
	}
	res, _, err := c.call(ctx, callRequest{Op: "add_piece", Proof: int64(proof), Piece: piecePath, PieceSize: uint64(size),
		Staged: stagedPath, Existing: ex}, nil)
	if err != nil {
		return 0, 0, cid.Undef, err
	}
	pc, err := cid.Decode(res.PieceCID)
	if err != nil {
		return 0, 0, cid.Undef, fmt.Errorf("add_piece child returned piece CID %q: %w", res.PieceCID, err)
	}
	return abi.UnpaddedPieceSize(res.Left), abi.UnpaddedPieceSize(res.Total), pc, nil
}

func (c *childSealer) EncodeInto(ctx context.Context, proof abi.RegisteredUpdateProof, newReplica, newCache, sectorKey, sectorKeyCache, staged string,
	pieces []abi.PieceInfo) (cid.Cid, cid.Cid, error) {
	res, _, err := c.call(ctx, callRequest{Op: "snap_encode", UpdateProof: int64(proof), Sealed: newReplica, CacheDir: newCache,
		SectorKey: sectorKey, SectorKeyCache: sectorKeyCache, Staged: staged, Pieces: pieceList(pieces)}, nil)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	r, err := cid.Decode(res.CommR)
	if err != nil {
		return cid.Undef, cid.Undef, fmt.Errorf("snap_encode child returned comm_r %q: %w", res.CommR, err)
	}
	d, err := cid.Decode(res.CommD)
	if err != nil {
		return cid.Undef, cid.Undef, fmt.Errorf("snap_encode child returned comm_d %q: %w", res.CommD, err)
	}
	return r, d, nil
}

func (c *childSealer) GenerateUpdateVanillaProofs(ctx context.Context, proof abi.RegisteredUpdateProof, oldSealed, newSealed, unsealed cid.Cid,
	newReplica, newCache, sectorKey, sectorKeyCache string) ([][]byte, error) {
	_, out, err := c.call(ctx, callRequest{Op: "snap_vanilla", UpdateProof: int64(proof), CommROld: oldSealed.String(),
		CommR: newSealed.String(), CommD: unsealed.String(), Sealed: newReplica, CacheDir: newCache,
		SectorKey: sectorKey, SectorKeyCache: sectorKeyCache}, nil)
	if err != nil {
		return nil, err
	}
	v, err := decodeChunks(out)
	if err != nil {
		return nil, fmt.Errorf("snap_vanilla child's vanilla proofs: %w", err)
	}
	return v, nil
}

func (c *childSealer) GenerateUpdateProofWithVanilla(ctx context.Context, proof abi.RegisteredUpdateProof, oldSealed, newSealed, unsealed cid.Cid,
	vanilla [][]byte) ([]byte, error) {
	_, out, err := c.call(ctx, callRequest{Op: "snap_prove", UpdateProof: int64(proof), CommROld: oldSealed.String(),
		CommR: newSealed.String(), CommD: unsealed.String()}, encodeChunks(vanilla))
	return out, err
}

func (c *childSealer) VerifyUpdateProof(ctx context.Context, info proof.ReplicaUpdateInfo) (bool, error) {
	res, _, err := c.call(ctx, callRequest{Op: "verify_update", UpdateProof: int64(info.UpdateProofType),
		CommROld: info.OldSealedSectorCID.String(), CommR: info.NewSealedSectorCID.String(), CommD: info.NewUnsealedSectorCID.String(),
		Proofs: info.Proof}, nil)
	return res.Verified, err
}

func (c *childSealer) GenerateWinningPoSt(ctx context.Context, miner abi.ActorID, sectors []PoStSector, randomness abi.PoStRandomness) ([]proof.PoStProof, error) {
	res, _, err := c.call(ctx, callRequest{Op: "winning_post", Miner: uint64(miner), PoStSectors: postSectorList(sectors), Randomness: randomness}, nil)
	if err != nil {
		return nil, err
	}
	return postProofsOf(res.PoStProofs), nil
}

func (c *childSealer) VerifyWinningPoSt(ctx context.Context, info proof.WinningPoStVerifyInfo) (bool, error) {
	res, _, err := c.call(ctx, callRequest{Op: "verify_winning_post", Miner: uint64(info.Prover), PoStSectors: challengedList(info.ChallengedSectors),
		Randomness: info.Randomness, PoStProofs: postProofList(info.Proofs)}, nil)
	return res.Verified, err
}

func (c *childSealer) GenerateWindowPoSt(ctx context.Context, miner abi.ActorID, sectors []PoStSector, randomness abi.PoStRandomness) ([]proof.PoStProof, []abi.SectorNumber, error) {
	res, _, err := c.call(ctx, callRequest{Op: "window_post", Miner: uint64(miner), PoStSectors: postSectorList(sectors), Randomness: randomness}, nil)
	if err != nil {
		return nil, nil, err
	}
	if len(res.Faults) > 0 {
		faults := make([]abi.SectorNumber, len(res.Faults))
		for i, f := range res.Faults {
			faults[i] = abi.SectorNumber(f)
		}
		return nil, faults, errors.New(res.FaultError)
	}
	return postProofsOf(res.PoStProofs), nil, nil
}

func (c *childSealer) VerifyWindowPoSt(ctx context.Context, info proof.WindowPoStVerifyInfo) (bool, error) {
	res, _, err := c.call(ctx, callRequest{Op: "verify_window_post", Miner: uint64(info.Prover), PoStSectors: challengedList(info.ChallengedSectors),
		Randomness: info.Randomness, PoStProofs: postProofList(info.Proofs)}, nil)
	return res.Verified, err
}

func (c *childSealer) UnsealRange(ctx context.Context, proof abi.RegisteredSealProof, cacheDir, sealedPath, outPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, unsealed cid.Cid, offset, size uint64) error {
	_, _, err := c.call(ctx, callRequest{Op: "unseal", Proof: int64(proof), CacheDir: cacheDir, Sealed: sealedPath, Out: outPath,
		Sector: uint64(sector), Miner: uint64(miner), Ticket: ticket, CommD: unsealed.String(), Offset: offset, Size: size}, nil)
	return err
}

// runChild is the child's side: it reads the call from dir, makes it with s
// and writes the result. Its exit status is 0 whenever it wrote a result,
// filecoin-ffi's errors included; anything else means the call did not
// happen or did not finish.
func runChild(dir string, s Sealer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "ffi child: "+format+"\n", args...)
		return 3
	}
	b, err := os.ReadFile(filepath.Join(dir, reqFile))
	if err != nil {
		return fail("%v", err)
	}
	var req callRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return fail("%s: %v", reqFile, err)
	}
	in, err := os.ReadFile(filepath.Join(dir, inFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail("%v", err)
	}
	res, out, err := dispatch(context.Background(), s, req, in)
	if err != nil {
		res = callResult{Error: err.Error()}
		out = nil
	}
	if out != nil {
		if err := os.WriteFile(filepath.Join(dir, outFile), out, 0o600); err != nil {
			return fail("%v", err)
		}
	}
	rb, _ := json.Marshal(res)
	// Written last and renamed, so a result.json the parent reads is whole.
	tmp := filepath.Join(dir, resultFile+".tmp")
	if err := os.WriteFile(tmp, rb, 0o600); err != nil {
		return fail("%v", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, resultFile)); err != nil {
		return fail("%v", err)
	}
	return 0
}

func dispatch(ctx context.Context, s Sealer, req callRequest, in []byte) (callResult, []byte, error) {
	pieces := make([]abi.PieceInfo, len(req.Pieces))
	for i, p := range req.Pieces {
		c, err := cid.Decode(p.CID)
		if err != nil {
			return callResult{}, nil, fmt.Errorf("piece %d: %w", i, err)
		}
		pieces[i] = abi.PieceInfo{Size: abi.PaddedPieceSize(p.Size), PieceCID: c}
	}
	cids := func() (cid.Cid, cid.Cid, error) {
		r, err := cid.Decode(req.CommR)
		if err != nil {
			return cid.Undef, cid.Undef, fmt.Errorf("comm_r: %w", err)
		}
		d, err := cid.Decode(req.CommD)
		if err != nil {
			return cid.Undef, cid.Undef, fmt.Errorf("comm_d: %w", err)
		}
		return r, d, nil
	}
	proofType := abi.RegisteredSealProof(req.Proof)
	sector, miner := abi.SectorNumber(req.Sector), abi.ActorID(req.Miner)
	switch req.Op {
	case "pc1":
		out, err := s.SealPreCommitPhase1(ctx, proofType, req.CacheDir, req.Staged, req.Sealed, sector, miner, req.Ticket, pieces)
		return callResult{}, nonNil(out), err
	case "pc2":
		r, d, err := s.SealPreCommitPhase2(ctx, in, req.CacheDir, req.Sealed)
		if err != nil {
			return callResult{}, nil, err
		}
		return callResult{CommR: r.String(), CommD: d.String()}, nil, nil
	case "c1":
		r, d, err := cids()
		if err != nil {
			return callResult{}, nil, err
		}
		out, err := s.SealCommitPhase1(ctx, proofType, r, d, req.CacheDir, req.Sealed, sector, miner, req.Ticket, req.Seed, pieces)
		return callResult{}, nonNil(out), err
	case "c2":
		out, err := s.SealCommitPhase2(ctx, in, sector, miner)
		return callResult{}, nonNil(out), err
	case "verify":
		r, d, err := cids()
		if err != nil {
			return callResult{}, nil, err
		}
		ok, err := s.VerifySeal(ctx, proof.SealVerifyInfo{SealProof: proofType, SectorID: abi.SectorID{Miner: miner, Number: sector},
			Randomness: req.Ticket, InteractiveRandomness: req.Seed, Proof: req.Proofs, SealedCID: r, UnsealedCID: d})
		return callResult{Verified: ok}, nil, err
	case "gpus":
		g, err := s.GPUDevices(ctx)
		return callResult{GPUs: g}, nil, err
	}
	p, ok := s.(Prover)
	if !ok {
		return callResult{}, nil, fmt.Errorf("unknown call %q", req.Op)
	}
	return dispatchProver(ctx, p, req, in, pieces)
}

// dispatchProver makes the calls of the Prover interface.
func dispatchProver(ctx context.Context, p Prover, req callRequest, in []byte, pieces []abi.PieceInfo) (callResult, []byte, error) {
	up := abi.RegisteredUpdateProof(req.UpdateProof)
	// The three commitments of a snap update, each named in its error.
	var old, newR, newD cid.Cid
	updateCIDs := func() error {
		for _, c := range []struct {
			field string
			in    string
			out   *cid.Cid
		}{{"comm_r_old", req.CommROld, &old}, {"comm_r", req.CommR, &newR}, {"comm_d", req.CommD, &newD}} {
			v, err := cid.Decode(c.in)
			if err != nil {
				return fmt.Errorf("%s: %w", c.field, err)
			}
			*c.out = v
		}
		return nil
	}
	sectors := make([]PoStSector, len(req.PoStSectors))
	for i, ps := range req.PoStSectors {
		c, err := cid.Decode(ps.SealedCID)
		if err != nil {
			return callResult{}, nil, fmt.Errorf("post sector %d: sealed_cid: %w", i, err)
		}
		sectors[i] = PoStSector{SectorInfo: proof.SectorInfo{SealProof: abi.RegisteredSealProof(ps.SealProof), SectorNumber: abi.SectorNumber(ps.Number), SealedCID: c},
			PoStProofType: abi.RegisteredPoStProof(ps.PoStProof), CacheDirPath: ps.CacheDir, SealedSectorPath: ps.Sealed}
	}
	challenged := make([]proof.SectorInfo, len(sectors))
	for i, s := range sectors {
		challenged[i] = s.SectorInfo
	}
	postProofs := make([]proof.PoStProof, len(req.PoStProofs))
	for i, pp := range req.PoStProofs {
		postProofs[i] = proof.PoStProof{PoStProof: abi.RegisteredPoStProof(pp.Type), ProofBytes: pp.Proof}
	}
	miner := abi.ActorID(req.Miner)
	switch req.Op {
	case "add_piece":
		existing := make([]abi.UnpaddedPieceSize, len(req.Existing))
		for i, e := range req.Existing {
			existing[i] = abi.UnpaddedPieceSize(e)
		}
		left, total, c, err := p.AddPiece(ctx, abi.RegisteredSealProof(req.Proof), req.Piece, abi.UnpaddedPieceSize(req.PieceSize), req.Staged, existing)
		if err != nil {
			return callResult{}, nil, err
		}
		return callResult{PieceCID: c.String(), Left: uint64(left), Total: uint64(total)}, nil, nil
	case "snap_encode":
		r, d, err := p.EncodeInto(ctx, up, req.Sealed, req.CacheDir, req.SectorKey, req.SectorKeyCache, req.Staged, pieces)
		if err != nil {
			return callResult{}, nil, err
		}
		return callResult{CommR: r.String(), CommD: d.String()}, nil, nil
	case "snap_vanilla":
		if err := updateCIDs(); err != nil {
			return callResult{}, nil, err
		}
		v, err := p.GenerateUpdateVanillaProofs(ctx, up, old, newR, newD, req.Sealed, req.CacheDir, req.SectorKey, req.SectorKeyCache)
		if err != nil {
			return callResult{}, nil, err
		}
		return callResult{}, encodeChunks(v), nil
	case "snap_prove":
		if err := updateCIDs(); err != nil {
			return callResult{}, nil, err
		}
		v, err := decodeChunks(in)
		if err != nil {
			return callResult{}, nil, fmt.Errorf("vanilla proofs: %w", err)
		}
		out, err := p.GenerateUpdateProofWithVanilla(ctx, up, old, newR, newD, v)
		return callResult{}, nonNil(out), err
	case "verify_update":
		if err := updateCIDs(); err != nil {
			return callResult{}, nil, err
		}
		ok, err := p.VerifyUpdateProof(ctx, proof.ReplicaUpdateInfo{UpdateProofType: up, OldSealedSectorCID: old,
			NewSealedSectorCID: newR, NewUnsealedSectorCID: newD, Proof: req.Proofs})
		return callResult{Verified: ok}, nil, err
	case "winning_post":
		ps, err := p.GenerateWinningPoSt(ctx, miner, sectors, req.Randomness)
		return callResult{PoStProofs: postProofList(ps)}, nil, err
	case "verify_winning_post":
		ok, err := p.VerifyWinningPoSt(ctx, proof.WinningPoStVerifyInfo{Randomness: req.Randomness, Proofs: postProofs,
			ChallengedSectors: challenged, Prover: miner})
		return callResult{Verified: ok}, nil, err
	case "window_post":
		ps, faults, err := p.GenerateWindowPoSt(ctx, miner, sectors, req.Randomness)
		res := callResult{PoStProofs: postProofList(ps)}
		for _, f := range faults {
			res.Faults = append(res.Faults, uint64(f))
		}
		if err != nil && len(faults) > 0 {
			// Not an error result: the parent needs the list.
			res.FaultError = err.Error()
			return res, nil, nil
		}
		return res, nil, err
	case "verify_window_post":
		ok, err := p.VerifyWindowPoSt(ctx, proof.WindowPoStVerifyInfo{Randomness: req.Randomness, Proofs: postProofs,
			ChallengedSectors: challenged, Prover: miner})
		return callResult{Verified: ok}, nil, err
	case "unseal":
		d, err := cid.Decode(req.CommD)
		if err != nil {
			return callResult{}, nil, fmt.Errorf("comm_d: %w", err)
		}
		err = p.UnsealRange(ctx, abi.RegisteredSealProof(req.Proof), req.CacheDir, req.Sealed, req.Out, abi.SectorNumber(req.Sector),
			miner, req.Ticket, d, req.Offset, req.Size)
		return callResult{}, nil, err
	}
	return callResult{}, nil, fmt.Errorf("unknown call %q", req.Op)
}

func postProofList(ps []proof.PoStProof) []callPoStProof {
	out := make([]callPoStProof, len(ps))
	for i, p := range ps {
		out[i] = callPoStProof{Type: int64(p.PoStProof), Proof: p.ProofBytes}
	}
	return out
}

func postProofsOf(ps []callPoStProof) []proof.PoStProof {
	out := make([]proof.PoStProof, len(ps))
	for i, p := range ps {
		out[i] = proof.PoStProof{PoStProof: abi.RegisteredPoStProof(p.Type), ProofBytes: p.Proof}
	}
	return out
}

func postSectorList(in []PoStSector) []callPoStSector {
	out := make([]callPoStSector, len(in))
	for i, s := range in {
		out[i] = callPoStSector{SealProof: int64(s.SealProof), PoStProof: int64(s.PoStProofType), Number: uint64(s.SectorNumber),
			SealedCID: s.SealedCID.String(), CacheDir: s.CacheDirPath, Sealed: s.SealedSectorPath}
	}
	return out
}

func challengedList(in []proof.SectorInfo) []callPoStSector {
	out := make([]callPoStSector, len(in))
	for i, s := range in {
		out[i] = callPoStSector{SealProof: int64(s.SealProof), Number: uint64(s.SectorNumber), SealedCID: s.SealedCID.String()}
	}
	return out
}

// nonNil makes an empty output still produce out.bin, so the parent can
// tell "no output" from "empty output".
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
