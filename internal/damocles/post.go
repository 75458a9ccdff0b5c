package damocles

import (
	"bytes"
	"encoding/base64"
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

func (p PoStProof) MarshalJSON() ([]byte, error) { return postProofs.marshal(int64(p)) }

func (p *PoStProof) UnmarshalJSON(raw []byte) error {
	v, err := postProofs.unmarshal(raw)
	if err == nil {
		*p = PoStProof(v)
	}
	return err
}

var postProofs = variants{names: postProofNames, what: "a PoSt proof", example: "StackedDrgWindow32GiBV1_2",
	known: "StackedDrgWinning{size}V1, StackedDrgWindow{size}V1 or V1_2"}

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

func (o *WindowPoStOutput) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	if o.Proofs, err = snarkProofs(f); err != nil {
		return err
	}
	return f.get("faults", &o.Faults)
}

func (o *WinningPoStOutput) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	o.Proofs, err = snarkProofs(f)
	return err
}

// snarkProofs reads a PoSt output's proofs: serde writes each SnarkProof
// as a base64 string, and refuses anything else (encoding/json would take
// an array of integers too).
func snarkProofs(f fields) ([][]byte, error) {
	var list []json.RawMessage
	if err := f.get("proofs", &list); err != nil {
		return nil, err
	}
	out := make([][]byte, len(list))
	for i, r := range list {
		s, ok := stringOf(bytes.TrimSpace(r))
		if ok {
			var err error
			if out[i], err = base64.StdEncoding.DecodeString(s); err == nil {
				continue
			}
		}
		return nil, fmt.Errorf("proofs[%d]: want a SnarkProof, a base64 string, got %s", i, shortText(r))
	}
	return out, nil
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

// postTask reads a window_post or winning_post task (window: whether
// its proof type must be a window one) into its sectors.
func postTask(stage string, raw json.RawMessage, window bool) (WindowPoStTask, []*sealv1.PoStSector, error) {
	var t WindowPoStTask
	if err := t.UnmarshalJSON(raw); err != nil {
		return t, nil, fmt.Errorf("%s task: %v", stage, err)
	}
	if window && t.ProofType < 5 {
		return t, nil, fmt.Errorf("%s task: proof_type %s is a winning PoSt proof", stage, postProofNames[t.ProofType])
	}
	if !window && t.ProofType >= 5 {
		return t, nil, fmt.Errorf("%s task: proof_type %s is a window PoSt proof (want StackedDrgWinning{size}V1)", stage, postProofNames[t.ProofType])
	}
	var sectors []*sealv1.PoStSector
	for _, r := range t.Replicas {
		c, err := commcid.ReplicaCommitmentV1ToCID(r.CommR[:])
		if err != nil {
			return t, nil, fmt.Errorf("%s task: sector %d comm_r: %v", stage, r.SectorID, err)
		}
		sectors = append(sectors, &sealv1.PoStSector{RegisteredSealProof: int64(t.ProofType.sealProofOf()), SectorNumber: r.SectorID,
			SealedCid: c.String(), CachePath: r.CacheDir, SealedPath: r.SealedFile})
	}
	return t, sectors, nil
}

// replicasOf is postTask's inverse for a request's sectors.
func replicasOf(sectors []*sealv1.PoStSector) ([]PoStReplicaRef, error) {
	var reps []PoStReplicaRef
	for i, s := range sectors {
		c, err := commitmentOf(fmt.Sprintf("sectors[%d].sealed_cid", i), s.GetSealedCid(), commcid.CIDToReplicaCommitmentV1)
		if err != nil {
			return nil, err
		}
		reps = append(reps, PoStReplicaRef{SectorID: s.GetSectorNumber(), CommR: c, CacheDir: s.GetCachePath(), SealedFile: s.GetSealedPath()})
	}
	return reps, nil
}

func decodeWindowPoSt(raw json.RawMessage) (proto.Message, error) {
	t, sectors, err := postTask("window_post", raw, true)
	if err != nil {
		return nil, err
	}
	return &sealv1.WindowPoStRequest{MinerId: t.MinerID, RegisteredPostProof: int64(t.ProofType), Randomness: t.Seed[:], Sectors: sectors}, nil
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
	return encodePoSt("window_post", true, r.GetMinerId(), r.GetRegisteredPostProof(), r.GetRandomness(), r.GetSectors())
}

// encodePoSt writes a window_post or winning_post task (window: whether
// its proof type must be a window one), postTask's inverse. The task
// names no seal proof, so every sector's must be of the PoSt proof's
// size.
func encodePoSt(stage string, window bool, miner uint64, proof int64, randomness []byte, sectors []*sealv1.PoStSector) (json.RawMessage, error) {
	t := WindowPoStTask{MinerID: miner, ProofType: PoStProof(proof)}
	if _, err := t.ProofType.MarshalJSON(); err != nil {
		return nil, fmt.Errorf("%s: %v", stage, err)
	}
	if window && proof < 5 {
		return nil, fmt.Errorf("%s: registered_post_proof %s is a winning PoSt proof", stage, postProofNames[proof])
	}
	if !window && proof >= 5 {
		return nil, fmt.Errorf("%s: registered_post_proof %s is a window PoSt proof (want StackedDrgWinning{size}V1)", stage, postProofNames[proof])
	}
	if len(randomness) != 32 {
		return nil, fmt.Errorf("%s: randomness is %d bytes, want 32", stage, len(randomness))
	}
	t.Seed = Bytes32(randomness)
	if len(sectors) == 0 {
		return nil, fmt.Errorf("%s: no sectors: a PoSt proves at least one", stage)
	}
	for i, s := range sectors {
		if err := sameSize("registered_post_proof "+postProofNames[proof], proof, SealProof(s.GetRegisteredSealProof())); err != nil {
			return nil, fmt.Errorf("%s: sectors[%d]: %v", stage, i, err)
		}
	}
	var err error
	if t.Replicas, err = replicasOf(sectors); err != nil {
		return nil, fmt.Errorf("%s: %v", stage, err)
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
	if len(o.Proofs) == 0 && len(o.Faults) == 0 {
		return nil, fmt.Errorf("window_post output has neither proofs nor faults")
	}
	r := &sealv1.WindowPoStResponse{FaultySectors: o.Faults}
	for _, p := range o.Proofs {
		r.Proofs = append(r.Proofs, &sealv1.PoStProof{RegisteredPostProof: q.GetRegisteredPostProof(), Proof: p})
	}
	return r, nil
}

// WinningPoStTask is damocles' winning_post task: window_post's fields,
// with a StackedDrgWinning proof type.
type WinningPoStTask = WindowPoStTask

// WinningPoStOutput is the winning_post output: SnarkProofs as base64
// strings, as window_post's.
type WinningPoStOutput struct {
	Proofs [][]byte `json:"proofs"`
}

func decodeWinningPoSt(raw json.RawMessage) (proto.Message, error) {
	t, sectors, err := postTask("winning_post", raw, false)
	if err != nil {
		return nil, err
	}
	return &sealv1.WinningPoStRequest{MinerId: t.MinerID, RegisteredPostProof: int64(t.ProofType), Randomness: t.Seed[:], Sectors: sectors}, nil
}

func encodeWinningPoStOutput(_, resp proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.WinningPoStResponse](resp)
	if err != nil {
		return nil, err
	}
	o := WinningPoStOutput{Proofs: [][]byte{}}
	for _, p := range r.GetProofs() {
		o.Proofs = append(o.Proofs, p.GetProof())
	}
	if len(o.Proofs) == 0 {
		return nil, fmt.Errorf("winning_post answer has no proofs")
	}
	return marshal(o)
}

func encodeWinningPoSt(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.WinningPoStRequest](req)
	if err != nil {
		return nil, err
	}
	return encodePoSt("winning_post", false, r.GetMinerId(), r.GetRegisteredPostProof(), r.GetRandomness(), r.GetSectors())
}

func decodeWinningPoStOutput(req proto.Message, out json.RawMessage) (proto.Message, error) {
	q, err := as[*sealv1.WinningPoStRequest](req)
	if err != nil {
		return nil, err
	}
	var o WinningPoStOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("winning_post output: %v", err)
	}
	if len(o.Proofs) == 0 {
		return nil, fmt.Errorf("winning_post output has no proofs")
	}
	r := &sealv1.WinningPoStResponse{}
	for _, p := range o.Proofs {
		r.Proofs = append(r.Proofs, &sealv1.PoStProof{RegisteredPostProof: q.GetRegisteredPostProof(), Proof: p})
	}
	return r, nil
}
