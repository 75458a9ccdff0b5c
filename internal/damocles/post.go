package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// PoStProof is a PoSt proof type, numbered as abi.RegisteredPoStProof
// (sealv1 registered_post_proof) and written by filecoin-proofs-api's
// variant name. abi's StackedDrgWindow*V1_1 is the proofs API's *V1_2
// (filcrypto maps one to the other: the API's V1_1 was never on chain).
type PoStProof int64

var postProofNames = func() []string {
	var names []string
	for _, family := range []string{"Winning%sV1", "Window%sV1", "Window%sV1_2"} {
		for _, size := range []string{"2KiB", "8MiB", "512MiB", "32GiB", "64GiB"} {
			names = append(names, "StackedDrg"+fmt.Sprintf(family, size))
		}
	}
	return names
}()

func (p PoStProof) MarshalJSON() ([]byte, error) {
	if p < 0 || int(p) >= len(postProofNames) {
		return nil, fmt.Errorf("registered PoSt proof %d has no filecoin-proofs-api name (known: 0..%d)", int64(p), len(postProofNames)-1)
	}
	return json.Marshal(postProofNames[p])
}

func (p *PoStProof) UnmarshalJSON(raw []byte) error {
	s, ok := stringOf(bytes.TrimSpace(raw))
	if !ok {
		return fmt.Errorf("want a PoSt proof name such as \"StackedDrgWindow32GiBV1_2\", got %s", kind(raw))
	}
	for i, n := range postProofNames {
		if n == s {
			*p = PoStProof(i)
			return nil
		}
	}
	return fmt.Errorf("%q is not a PoSt proof of filecoin-proofs-api (StackedDrgWinning{size}V1, StackedDrgWindow{size}V1 or V1_2)", shortString(s))
}

// sealProofOf is the seal proof a PoSt request's sectors are taken to have:
// the damocles task names only the PoSt proof, which fixes the sector size
// (all sealhost's plugins and filecoin-ffi's PoSt read of the seal proof);
// V1_1, what every sector sealed since network 16 uses.
func (p PoStProof) sealProofOf() SealProof { return SealProof(5 + int64(p)%5) }

// WindowPoStTask is damocles' window_post task.
type WindowPoStTask struct {
	MinerID   uint64           `json:"miner_id"`
	ProofType PoStProof        `json:"proof_type"`
	Replicas  []PoStReplicaRef `json:"replicas"`
	Seed      Bytes32          `json:"seed"`
}

// PoStReplicaRef is one sector of a window_post task.
type PoStReplicaRef struct {
	SectorID   uint64  `json:"sector_id"`
	CommR      Bytes32 `json:"comm_r"`
	CacheDir   string  `json:"cache_dir"`
	SealedFile string  `json:"sealed_file"`
}

// WindowPoStOutput is the window_post output: SnarkProofs as base64
// strings (encoding/json's []byte form), faulty sector numbers.
type WindowPoStOutput struct {
	Proofs [][]byte `json:"proofs"`
	Faults []uint64 `json:"faults"`
}

func (t *WindowPoStTask) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	var reps []json.RawMessage
	if err := first(f.get("miner_id", &t.MinerID), f.get("proof_type", &t.ProofType), f.get("seed", &t.Seed), f.get("replicas", &reps)); err != nil {
		return err
	}
	if len(reps) == 0 {
		return fmt.Errorf("replicas is empty: a PoSt proves at least one sector")
	}
	t.Replicas = make([]PoStReplicaRef, len(reps))
	for i, r := range reps {
		rf, err := object(r)
		if err != nil {
			return fmt.Errorf("replicas[%d]: %v", i, err)
		}
		p := &t.Replicas[i]
		if err := first(rf.get("sector_id", &p.SectorID), rf.get("comm_r", &p.CommR), rf.get("cache_dir", &p.CacheDir), rf.get("sealed_file", &p.SealedFile)); err != nil {
			return fmt.Errorf("replicas[%d]: %v", i, err)
		}
	}
	return nil
}

func decodeWindowPoSt(raw json.RawMessage) (proto.Message, error) {
	var t WindowPoStTask
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("window_post task: %v", err)
	}
	if t.ProofType < 5 {
		return nil, fmt.Errorf("window_post task: proof_type %s is a winning PoSt proof", postProofNames[t.ProofType])
	}
	req := &sealv1.WindowPoStRequest{MinerId: t.MinerID, RegisteredPostProof: int64(t.ProofType), Randomness: t.Seed[:]}
	for _, r := range t.Replicas {
		c, err := commcid.ReplicaCommitmentV1ToCID(r.CommR[:])
		if err != nil {
			return nil, fmt.Errorf("window_post task: sector %d comm_r: %v", r.SectorID, err)
		}
		req.Sectors = append(req.Sectors, &sealv1.PoStSector{RegisteredSealProof: int64(t.ProofType.sealProofOf()), SectorNumber: r.SectorID,
			SealedCid: c.String(), CachePath: r.CacheDir, SealedPath: r.SealedFile})
	}
	return req, nil
}

func encodeWindowPoStOutput(_, resp proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.WindowPoStResponse](resp)
	if err != nil {
		return nil, err
	}
	o := WindowPoStOutput{Proofs: [][]byte{}, Faults: r.GetFaultySectors()}
	if o.Faults == nil {
		o.Faults = []uint64{}
	}
	for _, p := range r.GetProofs() {
		o.Proofs = append(o.Proofs, p.GetProof())
	}
	if len(o.Proofs) == 0 && len(o.Faults) == 0 {
		return nil, fmt.Errorf("window_post answer has neither proofs nor faulty sectors")
	}
	return marshal(o)
}

func encodeWindowPoSt(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.WindowPoStRequest](req)
	if err != nil {
		return nil, err
	}
	if len(r.GetRandomness()) != 32 {
		return nil, fmt.Errorf("window_post: randomness is %d bytes, want 32", len(r.GetRandomness()))
	}
	t := WindowPoStTask{MinerID: r.GetMinerId(), ProofType: PoStProof(r.GetRegisteredPostProof()), Seed: Bytes32(r.GetRandomness())}
	for i, s := range r.GetSectors() {
		c, err := commitmentOf(fmt.Sprintf("sectors[%d].sealed_cid", i), s.GetSealedCid(), commcid.CIDToReplicaCommitmentV1)
		if err != nil {
			return nil, err
		}
		t.Replicas = append(t.Replicas, PoStReplicaRef{SectorID: s.GetSectorNumber(), CommR: c, CacheDir: s.GetCachePath(), SealedFile: s.GetSealedPath()})
	}
	return marshal(t)
}

func decodeWindowPoStOutput(req proto.Message, out json.RawMessage) (proto.Message, error) {
	q, err := as[*sealv1.WindowPoStRequest](req)
	if err != nil {
		return nil, err
	}
	var o WindowPoStOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("window_post output: %v", err)
	}
	r := &sealv1.WindowPoStResponse{FaultySectors: o.Faults}
	for _, p := range o.Proofs {
		r.Proofs = append(r.Proofs, &sealv1.PoStProof{RegisteredPostProof: q.GetRegisteredPostProof(), Proof: p})
	}
	return r, nil
}
