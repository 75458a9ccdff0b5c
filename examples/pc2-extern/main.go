// Command pc2-extern is a sealhost plugin that serves PC2 by running an
// external program with lotus' --external-pc2 convention. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" || os.Args[1] == "-help" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, `usage: pc2-extern 'COMMAND'
COMMAND runs under sh -c with lotus' EXTSEAL_PC2_* variables set; it must
write tree-r, tree-c and p_aux into $EXTSEAL_PC2_CACHE, seal
$EXTSEAL_PC2_SEALED in place, and write comm_r (32 bytes) to
$EXTSEAL_PC2_CACHE/comm_r. Exit status 75 (EX_TEMPFAIL) marks a failure
worth retrying. Give COMMAND as the plugin block's only argument.`)
		os.Exit(2)
	}
	p := &pc2{run: &Runner{Command: os.Args[1], Env: os.Environ(), Log: os.Stderr}}
	sdk.Serve(sdk.Plugin{Name: "pc2-extern", Version: "0.1.0", PC2: p})
}

type pc2 struct{ run *Runner }

// exTempFail is sysexits.h's EX_TEMPFAIL: a command exiting with it says
// the failure is transient (the GPU busy, out of memory for now), so the
// host may retry. Any other failure is final.
const exTempFail = 75

func (p *pc2) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	s := req.GetSector()
	size, ok := sectorSize(s.GetRegisteredSealProof())
	if !ok {
		return nil, sdk.Errorf("registered_seal_proof %d is not a seal proof (want 0..19)", s.GetRegisteredSealProof())
	}
	if st, err := os.Stat(req.GetCachePath()); err != nil || !st.IsDir() {
		return nil, sdk.Errorf("cache_path %q is not a directory holding PC1's layers", req.GetCachePath())
	}
	if _, err := os.Stat(req.GetSealedPath()); err != nil {
		return nil, sdk.Errorf("sealed_path: %v (lotus creates it before PC1)", err)
	}
	d, err := CommD(req.GetCachePath(), req.GetPhase1Output())
	if err != nil {
		return nil, sdk.Errorf("%v", err)
	}
	paux, err := p.run.Run(ctx, Job{
		SectorNum: s.GetSectorNumber(), Miner: s.GetMinerId(), ProofType: s.GetRegisteredSealProof(),
		SectorSize: size, Cache: req.GetCachePath(), Sealed: req.GetSealedPath(), PC1Out: req.GetPhase1Output(),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == exTempFail {
			return nil, sdk.RetryableErrorf("%v (exit status %d means: try again later)", err, exTempFail)
		}
		return nil, sdk.Errorf("%v", err)
	}
	r, err := ReadCommR(req.GetCachePath(), paux)
	if err != nil {
		return nil, sdk.Errorf("%v", err)
	}
	sealed, err := commcid.ReplicaCommitmentV1ToCID(r[:])
	if err != nil {
		return nil, sdk.Errorf("comm_r: %v", err)
	}
	unsealed, err := commcid.DataCommitmentV1ToCID(d[:])
	if err != nil {
		return nil, sdk.Errorf("comm_d: %v", err)
	}
	return &sealv1.PC2Response{SealedCid: sealed.String(), UnsealedCid: unsealed.String()}, nil
}

// ReadCommR reads the comm_r the command left in cache/comm_r.
//
// Lotus computes comm_r itself as Poseidon(comm_c, comm_r_last) over
// BLS12-381 from p_aux. That needs a Poseidon implementation with
// filecoin's constants, which this example does not carry; rather than
// return something that only looks like comm_r, it asks the command to
// write the 32 bytes it computed anyway (SupraSeal's pc2 has comm_r in
// hand) and checks they form a field element.
func ReadCommR(cache string, paux PAux) ([32]byte, error) {
	var r [32]byte
	path := filepath.Join(cache, "comm_r")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, fmt.Errorf("the command wrote p_aux (comm_c %x, comm_r_last %x) but no %s: comm_r = Poseidon(comm_c, comm_r_last), which this plugin does not compute; make the command write the 32-byte comm_r there", paux.CommC, paux.CommRLast, path)
	}
	if err != nil {
		return r, err
	}
	if len(b) != 32 {
		return r, fmt.Errorf("%s is %d bytes, want 32", path, len(b))
	}
	copy(r[:], b)
	if !InField(r) {
		return r, fmt.Errorf("%s holds %x, not a BLS12-381 scalar", path, r)
	}
	return r, nil
}

func sectorSize(pt int64) (uint64, bool) {
	if pt < 0 || pt > 19 {
		return 0, false
	}
	return [5]uint64{2 << 10, 8 << 20, 512 << 20, 32 << 30, 64 << 30}[pt%5], true
}
