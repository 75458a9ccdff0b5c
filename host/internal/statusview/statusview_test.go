package statusview

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

// busy is a host in the middle of its work: a crash-looping processor, a
// restarted one, tasks running and waiting, a contended lock.
func busy() *taskv1.StatusResponse {
	now := 3*time.Hour + 25*time.Minute
	return &taskv1.StatusResponse{
		Instance: "sealhost", Pid: 4242, ConfigFile: "/etc/sealhost/config.hcl",
		StartedUnixNano: at(0), NowUnixNano: at(now), Confined: true,
		Processors: []*taskv1.Processor{
			{Id: "pc1.0", Stage: sealv1.Stage_STAGE_PC1, State: "running", Owner: "pc1.0#1", Pid: 5001, Cgroup: "/sys/fs/cgroup/cpuset/sealhost/sealhost@4242.99/pc1.0",
				Running: 2, Concurrent: 2, SinceUnixNano: at(time.Second), Confined: true, Done: 12},
			{Id: "pc2.0", Stage: sealv1.Stage_STAGE_PC2, State: "running", Owner: "pc2.0#3", Pid: 5077, Cgroup: "/sys/fs/cgroup/cpuset/sealhost/sealhost@4242.99/pc2.0",
				Running: 1, Concurrent: 1, Locks: []string{"gpu0"}, Restarts: 2, SinceUnixNano: at(now - 95*time.Second), Confined: true, Done: 9, Failed: 2,
				LastError: "plugin \"pc2.0\" (pid 5011) exited: signal: killed; last stderr lines:\n\tline one\n\tline two\n\tline three\n\tline four"},
			{Id: "c2.0", Stage: sealv1.Stage_STAGE_C2, State: "failed", Owner: "c2.0#5", Concurrent: 1, Locks: []string{"gpu0"}, Restarts: 5,
				SinceUnixNano: at(now - 40*time.Minute), Confined: true, Cgroup: "/sys/fs/cgroup/cpuset/sealhost/sealhost@4242.99/c2.0", Failed: 1,
				LastError: "crash loop: 5 failures in a row, trying again after a cool-down of 5m0s", NextTryUnixNano: at(now + 4*time.Minute + 10*time.Second)},
			{Id: "pc2.1", Stage: sealv1.Stage_STAGE_PC2, State: "running", Owner: "pc2.1#1", Pid: 5078, Cgroup: "/sys/fs/cgroup/cpuset/sealhost/sealhost@4242.99/pc2.1",
				Running: 1, Concurrent: 1, Locks: []string{"gpu1"}, SinceUnixNano: at(time.Second), Confined: true, Done: 3},
		},
		Running: []*taskv1.Task{
			{Id: 31, Stage: sealv1.Stage_STAGE_PC1, Processor: "pc1.0", Sector: &sealv1.Sector{MinerId: 1000, SectorNumber: 31}, StartedUnixNano: at(now - 2*time.Hour - 5*time.Minute), WaitedNanos: int64(3 * time.Second)},
			{Id: 32, Stage: sealv1.Stage_STAGE_PC1, Processor: "pc1.0", Sector: &sealv1.Sector{MinerId: 1000, SectorNumber: 32}, StartedUnixNano: at(now - 12*time.Minute), WaitedNanos: int64(1500 * time.Millisecond)},
			{Id: 40, Stage: sealv1.Stage_STAGE_PC2, Processor: "pc2.0", StartedUnixNano: at(now - 850*time.Millisecond), WaitedNanos: int64(40 * time.Second)},
			{Id: 41, Stage: sealv1.Stage_STAGE_PC2, Processor: "pc2.1", StartedUnixNano: at(now - 5*time.Minute), WaitedNanos: int64(time.Second), CancellingSinceUnixNano: at(now - 4*time.Second)},
		},
		Stages: []*taskv1.StageStatus{
			{Stage: sealv1.Stage_STAGE_PC1, Running: 2, Limit: 2, Waiting: 3, OldestWaitNanos: int64(14 * time.Minute), Done: 12},
			{Stage: sealv1.Stage_STAGE_PC2, Running: 2, Done: 12, Failed: 2},
			{Stage: sealv1.Stage_STAGE_C2, Waiting: 1, OldestWaitNanos: int64(850 * time.Millisecond), Failed: 1},
		},
		Locks: []*taskv1.Lock{{
			Name: "gpu0", Capacity: 1,
			Holders: []*taskv1.LockHolder{{Task: 40, Stage: sealv1.Stage_STAGE_PC2, Processor: "pc2.0", SinceUnixNano: at(now - 850*time.Millisecond)}},
			Waiters: []*taskv1.LockWaiter{{Stage: sealv1.Stage_STAGE_C2, Waiting: 1}},
			Share:   map[string]float64{"pc2": 0.61, "c2": 0.39},
		}, {
			Name: "gpu1", Capacity: 1,
			Holders: []*taskv1.LockHolder{{Task: 41, Stage: sealv1.Stage_STAGE_PC2, Processor: "pc2.1", SinceUnixNano: at(now - 5*time.Minute), Cancelling: true}},
		}},
	}
}

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   func() *taskv1.StatusResponse
	}{
		{"busy", busy},
		{"unconfined-draining", func() *taskv1.StatusResponse {
			st := busy()
			st.Confined, st.Draining = false, true
			for _, p := range st.Processors {
				p.Confined, p.Cgroup = false, ""
			}
			return st
		}},
		{"idle", func() *taskv1.StatusResponse {
			return &taskv1.StatusResponse{Instance: "box", Pid: 1, ConfigFile: "c.hcl", StartedUnixNano: at(0), NowUnixNano: at(5 * time.Second), Confined: true,
				Processors: []*taskv1.Processor{{Id: "c2.0", Stage: sealv1.Stage_STAGE_C2, State: "starting", Concurrent: 1, SinceUnixNano: at(4 * time.Second), Confined: true}},
				Stages:     []*taskv1.StageStatus{{Stage: sealv1.Stage_STAGE_C2}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			Write(&b, tc.st())
			golden := filepath.Join("testdata", tc.name+".txt")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("output differs from %s (rerun with -update after checking):\n%s", golden, got)
			}
		})
	}
}

func TestAge(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{850 * time.Millisecond, "850ms"},
		{12*time.Second + 400*time.Millisecond, "12s"},
		{3*time.Minute + 5*time.Second, "3m05s"},
		{2*time.Hour + 10*time.Minute + 59*time.Second, "2h10m"},
		{50 * time.Hour, "50h00m"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := age(tc.d); got != tc.want {
				t.Errorf("age(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}
