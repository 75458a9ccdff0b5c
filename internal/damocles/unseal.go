package damocles

import (
	"encoding/json"
	"fmt"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// UnsealTask is damocles' unseal task; its output is the number of bytes
// written. offset and num_bytes are unpadded, as UnsealRange takes them.
type UnsealTask struct {
	RegisteredProof SealProof `json:"registered_proof"`
	ProverID        Bytes32   `json:"prover_id"`
	SectorID        uint64    `json:"sector_id"`
	CommD           Bytes32   `json:"comm_d"`
	Ticket          Bytes32   `json:"ticket"`
	CacheDir        string    `json:"cache_dir"`
	SealedFile      string    `json:"sealed_file"`
	UnsealedOutput  string    `json:"unsealed_output"`
	Offset          uint64    `json:"offset"`
	NumBytes        uint64    `json:"num_bytes"`
}

func (t *UnsealTask) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	return first(f.get("registered_proof", &t.RegisteredProof), f.get("prover_id", &t.ProverID), f.get("sector_id", &t.SectorID),
		f.get("comm_d", &t.CommD), f.get("ticket", &t.Ticket), f.get("cache_dir", &t.CacheDir), f.get("sealed_file", &t.SealedFile),
		f.get("unsealed_output", &t.UnsealedOutput), f.get("offset", &t.Offset), f.get("num_bytes", &t.NumBytes))
}

func decodeUnseal(raw json.RawMessage) (proto.Message, error) {
	var t UnsealTask
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("unseal task: %v", err)
	}
	miner, err := MinerOf(t.ProverID)
	if err != nil {
		return nil, fmt.Errorf("unseal task: %v", err)
	}
	d, err := commcid.DataCommitmentV1ToCID(t.CommD[:])
	if err != nil {
		return nil, fmt.Errorf("unseal task: comm_d: %v", err)
	}
	return &sealv1.UnsealRequest{Sector: sectorOf(t.RegisteredProof, miner, t.SectorID), CachePath: t.CacheDir, SealedPath: t.SealedFile,
		UnsealedPath: t.UnsealedOutput, Ticket: t.Ticket[:], UnsealedCid: d.String(), Offset: t.Offset, NumBytes: t.NumBytes}, nil
}

func encodeUnsealOutput(_, resp proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.UnsealResponse](resp)
	if err != nil {
		return nil, err
	}
	return marshal(r.GetNumBytes())
}

func encodeUnseal(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.UnsealRequest](req)
	if err != nil {
		return nil, err
	}
	if len(r.GetTicket()) != 32 {
		return nil, fmt.Errorf("unseal: ticket is %d bytes, want 32", len(r.GetTicket()))
	}
	d, err := commitmentOf("unseal: unsealed_cid", r.GetUnsealedCid(), commcid.CIDToDataCommitmentV1)
	if err != nil {
		return nil, err
	}
	s := r.GetSector()
	return marshal(UnsealTask{RegisteredProof: SealProof(s.GetRegisteredSealProof()), ProverID: ProverID(s.GetMinerId()), SectorID: s.GetSectorNumber(),
		CommD: d, Ticket: Bytes32(r.GetTicket()), CacheDir: r.GetCachePath(), SealedFile: r.GetSealedPath(), UnsealedOutput: r.GetUnsealedPath(),
		Offset: r.GetOffset(), NumBytes: r.GetNumBytes()})
}

func decodeUnsealOutput(_ proto.Message, out json.RawMessage) (proto.Message, error) {
	var n uint64
	if err := json.Unmarshal(out, &n); err != nil {
		return nil, fmt.Errorf("unseal output: want the number of bytes written, got %s", kind(out))
	}
	return &sealv1.UnsealResponse{NumBytes: n}, nil
}
