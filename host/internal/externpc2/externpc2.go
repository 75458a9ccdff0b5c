package externpc2

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The variables lotus sets, in the order its documentation lists them.
const (
	EnvSectorNum  = "EXTSEAL_PC2_SECTOR_NUM"
	EnvMiner      = "EXTSEAL_PC2_SECTOR_MINER"
	EnvProofType  = "EXTSEAL_PC2_PROOF_TYPE"
	EnvSectorSize = "EXTSEAL_PC2_SECTOR_SIZE"
	EnvCache      = "EXTSEAL_PC2_CACHE"
	EnvSealed     = "EXTSEAL_PC2_SEALED"
	EnvPC1Out     = "EXTSEAL_PC2_PC1OUT"
)

// maxPC1Out bounds the decoded PC1 output. A real one is about 1.5 KB of
// JSON; Linux caps one environment string at 128 KiB anyway.
const maxPC1Out = 128 << 10

// Job is one PC2 as lotus describes it.
type Job struct {
	Sector     *sealv1.Sector
	SectorSize uint64
	Cache      string
	Sealed     string
	PC1Out     []byte
}

// FromEnv reads the job from lotus' variables through lookup (os.LookupEnv
// in the command). Every problem is reported, each naming its variable.
func FromEnv(lookup func(string) (string, bool)) (Job, error) {
	var errs []error
	var missing []string
	get := func(name string) string {
		v, ok := lookup(name)
		if !ok || v == "" {
			missing = append(missing, name)
		}
		return v
	}
	num := get(EnvSectorNum)
	miner := get(EnvMiner)
	pt := get(EnvProofType)
	size := get(EnvSectorSize)
	cache := get(EnvCache)
	sealed := get(EnvSealed)
	pc1 := get(EnvPC1Out)

	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("not set: %s (lotus-worker --external-pc2 sets all seven EXTSEAL_PC2_* variables; run by hand, set them too)", strings.Join(missing, ", ")))
	}
	j := Job{Sector: &sealv1.Sector{}, Cache: cache, Sealed: sealed}
	uint64Of := func(name, v string) uint64 {
		if v == "" {
			return 0
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a non-negative integer", name, v))
		}
		return n
	}
	j.Sector.SectorNumber = uint64Of(EnvSectorNum, num)
	j.Sector.MinerId = uint64Of(EnvMiner, miner)
	j.SectorSize = uint64Of(EnvSectorSize, size)
	if pt != "" {
		n, err := strconv.ParseInt(pt, 10, 64)
		want, serr := sdk.SectorSize(n)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s=%q is not an integer (abi.RegisteredSealProof, e.g. 8 for StackedDrg32GiBV1_1)", EnvProofType, pt))
		case serr != nil:
			errs = append(errs, fmt.Errorf("%s=%d: %v", EnvProofType, n, serr))
		case size != "" && j.SectorSize != want:
			errs = append(errs, fmt.Errorf("%s=%s does not match %s=%d, whose sectors are %d bytes (%s)", EnvSectorSize, size, EnvProofType, n, want, sdk.SectorSizeName(want)))
		default:
			j.Sector.RegisteredSealProof = n
		}
	}
	for _, p := range []struct{ name, v string }{{EnvCache, cache}, {EnvSealed, sealed}} {
		if p.v != "" && !filepath.IsAbs(p.v) {
			errs = append(errs, fmt.Errorf("%s=%q is not an absolute path (the host resolves paths in its own working directory, not this command's)", p.name, p.v))
		}
	}
	if pc1 != "" {
		b, err := base64.StdEncoding.DecodeString(pc1)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s is not standard base64: %v", EnvPC1Out, err))
		case len(b) > maxPC1Out:
			errs = append(errs, fmt.Errorf("%s decodes to %d bytes; a PC1 output is about 1.5 KB (at most %d accepted)", EnvPC1Out, len(b), maxPC1Out))
		default:
			if err := checkPC1Out(b, j.SectorSize); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvPC1Out, err))
			}
			j.PC1Out = b
		}
	}
	if len(errs) > 0 {
		return Job{}, errors.Join(errs...)
	}
	return j, nil
}

// checkPC1Out checks that b is PC1 JSON for sectors of size: it catches a
// variable from another sector or a truncated copy before a processor
// spends minutes on it. rust-fil-proofs names its proofs with the size in
// them ("StackedDrg32GiBV1_1").
func checkPC1Out(b []byte, size uint64) error {
	var v struct {
		RegisteredProof *string `json:"registered_proof"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("not the JSON of a PC1 output (%v)", err)
	}
	if v.RegisteredProof == nil {
		return errors.New(`not a PC1 output: no "registered_proof"`)
	}
	if size != 0 && !strings.HasPrefix(*v.RegisteredProof, "StackedDrg"+sdk.SectorSizeName(size)) {
		return fmt.Errorf("its registered_proof %q is not for %s sectors", *v.RegisteredProof, sdk.SectorSizeName(size))
	}
	return nil
}

// Request is the PC2 task for j.
func (j Job) Request() *sealv1.PC2Request {
	return &sealv1.PC2Request{Sector: j.Sector, Phase1Output: j.PC1Out, CachePath: j.Cache, SealedPath: j.Sealed}
}

// PC2 runs one PC2 task on the host and returns its answer (a method of
// sdk/client's Client, with its options bound).
type PC2 func(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error)

// Result is what a finished job produced.
type Result struct {
	SealedCID, UnsealedCID string
	// CommR is written to the cache as "comm_r".
	CommR [32]byte
}

// staleOutputs are removed before the task: a p_aux or comm_r left by an
// earlier, failed attempt must not pass for this one's.
var staleOutputs = []string{"p_aux", "comm_r"}

// Run submits j to the host through pc2, then checks the cache as lotus will
// and writes comm_r.
func Run(ctx context.Context, pc2 PC2, j Job) (Result, error) {
	for _, name := range staleOutputs {
		p := filepath.Join(j.Cache, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return Result{}, fmt.Errorf("removing the stale %s before PC2: %w", p, err)
		}
	}
	resp, err := pc2(ctx, j.Request())
	if err != nil {
		return Result{}, err
	}
	r := Result{SealedCID: resp.GetSealedCid(), UnsealedCID: resp.GetUnsealedCid()}
	commR, err := digest("sealed_cid", r.SealedCID)
	if err != nil {
		return r, err
	}
	commD, err := digest("unsealed_cid", r.UnsealedCID)
	if err != nil {
		return r, err
	}
	if err := CheckCache(j.Cache, commD); err != nil {
		return r, fmt.Errorf("the host's PC2 answered (comm_r %s) but %w", r.SealedCID, err)
	}
	copy(r.CommR[:], commR)
	if err := os.WriteFile(filepath.Join(j.Cache, "comm_r"), commR, 0o644); err != nil {
		return r, fmt.Errorf("writing comm_r: %w", err)
	}
	return r, nil
}

// digest is the 32-byte commitment inside a piece or replica CID.
func digest(field, s string) ([]byte, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("the host's PC2 answered a %s %q that is not a CID: %v", field, s, err)
	}
	h := c.Hash()
	// A Filecoin commitment CID's multihash is a 2-byte code, a 1-byte
	// length of 32 and the digest.
	if len(h) < 32 {
		return nil, fmt.Errorf("the host's PC2 answered a %s %q whose hash is %d bytes, not a 32-byte commitment", field, s, len(h))
	}
	return h[len(h)-32:], nil
}

// TreeDFile is where lotus (and rust-fil-proofs) keep tree_d; its last 32
// bytes are comm_d.
const TreeDFile = "sc-02-data-tree-d.dat"

// CheckCache checks what lotus checks after its external PC2 command
// exits: the trees it will open for C1, a p_aux of exactly 64 bytes
// (comm_c ‖ comm_r_last), t_aux, and, when commD is given, that the tree_d
// root it reads comm_d from agrees with PC2's.
func CheckCache(cache string, commD []byte) error {
	var missing []string
	for _, pat := range []string{"sc-02-data-tree-r-last*.dat", "sc-02-data-tree-c*.dat", "t_aux"} {
		m, _ := filepath.Glob(filepath.Join(cache, pat))
		if len(m) == 0 {
			missing = append(missing, pat)
		}
	}
	paux, err := os.ReadFile(filepath.Join(cache, "p_aux"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		missing = append(missing, "p_aux")
	case err != nil:
		return fmt.Errorf("reading p_aux: %w", err)
	case len(paux) != 64:
		return fmt.Errorf("%s is %d bytes; lotus accepts exactly 64 (comm_c and comm_r_last)", filepath.Join(cache, "p_aux"), len(paux))
	}
	if len(missing) > 0 {
		return fmt.Errorf("the cache %s lacks what lotus checks after PC2: %s (the processor's plugin does not leave rust-fil-proofs' files: lotus --external-pc2 needs a plugin that seals for real, such as plugins/ffi)", cache, strings.Join(missing, ", "))
	}
	if commD == nil {
		return nil
	}
	f, err := os.Open(filepath.Join(cache, TreeDFile))
	if err != nil {
		return fmt.Errorf("lotus reads comm_d from tree_d: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	root := make([]byte, 32)
	if st.Size() < 32 {
		return fmt.Errorf("%s is %d bytes, too short to hold tree_d's root", f.Name(), st.Size())
	}
	if _, err := f.ReadAt(root, st.Size()-32); err != nil {
		return fmt.Errorf("reading tree_d's root: %w", err)
	}
	if !bytes.Equal(root, commD) {
		return fmt.Errorf("tree_d's root %x (what lotus reads as comm_d) differs from PC2's comm_d %x", root, commD)
	}
	return nil
}
