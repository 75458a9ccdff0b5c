package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// stages serves the one sealhost stage the bridge is configured for by
// translating each call to a damocles task and the answer back
// (internal/damocles holds both encodings).
type stages struct {
	b     *bridge
	codec *damocles.Codec
	bin   string
}

// run is every stage's body: encode, call, decode.
func run[Resp proto.Message](ctx context.Context, s *stages, req proto.Message) (Resp, error) {
	var zero Resp
	if err := checkProof(req); err != nil {
		return zero, err
	}
	task, err := s.codec.EncodeTask(req)
	if err != nil {
		// The request cannot be expressed to a damocles processor (an
		// unknown proof type, a piece size that is no piece's): retrying
		// will not change that.
		return zero, sdk.Errorf("%s: the request cannot be sent to a damocles processor: %v", s.codec.Stage, err)
	}
	out, err := s.b.call(ctx, task)
	if err != nil {
		return zero, err
	}
	resp, err := s.codec.DecodeOutput(req, out)
	if err != nil {
		return zero, sdk.Errorf("%s answered an output sealhost cannot read: %v", s.b.spec.describe(), err)
	}
	r, ok := resp.(Resp)
	if !ok {
		return zero, fmt.Errorf("damocles codec for %s answered a %T (a bug in internal/damocles)", s.codec.Stage, resp)
	}
	// A proof (c2, snap_prove, the PoSts) comes back unverified: the
	// damocles protocol says nothing about verification, and this plugin
	// has no verifier of its own (that would need filecoin-ffi).
	if f := r.ProtoReflect().Descriptor().Fields().ByName("verification"); f != nil {
		r.ProtoReflect().Set(f, protoreflect.ValueOfString(fmt.Sprintf(
			"not verified by sealhost: damocles %s processor %s answered it; the damocles protocol carries no verification", s.codec.Stage, s.bin)))
	}
	return r, nil
}

// checkProof refuses a sector whose proof type damocles cannot name, and
// a pc2 or c2 whose sector disagrees with the proof type its
// phase1_output names. Damocles' pc2 and c2 tasks carry no proof type of
// their own (the processor reads it from pc1out or c1out), so without
// this a wrong sector would go unnoticed.
func checkProof(req proto.Message) error {
	if w, ok := req.(interface{ GetRegisteredPostProof() int64 }); ok {
		// A PoSt names no sector, only its proof type (the encoder checks
		// its sectors against it).
		if _, err := damocles.PoStProof(w.GetRegisteredPostProof()).MarshalJSON(); err != nil {
			return sdk.Errorf("%v", err)
		}
		return nil
	}
	r, ok := req.(interface{ GetSector() *sealv1.Sector })
	if !ok || r.GetSector() == nil {
		return sdk.Errorf("request has no sector: set sector {registered_seal_proof, miner_id, sector_number}")
	}
	p := damocles.SealProof(r.GetSector().GetRegisteredSealProof())
	if _, err := p.MarshalJSON(); err != nil {
		return sdk.Errorf("sector: %v", err)
	}
	var out []byte
	switch q := req.(type) {
	case *sealv1.PC2Request:
		out = q.GetPhase1Output()
	case *sealv1.C2Request:
		out = q.GetPhase1Output()
	default:
		return nil
	}
	named, err := namedProof(out)
	if err != nil {
		return sdk.Errorf("phase1_output is not a filecoin-proofs output naming its registered_proof: %v: %.80q", err, out)
	}
	if named != p {
		return sdk.Errorf("sector's registered_seal_proof is %d (%v) but phase1_output is for %v", int64(p), p, named)
	}
	return nil
}

// namedProof reads the registered_proof key of a PC1 or C1 output. serde
// writes it first, so this stops there instead of reading a 50 MB C1
// output through (EncodeTask checks the whole value).
func namedProof(out []byte) (damocles.SealProof, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, errors.New("not a JSON object")
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return 0, err
		}
		if key == "registered_proof" {
			var p damocles.SealProof
			err := dec.Decode(&p)
			return p, err
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("no registered_proof key")
}

func (s *stages) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	return run[*sealv1.TreeDResponse](ctx, s, req)
}

func (s *stages) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, error) {
	return run[*sealv1.PC1Response](ctx, s, req)
}

func (s *stages) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
	r, err := run[*sealv1.PC2Response](ctx, s, req)
	var cut interrupted
	var stop stopped
	var why string
	switch {
	case err == nil || workerRestores(req.GetCachePath()):
		return r, err
	case errors.As(err, &cut):
		why = cut.err.Message
	case errors.As(err, &stop):
		why = "cancelled (" + stop.err.Error() + "), and the damocles processor killed to stop it"
	default:
		return r, err
	}
	// pc2 encodes the sealed file in place: one cut short leaves it
	// half-encoded, and a retry over it seals wrong data (an invalid proof
	// at c1, damocles#837). The task names no staged file to restore from,
	// so the retry flag would be a lie.
	return nil, sdk.Errorf("%s; pc2 encodes the sealed file in place, so %s may now be half-encoded (damocles#837): "+
		"copy the sector's staged file over it (or run pc1 again) before another pc2", why, req.GetSealedPath())
}

func workerRestores(cacheDir string) bool {
	_, err := os.Lstat(filepath.Join(cacheDir, damocles.PC2RunningMarker))
	return err == nil
}

func (s *stages) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, error) {
	return run[*sealv1.WindowPoStResponse](ctx, s, req)
}

func (s *stages) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, error) {
	return run[*sealv1.WinningPoStResponse](ctx, s, req)
}

func (s *stages) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, error) {
	return run[*sealv1.SnapEncodeResponse](ctx, s, req)
}

// SnapProve sends only the vanilla proofs: damocles' snap_prove task
// carries those and no file (damocles-worker makes them where the replica
// is). The files the request names anyway are what the proofs are of, so
// one that is not there makes the request wrong; it is refused before the
// processor spends a SNARK on it.
func (s *stages) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, error) {
	for _, f := range []struct {
		field, path string
		dir         bool
	}{{"new_replica_path", req.GetNewReplicaPath(), false}, {"new_cache_path", req.GetNewCachePath(), true},
		{"sector_key_path", req.GetSectorKeyPath(), false}, {"sector_key_cache_path", req.GetSectorKeyCachePath(), true}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil || st.IsDir() != f.dir {
			return nil, sdk.Errorf("snap_prove: %s %s is not there (%v): the request's vanilla proofs are of that update, whose files are missing; "+
				"a damocles snap_prove task carries only the proofs, so name no files or the update's own", f.field, f.path, or(err, "not a "+map[bool]string{true: "folder", false: "file"}[f.dir]))
		}
	}
	return run[*sealv1.SnapProveResponse](ctx, s, req)
}

func (s *stages) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, error) {
	return run[*sealv1.AddPiecesResponse](ctx, s, req)
}

func or(err error, alt string) string {
	if err != nil {
		return err.Error()
	}
	return alt
}

func (s *stages) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, error) {
	return run[*sealv1.UnsealResponse](ctx, s, req)
}

func (s *stages) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	return run[*sealv1.C2Response](ctx, s, req)
}

// plugin is the sdk.Plugin serving exactly the configured stage.
func (s *stages) plugin() sdk.Plugin {
	p := sdk.Plugin{
		Name:     "damocles",
		Version:  version,
		Unserved: fmt.Sprintf("this damocles bridge runs a %s processor (-stage %s); declare one plugin block per damocles processor", s.codec.Stage, s.codec.Stage),
	}
	switch s.codec.SealStage {
	case sealv1.Stage_STAGE_TREE_D:
		p.TreeD = s
	case sealv1.Stage_STAGE_PC1:
		p.PC1 = s
	case sealv1.Stage_STAGE_PC2:
		p.PC2 = s
	case sealv1.Stage_STAGE_C2:
		p.C2 = s
	case sealv1.Stage_STAGE_WINDOW_POST:
		p.WindowPoSt = s
	case sealv1.Stage_STAGE_UNSEAL:
		p.Unseal = s
	case sealv1.Stage_STAGE_SNAP_ENCODE:
		p.SnapEncode = s
	case sealv1.Stage_STAGE_SNAP_PROVE:
		p.SnapProve = s
	case sealv1.Stage_STAGE_WINNING_POST:
		p.WinningPoSt = s
	case sealv1.Stage_STAGE_ADD_PIECES:
		p.AddPieces = s
	}
	return p
}
