package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The stages besides sealing through the bridge and fakeproc, beyond what
// the conformance kit checks: what the damocles side needs that sealhost's
// messages do not say (add_pieces' alignment, snap_encode's p_aux), and
// what reaches the caller when the processor fails or answers nonsense.

// laterStage is a bridge for stage over fakeproc with env, and the
// conformance test's inputs in a fresh folder.
func laterStage(t *testing.T, stage string, env ...string) (*stages, *plugintest.Inputs) {
	t.Helper()
	codec, err := damocles.Lookup(stage)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := startBridge(t, fakeSpec(t, stage, env...), time.Second)
	in, err := inputs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &stages{b: b, codec: codec, bin: b.spec.Bin}, in
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func zeroCID(size uint64) string {
	return zerocomm.ZeroPieceCommitment(abi.PaddedPieceSize(size).Unpadded()).String()
}

// TestAddPiecesAligned: a damocles add_pieces processor writes pieces
// back to back; the bridge sends the zero pieces sealhost's add_pieces
// aligns and fills with, so the staged file and the answer are sealhost's.
func TestAddPiecesAligned(t *testing.T) {
	s, _ := laterStage(t, "add_pieces")
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small"), filepath.Join(dir, "big")
	os.WriteFile(small, bytes.Repeat([]byte{1}, 127), 0o644)
	os.WriteFile(big, make([]byte, 1016), 0o644)
	req := &sealv1.AddPiecesRequest{Sector: &sealv1.Sector{RegisteredSealProof: 5, MinerId: 1000, SectorNumber: 3}, StagedPath: filepath.Join(dir, "staged"),
		Pieces: []*sealv1.PieceFile{{Path: small, Size: 128}, {Path: big, Size: 1024}}}
	r, err := s.AddPieces(ctx30(t), req)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []uint64
	for _, p := range r.GetPieces() {
		sizes = append(sizes, p.GetSize())
	}
	if want := []uint64{128, 128, 256, 512, 1024}; !slices.Equal(sizes, want) {
		t.Fatalf("pieces %v, want sizes %v: the request's two, aligned, with the zero pieces between", r.GetPieces(), want)
	}
	for _, i := range []int{1, 2, 3, 4} {
		if got := r.GetPieces()[i].GetPieceCid(); got != zeroCID(sizes[i]) {
			t.Errorf("pieces[%d] %s, want the zero piece %s", i, got, zeroCID(sizes[i]))
		}
	}
	if st, err := os.Stat(req.StagedPath); err != nil || st.Size() != 2048 {
		t.Fatalf("staged file %v, %v; want the sector's 2048 bytes", st, err)
	}
	// A piece_cid is not in the damocles task, so the answer is checked.
	req.Pieces[1].PieceCid = r.GetPieces()[0].GetPieceCid()
	_, err = s.AddPieces(ctx30(t), req)
	var se *sdk.Error
	if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, "the file is not the deal's data") || !strings.Contains(se.Message, "damocles add_pieces processor") {
		t.Fatalf("a piece whose data is not its piece_cid's: %v", err)
	}
}

// callLater sends in's request of s's stage, one of the stages besides
// sealing.
func callLater(t *testing.T, s *stages, in *plugintest.Inputs) error {
	var err error
	switch s.codec.Stage {
	case "snap_encode":
		_, err = s.SnapEncode(ctx30(t), in.SnapEncode)
	case "snap_prove":
		_, err = s.SnapProve(ctx30(t), in.SnapProve)
	case "winning_post":
		_, err = s.WinningPoSt(ctx30(t), in.WinningPoSt)
	case "add_pieces":
		_, err = s.AddPieces(ctx30(t), in.AddPieces)
	default:
		t.Fatalf("no stage %s here", s.codec.Stage)
	}
	return err
}

// TestLaterAnswers: what each stage answers through the bridge: the
// proofs FAKE (fakeproc's) and marked not verified, snap_encode's new
// comm_d the staged data's and its p_aux where `host processor` reads
// comm_r_last_new back.
func TestLaterAnswers(t *testing.T) {
	fake := []byte("FAKE: produced by plugins/damocles/testdata/fakeproc")
	t.Run("snap_encode", func(t *testing.T) {
		s, in := laterStage(t, "snap_encode")
		r, err := s.SnapEncode(ctx30(t), in.SnapEncode)
		if err != nil {
			t.Fatal(err)
		}
		if r.GetUnsealedCid() != in.SnapEncode.GetPieces()[0].GetPieceCid() || !strings.HasPrefix(r.GetSealedCid(), "bagboea4b5abc") {
			t.Fatalf("answer %v: want comm_d_new the only piece's CID, comm_r_new a sealed CID", r)
		}
		if _, err := damocles.CommRLastNew(in.SnapEncode); err != nil {
			t.Fatalf("comm_r_last_new for a damocles worker upstream: %v", err)
		}
		replica, _ := os.ReadFile(in.SnapEncode.GetNewReplicaPath())
		if !bytes.HasPrefix(replica, fake) {
			t.Errorf("the new replica starts %q, want fakeproc's note", replica[:min(60, len(replica))])
		}
	})
	t.Run("snap_prove", func(t *testing.T) {
		s, in := laterStage(t, "snap_prove")
		r, err := s.SnapProve(ctx30(t), in.SnapProve)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.GetProof()) != 192 || !bytes.HasPrefix(r.GetProof(), fake) || r.GetVerified() || !strings.Contains(r.GetVerification(), "not verified by sealhost: damocles snap_prove processor") {
			t.Fatalf("answer %q", r)
		}
		in.SnapProve.VanillaProofs = nil
		if _, err := s.SnapProve(ctx30(t), in.SnapProve); err == nil || !strings.Contains(err.Error(), "make them where the new replica is (GenerateUpdateVanillaProofs") {
			t.Fatalf("without vanilla proofs: %v", err)
		}
	})
	t.Run("winning_post", func(t *testing.T) {
		s, in := laterStage(t, "winning_post")
		r, err := s.WinningPoSt(ctx30(t), in.WinningPoSt)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.GetProofs()) != 1 || !bytes.HasPrefix(r.GetProofs()[0].GetProof(), fake) || r.GetProofs()[0].GetRegisteredPostProof() != in.WinningPoSt.GetRegisteredPostProof() ||
			r.GetVerified() || !strings.Contains(r.GetVerification(), "not verified by sealhost: damocles winning_post processor") {
			t.Fatalf("answer %v", r)
		}
		in.WinningPoSt.RegisteredPostProof = 10
		if _, err := s.WinningPoSt(ctx30(t), in.WinningPoSt); err == nil || !strings.Contains(err.Error(), "is a window PoSt proof") {
			t.Fatalf("a window proof type: %v", err)
		}
	})
}

// TestLaterWrongShape: a processor answering another shape than its
// stage's fails the call, not retryable, naming the processor and what
// is wrong; nothing panics.
func TestLaterWrongShape(t *testing.T) {
	for _, tc := range []struct {
		stage, output, want string
	}{
		{"snap_encode", `{"comm_r_new":[1,2]}`, "comm_r_new: has 2 integers, want exactly 32"},
		{"snap_encode", `true`, "want a JSON object, got a boolean"},
		{"snap_prove", `{"proof":[1,2]}`, "snap_prove output: want the proof's bytes"},
		{"snap_prove", `[1,2,256]`, "element 2"},
		{"winning_post", `{"proofs":[[1,2]]}`, "proofs[0]: want a SnarkProof, a base64 string"},
		{"winning_post", `{}`, "winning_post output: proofs is missing"},
		{"add_pieces", `[{"commitment":[1],"size":1016}]`, "piece_infos[0]: commitment: has 1 integers"},
		{"add_pieces", `{"pieces":[]}`, "want an array of {commitment, size}, got an object"},
	} {
		t.Run(tc.stage+" "+tc.output, func(t *testing.T) {
			s, in := laterStage(t, tc.stage, "FAKEPROC_OUTPUT="+tc.output)
			err := callLater(t, s, in)
			var se *sdk.Error
			if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, "damocles "+tc.stage+" processor") || !strings.Contains(se.Message, tc.want) {
				t.Fatalf("got %v, want a non-retryable error naming the processor and saying %q", err, tc.want)
			}
		})
	}
}

// TestErrMsg: a processor's err_msg reaches the caller with the stage,
// the binary, and the fix where the message names a known cause.
func TestErrMsg(t *testing.T) {
	for _, tc := range []struct {
		stage, msg, fix string
	}{
		{"add_pieces", "open piece file: No such file or directory (os error 2)", "the processor reads each local piece file itself"},
		{"add_pieces", "open staged file: /d/s: Permission denied (os error 13)", "its folder must exist on this box and be writable"},
		{"snap_prove", "invalid vanilla proof for partition 0", "must be GenerateUpdateVanillaProofs' output for this update"},
		{"winning_post", "read tree_r_last: No such file or directory (os error 2)", "a path of the request is not there where the processor runs"},
		{"snap_encode", "write new replica: No space left on device (os error 28)", "is full"},
		{"snap_prove", "CUDA error 2: out of memory", "CUDA_VISIBLE_DEVICES"},
		{"winning_post", "sector 7 is faulty", ""},
	} {
		t.Run(tc.stage+" "+tc.msg, func(t *testing.T) {
			s, in := laterStage(t, tc.stage, "FAKEPROC_ERR="+tc.msg)
			err := callLater(t, s, in)
			var se *sdk.Error
			if !errors.As(err, &se) || se.Retryable || !strings.Contains(se.Message, "damocles "+tc.stage+" processor "+s.bin+" failed the request: "+tc.msg) {
				t.Fatalf("got %v, want a non-retryable error quoting the err_msg after the processor", err)
			}
			if hasFix := strings.Contains(se.Message, "\nfix: "); hasFix != (tc.fix != "") || !strings.Contains(se.Message, tc.fix) {
				t.Fatalf("%q: want the fix %q", se.Message, tc.fix)
			}
		})
	}
}
