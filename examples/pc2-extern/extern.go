package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Job is one PC2 run as lotus' --external-pc2 convention describes it: the
// seven EXTSEAL_PC2_* variables are built from these fields.
type Job struct {
	SectorNum  uint64
	Miner      uint64
	ProofType  int64
	SectorSize uint64
	Cache      string // folder holding PC1's layers; p_aux lands here
	Sealed     string // sealed file, transformed in place by the command
	PC1Out     []byte // PC1's output, passed base64-encoded
}

// PAux is the cache's p_aux file: two 32-byte BLS12-381 field elements,
// little-endian, as rust-fil-proofs writes them (bincode of
// PersistentAux{comm_c, comm_r_last}, no length prefix).
type PAux struct {
	CommC     [32]byte
	CommRLast [32]byte
}

// Runner runs an external PC2 command.
type Runner struct {
	// Command is handed to `sh -c`, as lotus does.
	Command string
	// Env is the environment the command starts from. Lotus passes only
	// the EXTSEAL_PC2_* variables; we also pass the processor's own
	// environment because a GPU PC2 needs CUDA_VISIBLE_DEVICES and PATH.
	Env []string
	// Log receives the command's stdout and stderr. Never the plugin's
	// stdout: fd 1 carries the plugin handshake.
	Log io.Writer
	// KillDelay bounds the wait for the command's pipes after it has been
	// killed on cancellation.
	KillDelay time.Duration
}

// maxArgStrlen is Linux's MAX_ARG_STRLEN (32 pages): the longest single
// argument or environment string execve accepts.
const maxArgStrlen = 32 * 4096

// ExitError reports a command that ran and failed. Retrying the same
// command on the same files rarely helps, so it is not retryable.
type ExitError struct {
	Command string
	Err     error
	Tail    string // last lines of its output, for the operator
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("external pc2 command %q failed: %v", e.Command, e.Err)
	if e.Tail != "" {
		msg += "; its last output: " + e.Tail
	}
	return msg
}

func (e *ExitError) Unwrap() error { return e.Err }

// Environ returns the EXTSEAL_PC2_* variables for j.
func (j Job) Environ() []string {
	return []string{
		"EXTSEAL_PC2_SECTOR_NUM=" + strconv.FormatUint(j.SectorNum, 10),
		"EXTSEAL_PC2_SECTOR_MINER=" + strconv.FormatUint(j.Miner, 10),
		"EXTSEAL_PC2_PROOF_TYPE=" + strconv.FormatInt(j.ProofType, 10),
		"EXTSEAL_PC2_SECTOR_SIZE=" + strconv.FormatUint(j.SectorSize, 10),
		"EXTSEAL_PC2_CACHE=" + j.Cache,
		"EXTSEAL_PC2_SEALED=" + j.Sealed,
		"EXTSEAL_PC2_PC1OUT=" + base64.StdEncoding.EncodeToString(j.PC1Out),
	}
}

// Run runs the command for j and returns the p_aux it wrote. Cancelling
// ctx kills the command's whole process group: `sh -c` forks, and killing
// sh alone would leave the real PC2 program running on the GPU.
func (r *Runner) Run(ctx context.Context, j Job) (PAux, error) {
	if r.Command == "" {
		return PAux{}, errors.New("no external pc2 command configured: pass it as the plugin's argument, e.g. args = [\"/opt/supraseal/pc2 ...\"]")
	}
	// Results left by an earlier, failed attempt must not be mistaken for
	// this run's.
	for _, name := range []string{"p_aux", "comm_r"} {
		stale := filepath.Join(j.Cache, name)
		if err := os.Remove(stale); err != nil && !errors.Is(err, os.ErrNotExist) {
			return PAux{}, fmt.Errorf("removing stale %s: %w", stale, err)
		}
	}

	env := j.Environ()
	for _, kv := range env {
		if len(kv) >= maxArgStrlen {
			return PAux{}, fmt.Errorf("%s… is %d bytes: Linux refuses environment strings of %d bytes or more (MAX_ARG_STRLEN), so lotus' convention cannot pass this PC1 output of %d bytes (a real one is ~1.5 KB)",
				kv[:20], len(kv), maxArgStrlen, len(j.PC1Out))
		}
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", r.Command)
	cmd.Env = append(append([]string{}, r.Env...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = r.KillDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	tail := &tailWriter{max: 2048}
	var out io.Writer = tail
	if r.Log != nil {
		out = io.MultiWriter(tail, r.Log)
	}
	cmd.Stdout, cmd.Stderr = out, out

	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return PAux{}, ctx.Err()
		}
		return PAux{}, &ExitError{Command: r.Command, Err: err, Tail: tail.String()}
	}
	return ReadPAux(j.Cache)
}

// ReadPAux reads and checks cache/p_aux.
func ReadPAux(cache string) (PAux, error) {
	path := filepath.Join(cache, "p_aux")
	b, err := os.ReadFile(path)
	if err != nil {
		return PAux{}, fmt.Errorf("the external pc2 command exited 0 but left no p_aux: %w", err)
	}
	if len(b) != 64 {
		return PAux{}, fmt.Errorf("%s is %d bytes, want 64 (comm_c then comm_r_last, 32 bytes each)", path, len(b))
	}
	var p PAux
	copy(p.CommC[:], b[:32])
	copy(p.CommRLast[:], b[32:])
	for _, f := range []struct {
		name string
		v    [32]byte
	}{{"comm_c", p.CommC}, {"comm_r_last", p.CommRLast}} {
		if !InField(f.v) {
			return PAux{}, fmt.Errorf("%s: %s %x is not a BLS12-381 scalar (>= the field modulus): the file is not a p_aux", path, f.name, f.v)
		}
	}
	return p, nil
}

// blsR is the order of BLS12-381's scalar field, in which every
// commitment of the proofs lives.
var blsR, _ = new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)

// InField reports whether the little-endian v is below the scalar field's
// modulus, as every Poseidon digest is.
func InField(v [32]byte) bool {
	be := make([]byte, 32)
	for i := range v {
		be[31-i] = v[i]
	}
	return new(big.Int).SetBytes(be).Cmp(blsR) < 0
}

// CommD returns the sector's data commitment. Like lotus, it prefers the
// root of tree_d in the cache (the last 32 bytes of
// sc-02-data-tree-d.dat); without one it takes the comm_d field of the
// PC1 output, which rust-fil-proofs writes as a JSON array of 32 numbers.
func CommD(cache string, pc1out []byte) ([32]byte, error) {
	var d [32]byte
	treeD := filepath.Join(cache, "sc-02-data-tree-d.dat")
	if f, err := os.Open(treeD); err == nil {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return d, err
		}
		if st.Size() < 32 {
			return d, fmt.Errorf("%s is %d bytes, too short to hold a root", treeD, st.Size())
		}
		if _, err := f.ReadAt(d[:], st.Size()-32); err != nil {
			return d, fmt.Errorf("reading the root of %s: %w", treeD, err)
		}
		return d, nil
	}
	// rust-fil-proofs writes comm_d as an array of 32 numbers, which
	// encoding/json would not read into a []byte (it expects base64).
	var raw struct {
		CommD []uint16 `json:"comm_d"`
	}
	if err := json.Unmarshal(pc1out, &raw); err != nil {
		return d, fmt.Errorf("no %s and the PC1 output is not JSON: %w", treeD, err)
	}
	if len(raw.CommD) != 32 {
		return d, fmt.Errorf("no %s and the PC1 output's comm_d has %d bytes, want 32", treeD, len(raw.CommD))
	}
	for i, n := range raw.CommD {
		if n > 255 {
			return d, fmt.Errorf("PC1 output comm_d holds %d, not a byte", n)
		}
		d[i] = byte(n)
	}
	return d, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = w.buf[len(w.buf)-w.max:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(bytes.TrimSpace(w.buf))
}
