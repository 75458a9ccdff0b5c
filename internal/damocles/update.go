package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// UpdateProof is a sector update (snap) proof type, numbered as
// abi.RegisteredUpdateProof (sealv1 registered_update_proof) and written
// by filecoin-proofs-api's variant name, StackedDrg{size}V1.
type UpdateProof int64

var updateProofNames = []string{"StackedDrg2KiBV1", "StackedDrg8MiBV1", "StackedDrg512MiBV1", "StackedDrg32GiBV1", "StackedDrg64GiBV1"}

func (p UpdateProof) MarshalJSON() ([]byte, error) { return updateProofs.marshal(int64(p)) }

func (p *UpdateProof) UnmarshalJSON(raw []byte) error {
	v, err := updateProofs.unmarshal(raw)
	if err == nil {
		*p = UpdateProof(v)
	}
	return err
}

var updateProofs = variants{names: updateProofNames, what: "an update proof", example: "StackedDrg32GiBV1",
	known: "StackedDrg{2KiB,8MiB,512MiB,32GiB,64GiB}V1"}

// sealProofOf is the seal proof an update task's sector is taken to have:
// the damocles task names only the update proof, which fixes the size
// (what a plugin and filecoin-ffi's update calls read of it); V1_1, what
// every sector sealed since network 16 uses.
func (p UpdateProof) sealProofOf() SealProof { return SealProof(5 + int64(p)) }

// sizeIndex is the sector size of a seal, update or PoSt proof, as its
// place in the 2KiB, 8MiB, 512MiB, 32GiB, 64GiB order every proof
// family is numbered in.
func sizeIndex(proof int64) int64 { return proof % 5 }

// sameSize refuses a sector whose seal proof is for another sector size
// than the proof (update or PoSt) a damocles task names instead of it:
// the task cannot carry the sector's own, so the processor would take
// the other size.
func sameSize(what string, named int64, sector SealProof) error {
	if _, err := sector.MarshalJSON(); err != nil {
		return fmt.Errorf("sector: %v", err)
	}
	if sizeIndex(int64(sector)) != sizeIndex(named) {
		return fmt.Errorf("the sector's registered_seal_proof %v is not of the size of %s: the damocles task names only the latter", sector, what)
	}
	return nil
}

// SnapEncodeTask is damocles' snap_encode task. sector_path and
// sector_cache_path are the sector key's (the CC sector's sealed file and
// cache).
type SnapEncodeTask struct {
	RegisteredProof UpdateProof `json:"registered_proof"`
	NewReplicaPath  string      `json:"new_replica_path"`
	NewCachePath    string      `json:"new_cache_path"`
	SectorPath      string      `json:"sector_path"`
	SectorCachePath string      `json:"sector_cache_path"`
	StagedDataPath  string      `json:"staged_data_path"`
	PieceInfos      []PieceInfo `json:"piece_infos"`
}

// SnapEncodeOutput is filecoin-proofs-api's EmptySectorUpdateEncoded.
type SnapEncodeOutput struct {
	CommRNew     Bytes32 `json:"comm_r_new"`
	CommRLastNew Bytes32 `json:"comm_r_last_new"`
	CommDNew     Bytes32 `json:"comm_d_new"`
}

// SnapProveTask is damocles' snap_prove task; its output is the proof, a
// byte vector. vannilla_proofs (sic) are the partition proofs the worker
// made where the replica is; the task names no file.
type SnapProveTask struct {
	RegisteredProof UpdateProof `json:"registered_proof"`
	VanillaProofs   []Bytes     `json:"vannilla_proofs"`
	CommROld        Bytes32     `json:"comm_r_old"`
	CommRNew        Bytes32     `json:"comm_r_new"`
	CommDNew        Bytes32     `json:"comm_d_new"`
}

// maxPartitions bounds snap_prove's vanilla proofs: a 32 or 64 GiB update
// has 16 partitions.
const maxPartitions = 64

func (t *SnapEncodeTask) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	if err := first(f.get("registered_proof", &t.RegisteredProof), f.get("new_replica_path", &t.NewReplicaPath), f.get("new_cache_path", &t.NewCachePath),
		f.get("sector_path", &t.SectorPath), f.get("sector_cache_path", &t.SectorCachePath), f.get("staged_data_path", &t.StagedDataPath)); err != nil {
		return err
	}
	pieces, err := f.raw("piece_infos")
	if err != nil {
		return err
	}
	t.PieceInfos, err = readPieces(pieces)
	return err
}

func (o *SnapEncodeOutput) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	return first(f.get("comm_r_new", &o.CommRNew), f.get("comm_r_last_new", &o.CommRLastNew), f.get("comm_d_new", &o.CommDNew))
}

func (t *SnapProveTask) UnmarshalJSON(raw []byte) error {
	f, err := object(raw)
	if err != nil {
		return err
	}
	var proofs []json.RawMessage
	if err := first(f.get("registered_proof", &t.RegisteredProof), f.get("vannilla_proofs", &proofs), f.get("comm_r_old", &t.CommROld),
		f.get("comm_r_new", &t.CommRNew), f.get("comm_d_new", &t.CommDNew)); err != nil {
		return err
	}
	if len(proofs) == 0 {
		return fmt.Errorf("vannilla_proofs is empty: the task names no replica to make them from, so it must carry one per partition")
	}
	if len(proofs) > maxPartitions {
		return fmt.Errorf("vannilla_proofs has %d entries, at most %d are taken (an update has at most 16 partitions)", len(proofs), maxPartitions)
	}
	t.VanillaProofs = make([]Bytes, len(proofs))
	for i, p := range proofs {
		if err := t.VanillaProofs[i].UnmarshalJSON(p); err != nil {
			return fmt.Errorf("vannilla_proofs[%d]: %v", i, err)
		}
		if len(t.VanillaProofs[i]) == 0 {
			return fmt.Errorf("vannilla_proofs[%d] is empty: a partition's vanilla proof is GenerateUpdateVanillaProofs' bytes", i)
		}
	}
	return nil
}

// --- snap_encode

func decodeSnapEncode(raw json.RawMessage) (proto.Message, error) {
	var t SnapEncodeTask
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("snap_encode task: %v", err)
	}
	m, n := sectorOfPath(t.SectorPath)
	req := &sealv1.SnapEncodeRequest{Sector: sectorOf(t.RegisteredProof.sealProofOf(), m, n), RegisteredUpdateProof: int64(t.RegisteredProof),
		NewReplicaPath: t.NewReplicaPath, NewCachePath: t.NewCachePath, SectorKeyPath: t.SectorPath, SectorKeyCachePath: t.SectorCachePath,
		StagedPath: t.StagedDataPath}
	for i, p := range t.PieceInfos {
		pi, err := pieceOf(i, p)
		if err != nil {
			return nil, fmt.Errorf("snap_encode task: %v", err)
		}
		req.Pieces = append(req.Pieces, pi)
	}
	return req, nil
}

// PAuxFile is rust-fil-proofs' p_aux in a cache dir: comm_c, then
// comm_r_last, 32 bytes each.
const PAuxFile = "p_aux"

func readPAux(dir string) (commC, commRLast Bytes32, mod os.FileInfo, err error) {
	p := filepath.Join(dir, PAuxFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return commC, commRLast, nil, err
	}
	if len(b) != 64 {
		return commC, commRLast, nil, fmt.Errorf("%s has %d bytes, want 64 (comm_c, comm_r_last)", p, len(b))
	}
	st, err := os.Stat(p)
	if err != nil {
		return commC, commRLast, nil, err
	}
	copy(commC[:], b[:32])
	copy(commRLast[:], b[32:])
	return commC, commRLast, st, nil
}

// CommRLastNew is what damocles' snap_encode output carries and the task
// API's SnapEncodeResponse does not: the new replica's tree-r-last root.
// rust-fil-proofs' encode_into writes it to the new cache's p_aux, next
// to the sector key's comm_c, as damocles-worker finds tree_d's root in
// its file. The p_aux must be this encode's: its comm_c the sector key's
// (an update keeps comm_c), and not older than the new replica (written
// before it); a p_aux that is missing (a proofs library from before it
// wrote one) or stale is an error that says so, never a guessed value.
func CommRLastNew(req *sealv1.SnapEncodeRequest) (Bytes32, error) {
	where := filepath.Join(req.GetNewCachePath(), PAuxFile)
	fail := func(format string, args ...any) (Bytes32, error) {
		return Bytes32{}, fmt.Errorf("snap_encode: damocles' output needs comm_r_last_new, which the task API's answer does not carry; it is read from %s, where rust-fil-proofs' encode_into writes it, but %s", where, fmt.Sprintf(format, args...))
	}
	c, last, st, err := readPAux(req.GetNewCachePath())
	if err != nil {
		return fail("%v (the host's plugin wrote none: its proofs library predates that, or it is no real encode)", err)
	}
	oldC, _, _, err := readPAux(req.GetSectorKeyCachePath())
	if err != nil {
		return fail("the sector key's p_aux, to check it against, cannot be read: %v", err)
	}
	if c != oldC {
		return fail("its comm_c is not the sector key's (%s): it belongs to another sector", filepath.Join(req.GetSectorKeyCachePath(), PAuxFile))
	}
	if rep, err := os.Stat(req.GetNewReplicaPath()); err == nil && st.ModTime().Before(rep.ModTime()) {
		return fail("it is older than the new replica %s (%s < %s): an earlier encode's", req.GetNewReplicaPath(), st.ModTime().UTC().Format("15:04:05.000000"), rep.ModTime().UTC().Format("15:04:05.000000"))
	}
	return last, nil
}

func encodeSnapEncodeOutput(req, resp proto.Message) (json.RawMessage, error) {
	q, err := as[*sealv1.SnapEncodeRequest](req)
	if err != nil {
		return nil, err
	}
	r, err := as[*sealv1.SnapEncodeResponse](resp)
	if err != nil {
		return nil, err
	}
	var o SnapEncodeOutput
	if o.CommRNew, o.CommDNew, err = commitmentsOf("snap_encode answer", r.GetSealedCid(), r.GetUnsealedCid()); err != nil {
		return nil, err
	}
	if o.CommRLastNew, err = CommRLastNew(q); err != nil {
		return nil, err
	}
	return marshal(o)
}

func encodeSnapEncode(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.SnapEncodeRequest](req)
	if err != nil {
		return nil, err
	}
	up := UpdateProof(r.GetRegisteredUpdateProof())
	if err := checkUpdate(up, r.GetSector()); err != nil {
		return nil, fmt.Errorf("snap_encode: %v", err)
	}
	t := SnapEncodeTask{RegisteredProof: up, NewReplicaPath: r.GetNewReplicaPath(), NewCachePath: r.GetNewCachePath(),
		SectorPath: r.GetSectorKeyPath(), SectorCachePath: r.GetSectorKeyCachePath(), StagedDataPath: r.GetStagedPath(), PieceInfos: []PieceInfo{}}
	for i, p := range r.GetPieces() {
		dp, err := damoclesPiece(i, p)
		if err != nil {
			return nil, fmt.Errorf("snap_encode: %v", err)
		}
		t.PieceInfos = append(t.PieceInfos, dp)
	}
	return marshal(t)
}

// checkUpdate refuses an update proof damocles has no name for, or one
// for another sector size than the sector's.
func checkUpdate(up UpdateProof, sector *sealv1.Sector) error {
	name, err := up.MarshalJSON()
	if err != nil {
		return err
	}
	return sameSize("registered_update_proof "+string(bytes.Trim(name, `"`)), int64(up), SealProof(sector.GetRegisteredSealProof()))
}

// decodeSnapEncodeOutput keeps comm_r_new and comm_d_new; comm_r_last_new
// has no field in SnapEncodeResponse, and a consumer of it (`host
// processor`) reads it back from the new cache's p_aux (CommRLastNew).
// So when the processor wrote a p_aux there, as rust-fil-proofs'
// encode_into does, the answer must agree with it. (A processor that
// writes none is not refused here: it is the next reader of p_aux that
// needs it, and that one says so.)
func decodeSnapEncodeOutput(req proto.Message, out json.RawMessage) (proto.Message, error) {
	q, err := as[*sealv1.SnapEncodeRequest](req)
	if err != nil {
		return nil, err
	}
	var o SnapEncodeOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("snap_encode output: %v", err)
	}
	if _, last, _, err := readPAux(q.GetNewCachePath()); err == nil && last != o.CommRLastNew {
		return nil, fmt.Errorf("snap_encode output: comm_r_last_new is %v, but the processor's own %s says %v",
			[]byte(o.CommRLastNew[:]), filepath.Join(q.GetNewCachePath(), PAuxFile), []byte(last[:]))
	}
	r, d, err := cidsOf("snap_encode output", "comm_r_new", "comm_d_new", o.CommRNew, o.CommDNew)
	if err != nil {
		return nil, err
	}
	return &sealv1.SnapEncodeResponse{SealedCid: r, UnsealedCid: d}, nil
}

// --- snap_prove

func decodeSnapProve(raw json.RawMessage) (proto.Message, error) {
	var t SnapProveTask
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("snap_prove task: %v", err)
	}
	req := &sealv1.SnapProveRequest{Sector: sectorOf(t.RegisteredProof.sealProofOf(), 0, 0), RegisteredUpdateProof: int64(t.RegisteredProof)}
	for _, c := range []struct {
		field string
		v     Bytes32
		conv  func([]byte) (cid.Cid, error)
		to    *string
	}{{"comm_r_old", t.CommROld, commcid.ReplicaCommitmentV1ToCID, &req.OldSealedCid}, {"comm_r_new", t.CommRNew, commcid.ReplicaCommitmentV1ToCID, &req.NewSealedCid},
		{"comm_d_new", t.CommDNew, commcid.DataCommitmentV1ToCID, &req.NewUnsealedCid}} {
		id, err := c.conv(c.v[:])
		if err != nil {
			return nil, fmt.Errorf("snap_prove task: %s: %v", c.field, err)
		}
		*c.to = id.String()
	}
	for _, p := range t.VanillaProofs {
		req.VanillaProofs = append(req.VanillaProofs, p)
	}
	return req, nil
}

func encodeSnapProveOutput(_, resp proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.SnapProveResponse](resp)
	if err != nil {
		return nil, err
	}
	if len(r.GetProof()) == 0 {
		return nil, fmt.Errorf("snap_prove answer has no proof")
	}
	return intArray(r.GetProof()), nil
}

func encodeSnapProve(req proto.Message) (json.RawMessage, error) {
	r, err := as[*sealv1.SnapProveRequest](req)
	if err != nil {
		return nil, err
	}
	if len(r.GetVanillaProofs()) == 0 {
		return nil, fmt.Errorf("snap_prove: the request has no vanilla_proofs, and a damocles snap_prove task carries only those, no file to make them from: make them where the new replica is (GenerateUpdateVanillaProofs, as damocles-worker does) and pass them, or serve snap_prove with plugins/ffi, which makes them from the request's files")
	}
	if len(r.GetVanillaProofs()) > maxPartitions {
		return nil, fmt.Errorf("snap_prove: %d vanilla_proofs, at most %d are taken (an update has at most 16 partitions)", len(r.GetVanillaProofs()), maxPartitions)
	}
	for i, p := range r.GetVanillaProofs() {
		if len(p) == 0 {
			return nil, fmt.Errorf("snap_prove: vanilla_proofs[%d] is empty: pass GenerateUpdateVanillaProofs' output unchanged", i)
		}
	}
	t := SnapProveTask{RegisteredProof: UpdateProof(r.GetRegisteredUpdateProof())}
	if err := checkUpdate(t.RegisteredProof, r.GetSector()); err != nil {
		return nil, fmt.Errorf("snap_prove: %v", err)
	}
	for _, c := range []struct {
		field, v string
		to       *Bytes32
		conv     func(cid.Cid) ([]byte, error)
	}{{"old_sealed_cid", r.GetOldSealedCid(), &t.CommROld, commcid.CIDToReplicaCommitmentV1}, {"new_sealed_cid", r.GetNewSealedCid(), &t.CommRNew, commcid.CIDToReplicaCommitmentV1},
		{"new_unsealed_cid", r.GetNewUnsealedCid(), &t.CommDNew, commcid.CIDToDataCommitmentV1}} {
		if *c.to, err = commitmentOf("snap_prove: "+c.field, c.v, c.conv); err != nil {
			return nil, err
		}
	}
	for _, p := range r.GetVanillaProofs() {
		t.VanillaProofs = append(t.VanillaProofs, p)
	}
	return marshal(t)
}

func decodeSnapProveOutput(_ proto.Message, out json.RawMessage) (proto.Message, error) {
	var b Bytes
	if err := json.Unmarshal(out, &b); err != nil {
		return nil, fmt.Errorf("snap_prove output: want the proof's bytes: %v", unwrapJSON(err))
	}
	return &sealv1.SnapProveResponse{Proof: b}, nil
}
