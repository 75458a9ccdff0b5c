package daemon

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

func TestStageProtoCoversEveryStage(t *testing.T) {
	seen := map[sealv1.Stage]bool{}
	for _, st := range config.Stages {
		p := StageProto(st)
		if p == sealv1.Stage_STAGE_UNSPECIFIED || seen[p] {
			t.Errorf("StageProto(%s) = %v", st, p)
		}
		seen[p] = true
	}
	if len(seen) != len(sealv1.Stage_name)-1 {
		t.Errorf("config.Stages maps to %d protocol stages, the protocol has %d", len(seen), len(sealv1.Stage_name)-1)
	}
}

// laterConfig serves the stages besides sealing on the mock, c2 and the
// SNARK stages sharing one GPU lock, with no unseal processor.
const laterConfig = `
lock "gpu0" {
  capacity = 1
}
limits {
  window_post = 1
}
processor "c2" {
  plugin = "mock"
  cpuset = "0"
  locks = ["gpu0"]
}
processor "snap_encode" {
  plugin = "mock"
  cpuset = "1"
  locks = ["gpu0"]
}
processor "snap_prove" {
  plugin = "mock"
  cpuset = "1"
  locks = ["gpu0"]
}
processor "window_post" {
  plugin = "mock"
  cpuset = "0"
  locks = ["gpu0"]
  concurrent = 2
}
processor "winning_post" {
  plugin = "mock"
  cpuset = "1"
  locks = ["gpu0"]
}
processor "add_pieces" {
  plugin = "mock"
  cpuset = "0"
}
`

// TestLaterStagesThroughSocket runs snap_encode, snap_prove, window_post,
// winning_post and add_pieces through a real host on the mock: each is
// dispatched to its own processor, takes the GPU lock (status shows a
// window_post holding it while a c2 waits), and a stage the host has no
// processor for is refused.
func TestLaterStagesThroughSocket(t *testing.T) {
	h := startHost(t, "-duration window_post=600ms,c2=50ms", laterConfig, hostOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := inputs(t, 7)

	var rep client.Report
	enc, err := h.c.SnapEncode(ctx, in.SnapEncode, client.WithReport(&rep))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Processor != "snap_encode.0" || enc.GetSealedCid() == "" {
		t.Fatalf("snap_encode on %q: %v", rep.Processor, enc)
	}
	in.SnapProve.NewSealedCid, in.SnapProve.NewUnsealedCid = enc.GetSealedCid(), enc.GetUnsealedCid()
	sp, err := h.c.SnapProve(ctx, in.SnapProve, client.WithReport(&rep))
	if err != nil || rep.Processor != "snap_prove.0" || len(sp.GetProof()) != 192 {
		t.Fatalf("snap_prove on %q: %v, %v", rep.Processor, sp, err)
	}

	// A window_post holds the GPU lock; a c2 submitted meanwhile waits.
	postDone := make(chan error, 1)
	var postRep client.Report
	go func() {
		resp, err := h.c.WindowPoSt(ctx, in.WindowPoSt, client.WithReport(&postRep))
		if err == nil && len(resp.GetProofs()) != 1 {
			err = errors.New("window_post answered no proof")
		}
		postDone <- err
	}()
	waitFor(t, 10*time.Second, "window_post holding gpu0", func() bool {
		l := h.status(t).GetLocks()
		return len(l) == 1 && len(l[0].GetHolders()) == 1 && l[0].GetHolders()[0].GetStage() == sealv1.Stage_STAGE_WINDOW_POST
	})
	c2Done := make(chan error, 1)
	go func() {
		_, err := h.c.C2(ctx, in.C2)
		c2Done <- err
	}()
	waitFor(t, 10*time.Second, "c2 waiting for gpu0", func() bool {
		st := h.status(t)
		w := st.GetLocks()[0].GetWaiters()
		var running *taskv1.Task
		for _, tk := range st.GetRunning() {
			if tk.GetStage() == sealv1.Stage_STAGE_WINDOW_POST {
				running = tk
			}
		}
		return len(w) == 1 && w[0].GetStage() == sealv1.Stage_STAGE_C2 && running != nil && running.GetSector() == nil
	})
	if err := <-postDone; err != nil || postRep.Processor != "window_post.0" {
		t.Fatalf("window_post on %q: %v", postRep.Processor, err)
	}
	if err := <-c2Done; err != nil {
		t.Fatalf("c2 after the window_post: %v", err)
	}

	wn, err := h.c.WinningPoSt(ctx, in.WinningPoSt, client.WithReport(&rep))
	if err != nil || rep.Processor != "winning_post.0" || len(wn.GetProofs()) != 1 {
		t.Fatalf("winning_post on %q: %v, %v", rep.Processor, wn, err)
	}
	ap, err := h.c.AddPieces(ctx, in.AddPieces, client.WithReport(&rep))
	if err != nil || rep.Processor != "add_pieces.0" || len(ap.GetPieces()) != 2 {
		t.Fatalf("add_pieces on %q: %v, %v", rep.Processor, ap, err)
	}
	if st, err := os.Stat(in.AddPieces.GetStagedPath()); err != nil || st.Size() != 2048 {
		t.Fatalf("staged file after add_pieces: %v", err)
	}

	_, err = h.c.Unseal(ctx, in.Unseal)
	var te *client.TaskError
	if !errors.As(err, &te) || te.Code != codes.Unimplemented || te.Stage != "unseal" {
		t.Fatalf("unseal with no unseal processor: %v, want UNIMPLEMENTED", err)
	}

	st := h.status(t)
	done := map[sealv1.Stage]int64{}
	for _, s := range st.GetStages() {
		done[s.GetStage()] = s.GetDone()
	}
	for _, s := range []sealv1.Stage{sealv1.Stage_STAGE_SNAP_ENCODE, sealv1.Stage_STAGE_SNAP_PROVE, sealv1.Stage_STAGE_WINDOW_POST,
		sealv1.Stage_STAGE_WINNING_POST, sealv1.Stage_STAGE_ADD_PIECES, sealv1.Stage_STAGE_C2} {
		if done[s] != 1 {
			t.Errorf("status: %v done %d, want 1 (%v)", s, done[s], done)
		}
	}
	if _, ok := done[sealv1.Stage_STAGE_UNSEAL]; ok {
		t.Error("status lists unseal, which no processor serves")
	}
}
