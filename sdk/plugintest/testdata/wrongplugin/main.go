// Command wrongplugin is a pc2 plugin that is wrong in ways each answer
// alone does not show, for the conformance kit's own tests: the kit must
// fail it. WRONG picks how:
//
//   - invented-commd: answers a well-formed but made-up comm_d;
//   - sleep: ignores cancellation in time.Sleep;
//   - spin: ignores cancellation in a busy loop.
//
// Without WRONG it is a correct pc2 of the kit's placeholder inputs.
package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	commcid "github.com/filecoin-project/go-fil-commcid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func main() {
	sdk.Serve(sdk.Plugin{Name: "wrongplugin", Version: "0.0.0", PC2: sdk.PC2Func(pc2)})
}

var spun uint64

func pc2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	if _, err := sdk.SectorSize(req.GetSector().GetRegisteredSealProof()); err != nil {
		return nil, err
	}
	if st, err := os.Stat(req.GetCachePath()); err != nil || !st.IsDir() {
		return nil, sdk.Errorf("cache_path %q is not a folder", req.GetCachePath())
	}
	var out struct {
		CommD []byte `json:"-"`
		Raw   []int  `json:"comm_d"`
	}
	if err := json.Unmarshal(req.GetPhase1Output(), &out); err != nil || len(out.Raw) != 32 {
		return nil, sdk.Errorf("phase1_output has no comm_d of 32 numbers")
	}
	d := make([]byte, 32)
	for i, n := range out.Raw {
		d[i] = byte(n)
	}
	switch os.Getenv("WRONG") {
	case "invented-commd":
		for i := range d {
			d[i] = byte(i)
		}
	case "sleep":
		time.Sleep(time.Hour)
	case "spin":
		for {
			spun++
		}
	}
	r := make([]byte, 32)
	copy(r, "wrongplugin comm_r, not sealed.")
	sealed, _ := commcid.ReplicaCommitmentV1ToCID(r)
	unsealed, err := commcid.DataCommitmentV1ToCID(d)
	if err != nil {
		return nil, sdk.Errorf("comm_d: %v", err)
	}
	return &sealv1.PC2Response{SealedCid: sealed.String(), UnsealedCid: unsealed.String()}, nil
}
