package seal

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	commcid "github.com/filecoin-project/go-fil-commcid"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// fakeHost answers every stage at once with outputs derived from its
// inputs, so the test can check that each stage got the previous stage's
// answer. It records every call in order.
type fakeHost struct {
	mu    sync.Mutex
	calls []call
	// fail makes the call of (sector, stage) fail with that error.
	fail map[key]error
	// report, when set, gives each call's report; default: processor
	// "<stage>.0", no wait, no run time.
	report func(sector uint64, stage config.Stage) client.Report
	// gate, when set, is called at the start of every call (and may block).
	gate func(ctx context.Context, sector uint64, stage config.Stage) error
	// badCommD makes pc2 return a comm_d unlike tree_d's.
	badCommD bool
	// realCIDs makes tree_d and pc2 answer CIDs of the real kinds (the
	// zero piece's comm_d, a made-up comm_r) instead of "d-N" and "r-N".
	realCIDs bool
	// c2, when set, is c2's answer for a sector; default: a 192-byte
	// proof that says nothing of its verification.
	c2     func(sector uint64) *sealv1.C2Response
	status *taskv1.StatusResponse
	// running counts calls in progress per stage; peak is its maximum.
	running, peak map[config.Stage]int
}

type key struct {
	sector uint64
	stage  config.Stage
}

type call struct {
	key
	input string // what the stage got from the previous one
}

func newFake() *fakeHost {
	return &fakeHost{fail: map[key]error{}, running: map[config.Stage]int{}, peak: map[config.Stage]int{}}
}

func (f *fakeHost) do(ctx context.Context, s *sealv1.Sector, stage config.Stage, input string) (client.Report, error) {
	k := key{s.GetSectorNumber(), stage}
	f.mu.Lock()
	f.calls = append(f.calls, call{k, input})
	f.running[stage]++
	f.peak[stage] = max(f.peak[stage], f.running[stage])
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running[stage]--
		f.mu.Unlock()
	}()
	rep := client.Report{Processor: string(stage) + ".0"}
	if f.report != nil {
		rep = f.report(k.sector, stage)
	}
	if f.gate != nil {
		if err := f.gate(ctx, k.sector, stage); err != nil {
			return client.Report{}, err
		}
	}
	return rep, f.fail[k]
}

func (f *fakeHost) TreeD(ctx context.Context, req *sealv1.TreeDRequest) (*sealv1.TreeDResponse, client.Report, error) {
	rep, err := f.do(ctx, req.GetSector(), config.StageTreeD, req.GetPieces()[0].GetPieceCid())
	if err != nil {
		return nil, rep, err
	}
	return &sealv1.TreeDResponse{UnsealedCid: f.commD(req.GetSector().GetSectorNumber())}, rep, nil
}

func (f *fakeHost) PC1(ctx context.Context, req *sealv1.PC1Request) (*sealv1.PC1Response, client.Report, error) {
	rep, err := f.do(ctx, req.GetSector(), config.StagePC1, fmt.Sprintf("%x", req.GetTicket()[:2]))
	if err != nil {
		return nil, rep, err
	}
	return &sealv1.PC1Response{Phase1Output: fmt.Appendf(nil, "p1-%d", req.GetSector().GetSectorNumber())}, rep, nil
}

func (f *fakeHost) PC2(ctx context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, client.Report, error) {
	rep, err := f.do(ctx, req.GetSector(), config.StagePC2, string(req.GetPhase1Output()))
	if err != nil {
		return nil, rep, err
	}
	n := req.GetSector().GetSectorNumber()
	d := f.commD(n)
	if f.badCommD {
		d = "other"
	}
	return &sealv1.PC2Response{SealedCid: f.commR(n), UnsealedCid: d}, rep, nil
}

func (f *fakeHost) commD(n uint64) string {
	if f.realCIDs {
		return ZeroPieceCID(2048) // a CC sector's comm_d is its one zero piece's
	}
	return fmt.Sprintf("d-%d", n)
}

func (f *fakeHost) commR(n uint64) string {
	if !f.realCIDs {
		return fmt.Sprintf("r-%d", n)
	}
	r := sha256.Sum256(fmt.Appendf(nil, "comm_r %d", n))
	r[31] &= 0x3f
	c, err := commcid.ReplicaCommitmentV1ToCID(r[:])
	if err != nil {
		panic(err)
	}
	return c.String()
}

func (f *fakeHost) C1(ctx context.Context, req *sealv1.C1Request) (*sealv1.C1Response, client.Report, error) {
	rep, err := f.do(ctx, req.GetSector(), config.StageC1, req.GetSealedCid()+"/"+req.GetUnsealedCid())
	if err != nil {
		return nil, rep, err
	}
	return &sealv1.C1Response{Phase1Output: fmt.Appendf(nil, "c1-%d", req.GetSector().GetSectorNumber())}, rep, nil
}

func (f *fakeHost) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, client.Report, error) {
	rep, err := f.do(ctx, req.GetSector(), config.StageC2, string(req.GetPhase1Output()))
	if err != nil {
		return nil, rep, err
	}
	if f.c2 != nil {
		return f.c2(req.GetSector().GetSectorNumber()), rep, nil
	}
	return &sealv1.C2Response{Proof: make([]byte, 192)}, rep, nil
}

func (f *fakeHost) Status(context.Context) (*taskv1.StatusResponse, error) {
	if f.status == nil {
		return nil, errors.New("no status")
	}
	return f.status, nil
}

func prepare(t *testing.T, n int) []Sector {
	t.Helper()
	s, err := Prepare(PrepareRequest{Dir: t.TempDir(), SectorBytes: 2048, MinerID: 1000, First: 1, Count: n, RandSeed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunEverySectorThroughEveryStageInOrder(t *testing.T) {
	const n = 6
	f := newFake()
	sectors := prepare(t, n)
	prog := NewProgress(n)
	sum, err := Run(context.Background(), Request{Host: f, Sectors: sectors, Progress: prog})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || sum.Done != n || sum.Sectors != n {
		t.Fatalf("done %d of %d, OK %v; want all %d", sum.Done, sum.Sectors, sum.OK(), n)
	}
	bySector := map[uint64][]call{}
	for _, c := range f.calls {
		bySector[c.sector] = append(bySector[c.sector], c)
	}
	for _, s := range sectors {
		num := s.ID.GetSectorNumber()
		got := bySector[num]
		if len(got) != len(config.SealingStages) {
			t.Fatalf("sector %d: %d calls, want %d: %v", num, len(got), len(config.SealingStages), got)
		}
		want := []string{
			ZeroPieceCID(2048),
			fmt.Sprintf("%x", s.Ticket[:2]),
			fmt.Sprintf("p1-%d", num),
			fmt.Sprintf("r-%d/d-%d", num, num),
			fmt.Sprintf("c1-%d", num),
		}
		for i, st := range config.SealingStages {
			if got[i].stage != st || got[i].input != want[i] {
				t.Errorf("sector %d call %d: %s with %q, want %s with %q", num, i, got[i].stage, got[i].input, st, want[i])
			}
		}
	}
	for i, r := range sum.Results {
		if r.Sector != uint64(i+1) || !r.Done || r.Err != nil || r.SealedCID != fmt.Sprintf("r-%d", i+1) || r.ProofBytes != 192 {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	for _, st := range sum.Stages {
		if st.Done != n || st.Failed != 0 || st.Processors[string(st.Stage)+".0"] != n {
			t.Errorf("stage %s: %+v, want %d done on %s.0", st.Stage, st, n, st.Stage)
		}
	}
	for _, c := range prog.Snapshot() {
		if c.Done != n || c.InFlight != 0 || c.Failed != 0 {
			t.Errorf("progress %+v, want %d done and nothing in flight", c, n)
		}
	}
}

// TestRunSubmitsEverySectorAtOnce holds every tree_d call until all of
// them have arrived: the driver must not wait for one sector before
// submitting the next (the host's dispatcher does the queueing).
func TestRunSubmitsEverySectorAtOnce(t *testing.T) {
	const n = 5
	f := newFake()
	arrived := make(chan struct{}, n)
	all := make(chan struct{})
	var once sync.Once
	f.gate = func(ctx context.Context, _ uint64, st config.Stage) error {
		if st != config.StageTreeD {
			return nil
		}
		arrived <- struct{}{}
		if len(arrived) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("not every sector was submitted at once")
		}
	}
	sum, err := Run(context.Background(), Request{Host: f, Sectors: prepare(t, n)})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || f.peak[config.StageTreeD] != n {
		t.Fatalf("done %d, tree_d peak concurrency %d; want %d and %d", sum.Done, f.peak[config.StageTreeD], n, n)
	}
}

func TestRunReportsErrorsPerSector(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail map[key]error
		bad  bool
		// want: failed sector → stage
		want map[uint64]config.Stage
		msg  map[uint64]string
	}{
		{name: "none", want: map[uint64]config.Stage{}},
		{
			name: "two stages",
			fail: map[key]error{{2, config.StagePC1}: errors.New("pc1 exploded"), {4, config.StageC2}: errors.New("no gpu")},
			want: map[uint64]config.Stage{2: config.StagePC1, 4: config.StageC2},
			msg:  map[uint64]string{2: "pc1 exploded", 4: "no gpu"},
		},
		{
			name: "every sector at tree_d",
			fail: map[key]error{{1, config.StageTreeD}: errors.New("x"), {2, config.StageTreeD}: errors.New("x"), {3, config.StageTreeD}: errors.New("x"), {4, config.StageTreeD}: errors.New("x")},
			want: map[uint64]config.Stage{1: config.StageTreeD, 2: config.StageTreeD, 3: config.StageTreeD, 4: config.StageTreeD},
		},
		{
			name: "pc2 disagrees with tree_d",
			bad:  true,
			want: map[uint64]config.Stage{1: config.StagePC2, 2: config.StagePC2, 3: config.StagePC2, 4: config.StagePC2},
			msg:  map[uint64]string{1: "comm_d other"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 4
			f := newFake()
			if tc.fail != nil {
				f.fail = tc.fail
			}
			f.badCommD = tc.bad
			prog := NewProgress(n)
			sum, err := Run(context.Background(), Request{Host: f, Sectors: prepare(t, n), Progress: prog})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Done != n-len(tc.want) || sum.OK() != (len(tc.want) == 0) {
				t.Errorf("done %d OK %v, want %d", sum.Done, sum.OK(), n-len(tc.want))
			}
			failedAt := map[config.Stage]int{}
			for _, r := range sum.Results {
				st, ok := tc.want[r.Sector]
				if r.Done == ok {
					t.Errorf("sector %d: done %v", r.Sector, r.Done)
					continue
				}
				if !ok {
					continue
				}
				failedAt[st]++
				if r.FailedStage != st || r.Err == nil || !strings.Contains(r.Err.Error(), tc.msg[r.Sector]) {
					t.Errorf("sector %d: failed at %s with %v, want %s with %q", r.Sector, r.FailedStage, r.Err, st, tc.msg[r.Sector])
				}
				// Nothing after the failing stage was called.
				for _, c := range f.calls {
					if c.sector == r.Sector && stageIndex(c.stage) > stageIndex(st) {
						t.Errorf("sector %d failed at %s but %s was called", r.Sector, st, c.stage)
					}
				}
			}
			for _, ss := range sum.Stages {
				// A pc2 answer that contradicts tree_d counts as a failed
				// pc2, like a pc2 error.
				if ss.Failed != failedAt[ss.Stage] {
					t.Errorf("stage %s: %d failed, want %d", ss.Stage, ss.Failed, failedAt[ss.Stage])
				}
			}
			for _, c := range prog.Snapshot() {
				if c.InFlight != 0 {
					t.Errorf("progress: %s has %d in flight after the run", c.Stage, c.InFlight)
				}
			}
			var text strings.Builder
			if err := sum.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for num, st := range tc.want {
				if want := fmt.Sprintf("sector %d at %s: ", num, st); !strings.Contains(text.String(), want) {
					t.Errorf("summary lacks %q:\n%s", want, text.String())
				}
			}
		})
	}
}

func stageIndex(s config.Stage) int {
	for i, st := range config.SealingStages {
		if st == s {
			return i
		}
	}
	return -1
}

// TestSummaryNumbers checks medians and maxima against reports the fake
// makes up: sector i waits i*10ms and runs i*100ms in every stage, pc1
// adds a second processor for even sectors.
func TestSummaryNumbers(t *testing.T) {
	const n = 5
	f := newFake()
	f.report = func(sector uint64, st config.Stage) client.Report {
		p := string(st) + ".0"
		if st == config.StagePC1 && sector%2 == 0 {
			p = "pc1.1"
		}
		return client.Report{Processor: p, Waited: time.Duration(sector) * 10 * time.Millisecond, Ran: time.Duration(sector) * 100 * time.Millisecond}
	}
	f.fail[key{5, config.StageC2}] = errors.New("late failure")
	f.status = &taskv1.StatusResponse{Locks: []*taskv1.Lock{
		{Name: "gpu1", Share: map[string]float64{"c2": 0.25, "pc2": 0.75}},
		{Name: "gpu0", Share: map[string]float64{"pc2": 0.5, "c2": 0.5}},
	}}
	sum, err := Run(context.Background(), Request{Host: f, Sectors: prepare(t, n)})
	if err != nil {
		t.Fatal(err)
	}
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	for _, ss := range sum.Stages {
		want := StageSummary{Stage: ss.Stage, Done: 5, Ran: Dist{ms(300), ms(500)}, Waited: Dist{ms(30), ms(50)}}
		if ss.Stage == config.StageC2 {
			// Sector 5 failed: its run does not count, its wait does.
			want.Done, want.Failed, want.Ran = 4, 1, Dist{ms(200), ms(400)}
		}
		if ss.Done != want.Done || ss.Failed != want.Failed || ss.Ran != want.Ran || ss.Waited != want.Waited {
			t.Errorf("stage %s: done %d failed %d ran %+v waited %+v; want %d %d %+v %+v",
				ss.Stage, ss.Done, ss.Failed, ss.Ran, ss.Waited, want.Done, want.Failed, want.Ran, want.Waited)
		}
		if ss.Stage == config.StagePC1 && (ss.Processors["pc1.0"] != 3 || ss.Processors["pc1.1"] != 2) {
			t.Errorf("pc1 processors %v, want pc1.0 3 and pc1.1 2", ss.Processors)
		}
	}
	if len(sum.Locks) != 2 || sum.Locks[0].Lock != "gpu0" || sum.Locks[1].Share["pc2"] != 0.75 {
		t.Errorf("locks %+v, want gpu0 then gpu1 with pc2 0.75", sum.Locks)
	}
}

func TestDist(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		in       []time.Duration
		p50, max time.Duration
	}{
		{"empty", nil, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond},
		{"even takes the lower middle", ms(4, 1, 3, 2), 2 * time.Millisecond, 4 * time.Millisecond},
		{"odd", ms(9, 1, 5), 5 * time.Millisecond, 9 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := distOf(tc.in)
			if d.P50 != tc.p50 || d.Max != tc.max {
				t.Errorf("distOf(%v) = %+v, want p50 %v max %v", tc.in, d, tc.p50, tc.max)
			}
		})
	}
}

func TestRunCancelledDuringSeedWait(t *testing.T) {
	f := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	f.gate = func(_ context.Context, _ uint64, st config.Stage) error {
		if st == config.StagePC2 {
			once.Do(func() { time.AfterFunc(50*time.Millisecond, cancel) })
		}
		return nil
	}
	sum, err := Run(ctx, Request{Host: f, Sectors: prepare(t, 2), WaitSeed: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sum.Results {
		if r.Done || r.FailedStage != config.StageC1 || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("sector %d: done %v at %s: %v; want failed at c1 waiting for the seed", r.Sector, r.Done, r.FailedStage, r.Err)
		}
	}
	for _, c := range f.calls {
		if c.stage == config.StageC1 || c.stage == config.StageC2 {
			t.Errorf("%s called after cancellation", c.stage)
		}
	}
}

func TestRunRefusesEmptyRequests(t *testing.T) {
	if _, err := Run(context.Background(), Request{Sectors: prepare(t, 1)}); err == nil {
		t.Error("no host: no error")
	}
	if _, err := Run(context.Background(), Request{Host: newFake()}); err == nil {
		t.Error("no sectors: no error")
	}
}

func TestRunWaitsForTheSeed(t *testing.T) {
	f := newFake()
	prog := NewProgress(2)
	peak := 0 // written by the sampler only, read after it ends
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			peak = max(peak, prog.SeedWaiting())
			time.Sleep(time.Millisecond)
		}
	}()
	begin := time.Now()
	sum, err := Run(context.Background(), Request{Host: f, Sectors: prepare(t, 2), WaitSeed: 100 * time.Millisecond, Progress: prog})
	close(stop)
	<-done
	if err != nil || !sum.OK() {
		t.Fatalf("%v %+v", err, sum)
	}
	if took := time.Since(begin); took < 100*time.Millisecond {
		t.Errorf("run took %v, less than the seed wait", took)
	}
	if peak < 1 || prog.SeedWaiting() != 0 {
		t.Errorf("seed waiting peaked at %d, ends at %d; want at least 1, then 0", peak, prog.SeedWaiting())
	}
}
