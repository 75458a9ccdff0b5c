// Command minimal is a complete sealhost plugin serving C2. Its proof is
// FAKE (a hash of the input): replace the marked line with a real prover.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func c2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	// Reject what can never work with sdk.Errorf: the host will not retry.
	pt := req.GetSector().GetRegisteredSealProof()
	if pt < 0 || pt > 14 {
		return nil, sdk.Errorf("registered_seal_proof %d: want 0..14", pt)
	}
	if len(req.GetPhase1Output()) == 0 {
		return nil, sdk.Errorf("phase1_output is empty: pass C1's output")
	}
	// Long work must stop when the host cancels.
	work, _ := time.ParseDuration(os.Getenv("MINIMAL_WORK"))
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(work):
	}
	partitions := 1
	if pt%5 >= 3 { // 32GiB and 64GiB sectors have 10 partitions
		partitions = 10
	}
	sum := sha256.Sum256(req.GetPhase1Output()) // FAKE: prove here
	proof := bytes.Repeat(sum[:], 6*partitions) // 192 bytes per partition
	sdk.Logger(ctx).Info("proved", "sector", req.GetSector().GetSectorNumber())
	return &sealv1.C2Response{Proof: proof}, nil
}

func main() {
	sdk.Serve(sdk.Plugin{Name: "minimal", Version: "0.1.0", C2: sdk.C2Func(c2)})
}
