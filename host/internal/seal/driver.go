package seal

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// Host runs stage tasks: a running host's task API (ClientHost) or, in
// tests, a fake. Each call returns how the host ran the task (processor,
// wait, run time), as far as it got, also on failure.
type Host interface {
	TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, client.Report, error)
	PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, client.Report, error)
	PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, client.Report, error)
	C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, client.Report, error)
	C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, client.Report, error)
	// Status is the host's view (locks, waiting and running tasks); the
	// driver reads lock shares from it at the end. A Host that cannot
	// tell returns an error and the summary goes without lock shares.
	Status(ctx context.Context) (*taskv1.StatusResponse, error)
}

// ClientHost adapts a task API client to Host.
type ClientHost struct{ C *client.Client }

// reported makes one task API call with its report.
func reported[Req, Resp any](ctx context.Context, req Req, call func(context.Context, Req, ...client.CallOption) (Resp, error)) (Resp, client.Report, error) {
	var r client.Report
	resp, err := call(ctx, req, client.WithReport(&r))
	return resp, r, err
}

func (h ClientHost) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, client.Report, error) {
	return reported(ctx, req, h.C.TreeD)
}

func (h ClientHost) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, client.Report, error) {
	return reported(ctx, req, h.C.PC1)
}

func (h ClientHost) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, client.Report, error) {
	return reported(ctx, req, h.C.PC2)
}

func (h ClientHost) C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, client.Report, error) {
	return reported(ctx, req, h.C.C1)
}

// WindowPoSt is no sealing stage (Host has no such call); `host processor
// window_post` uses it.
func (h ClientHost) WindowPoSt(ctx context.Context, req *sealv1.WindowPoStRequest) (*sealv1.WindowPoStResponse, client.Report, error) {
	return reported(ctx, req, h.C.WindowPoSt)
}

// SnapEncode, SnapProve, WinningPoSt and AddPieces are no stages of a
// sealing run either; `host processor` serves them.
func (h ClientHost) SnapEncode(ctx context.Context, req *sealv1.SnapEncodeRequest) (*sealv1.SnapEncodeResponse, client.Report, error) {
	return reported(ctx, req, h.C.SnapEncode)
}

func (h ClientHost) SnapProve(ctx context.Context, req *sealv1.SnapProveRequest) (*sealv1.SnapProveResponse, client.Report, error) {
	return reported(ctx, req, h.C.SnapProve)
}

func (h ClientHost) WinningPoSt(ctx context.Context, req *sealv1.WinningPoStRequest) (*sealv1.WinningPoStResponse, client.Report, error) {
	return reported(ctx, req, h.C.WinningPoSt)
}

func (h ClientHost) AddPieces(ctx context.Context, req *sealv1.AddPiecesRequest) (*sealv1.AddPiecesResponse, client.Report, error) {
	return reported(ctx, req, h.C.AddPieces)
}

// Unseal is no sealing stage either; `host processor unseal` uses it.
func (h ClientHost) Unseal(ctx context.Context, req *sealv1.UnsealRequest) (*sealv1.UnsealResponse, client.Report, error) {
	return reported(ctx, req, h.C.Unseal)
}

func (h ClientHost) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, client.Report, error) {
	return reported(ctx, req, h.C.C2)
}

func (h ClientHost) Status(ctx context.Context) (*taskv1.StatusResponse, error) {
	return h.C.Status(ctx)
}

// Request is one run of the pipeline.
type Request struct {
	Host    Host
	Sectors []Sector
	// WaitSeed is the pause between PC2 and C1 that stands for the chain's
	// seed wait (about 75 minutes on mainnet); 0 goes straight on.
	WaitSeed time.Duration
	// Progress, when set, is updated as tasks start and end.
	Progress *Progress
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
}

// Run pushes every sector through tree_d → pc1 → pc2 → c1 → c2, all
// sectors at once, each stage's task submitted as soon as the sector's
// previous stage answered: the host's dispatcher decides what runs when, as
// it would for a sealing manager with one sealing thread per sector. A
// sector whose task fails stops there; the others go on. Run returns when
// every sector has finished or stopped, or ctx is done (then the sectors in
// flight fail with ctx's error). The error is non-nil only for a request it
// cannot run; sector failures are in the summary.
func Run(ctx context.Context, req Request) (*Summary, error) {
	if req.Host == nil {
		return nil, errors.New("seal: no host")
	}
	if len(req.Sectors) == 0 {
		return nil, errors.New("seal: no sectors")
	}
	now := req.Now
	if now == nil {
		now = time.Now
	}
	results := make([]SectorResult, len(req.Sectors))
	begin := now()
	var wg sync.WaitGroup
	for i := range req.Sectors {
		wg.Go(func() {
			results[i] = sealOne(ctx, req, &req.Sectors[i], now)
		})
	}
	wg.Wait()
	sum := summarise(results, now().Sub(begin))
	if st, err := req.Host.Status(ctx); err == nil {
		sum.Locks = lockShares(st)
	}
	return sum, nil
}

// stageRun is the outcome of one stage call, for the summary and progress.
type stageRun struct {
	stage  config.Stage
	report client.Report
	took   time.Duration
	err    error
}

func sealOne(ctx context.Context, req Request, s *Sector, now func() time.Time) SectorResult {
	res := SectorResult{Sector: s.ID.GetSectorNumber()}
	// do runs one stage call and records it; false stops the sector.
	do := func(stage config.Stage, call func() (client.Report, error)) bool {
		req.Progress.submitted(stage)
		start := now()
		rep, err := call()
		took := now().Sub(start)
		req.Progress.finished(stage, err == nil)
		sr := StageResult{Stage: stage, Processor: rep.Processor, Waited: rep.Waited, Ran: rep.Ran, Total: took}
		if rep.Processor == "" {
			// The host answers before the task got a processor only when
			// it refused or the call was cancelled: all of it was waiting.
			sr.Waited, sr.Ran = took, 0
		}
		res.Stages = append(res.Stages, sr)
		if err != nil {
			res.FailedStage = stage
			res.Err = err
			return false
		}
		return true
	}
	var (
		treeD *sealv1.TreeDResponse
		pc1   *sealv1.PC1Response
		pc2   *sealv1.PC2Response
		c1    *sealv1.C1Response
		c2    *sealv1.C2Response
	)
	ok := do(config.StageTreeD, func() (client.Report, error) {
		var rep client.Report
		var err error
		treeD, rep, err = req.Host.TreeD(ctx, &sealv1.TreeDRequest{Sector: s.ID, CachePath: s.CachePath, StagedPath: s.StagedPath, Pieces: s.Pieces})
		return rep, err
	})
	if ok {
		res.UnsealedCID = treeD.GetUnsealedCid()
	}
	ok = ok && do(config.StagePC1, func() (client.Report, error) {
		var rep client.Report
		var err error
		pc1, rep, err = req.Host.PC1(ctx, &sealv1.PC1Request{Sector: s.ID, CachePath: s.CachePath, StagedPath: s.StagedPath, SealedPath: s.SealedPath, Ticket: s.Ticket, Pieces: s.Pieces})
		return rep, err
	})
	ok = ok && do(config.StagePC2, func() (client.Report, error) {
		var rep client.Report
		var err error
		pc2, rep, err = req.Host.PC2(ctx, &sealv1.PC2Request{Sector: s.ID, Phase1Output: pc1.GetPhase1Output(), CachePath: s.CachePath, SealedPath: s.SealedPath})
		return rep, err
	})
	if ok && pc2.GetUnsealedCid() != treeD.GetUnsealedCid() {
		// Both come from the same pieces: a plugin that disagrees with
		// itself has a bug worth stopping for.
		res.FailedStage, res.Err = config.StagePC2, fmt.Errorf("pc2 returned comm_d %s, tree_d returned %s", pc2.GetUnsealedCid(), treeD.GetUnsealedCid())
		ok = false
	}
	if ok {
		res.SealedCID = pc2.GetSealedCid()
	}
	if ok && req.WaitSeed > 0 {
		t := time.NewTimer(req.WaitSeed)
		req.Progress.seedWait(1)
		select {
		case <-t.C:
			req.Progress.seedWait(-1)
		case <-ctx.Done():
			req.Progress.seedWait(-1)
			t.Stop()
			res.FailedStage, res.Err = config.StageC1, fmt.Errorf("waiting for the seed: %w", ctx.Err())
			ok = false
		}
	}
	ok = ok && do(config.StageC1, func() (client.Report, error) {
		var rep client.Report
		var err error
		c1, rep, err = req.Host.C1(ctx, &sealv1.C1Request{Sector: s.ID, SealedCid: pc2.GetSealedCid(), UnsealedCid: pc2.GetUnsealedCid(), CachePath: s.CachePath, SealedPath: s.SealedPath, Ticket: s.Ticket, Seed: s.Seed, Pieces: s.Pieces})
		return rep, err
	})
	ok = ok && do(config.StageC2, func() (client.Report, error) {
		var rep client.Report
		var err error
		c2, rep, err = req.Host.C2(ctx, &sealv1.C2Request{Sector: s.ID, Phase1Output: c1.GetPhase1Output()})
		return rep, err
	})
	if ok && len(c2.GetProof()) == 0 {
		res.FailedStage, res.Err = config.StageC2, errors.New("c2 returned an empty proof")
		ok = false
	}
	if ok {
		res.Done = true
		res.ProofBytes = len(c2.GetProof())
		res.Verified = c2.GetVerified()
		res.Verification = c2.GetVerification()
	}
	return res
}

func lockShares(st *taskv1.StatusResponse) []LockShare {
	var out []LockShare
	for _, l := range st.GetLocks() {
		ls := LockShare{Lock: l.GetName(), Share: map[string]float64{}}
		for stage, v := range l.GetShare() {
			ls.Share[stage] = v
		}
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lock < out[j].Lock })
	return out
}
