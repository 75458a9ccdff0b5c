package daemon

import (
	"os"
	"slices"
	"sort"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// StageProto maps a config stage to the protocol's enum.
func StageProto(s config.Stage) sealv1.Stage {
	return stageProto[s]
}

// stageProto is config.Stages against the enum; a stage missing here is
// STAGE_UNSPECIFIED (TestStageProtoCoversEveryStage checks every config stage is in).
var stageProto = map[config.Stage]sealv1.Stage{
	config.StageTreeD:       sealv1.Stage_STAGE_TREE_D,
	config.StagePC1:         sealv1.Stage_STAGE_PC1,
	config.StagePC2:         sealv1.Stage_STAGE_PC2,
	config.StageC1:          sealv1.Stage_STAGE_C1,
	config.StageC2:          sealv1.Stage_STAGE_C2,
	config.StageSnapEncode:  sealv1.Stage_STAGE_SNAP_ENCODE,
	config.StageSnapProve:   sealv1.Stage_STAGE_SNAP_PROVE,
	config.StageWindowPoSt:  sealv1.Stage_STAGE_WINDOW_POST,
	config.StageWinningPoSt: sealv1.Stage_STAGE_WINNING_POST,
	config.StageUnseal:      sealv1.Stage_STAGE_UNSEAL,
	config.StageAddPieces:   sealv1.Stage_STAGE_ADD_PIECES,
}

// Status is a snapshot of the host: processors, running and waiting tasks,
// locks and per-stage counts.
func (h *Host) Status() *taskv1.StatusResponse {
	now := time.Now()
	st := &taskv1.StatusResponse{
		Instance:        h.opts.Instance,
		Pid:             int64(os.Getpid()),
		ConfigFile:      h.cfg.File,
		StartedUnixNano: h.started.UnixNano(),
		NowUnixNano:     now.UnixNano(),
		Confined:        h.confined,
	}
	// Supervise's state first, outside h.mu: it has locks of its own.
	sups := map[string]*taskv1.Processor{}
	for _, id := range h.order {
		p := h.procs[id]
		s := p.sp.Status()
		sups[id] = &taskv1.Processor{
			Id:            id,
			Stage:         StageProto(p.cfg.Stage),
			State:         string(s.State),
			Owner:         s.Owner,
			Pid:           int64(s.Pid),
			Cgroup:        s.Cgroup,
			Restarts:      int32(s.Restarts),
			LastError:     s.LastError,
			Concurrent:    int32(max(p.cfg.Concurrent, 1)),
			Locks:         append([]string(nil), p.cfg.Locks...),
			SinceUnixNano: s.Since.UnixNano(),
			Confined:      s.Confined,
		}
		if !s.NextTry.IsZero() {
			sups[id].NextTryUnixNano = s.NextTry.UnixNano()
		}
	}

	h.mu.Lock()
	st.Draining = h.draining
	waiting := map[config.Stage]int{}
	oldest := map[config.Stage]time.Time{}
	var running []*task
	for _, t := range h.tasks {
		if t.started.IsZero() {
			waiting[t.stage]++
			if o, ok := oldest[t.stage]; !ok || t.requested.Before(o) {
				oldest[t.stage] = t.requested
			}
			continue
		}
		running = append(running, t)
	}
	sort.Slice(running, func(i, j int) bool { return running[i].id < running[j].id })
	runningOn := map[string]int{}
	for _, t := range running {
		runningOn[t.processor]++
		tk := &taskv1.Task{
			Id:              t.id,
			Stage:           StageProto(t.stage),
			Processor:       t.processor,
			Sector:          t.sector,
			StartedUnixNano: t.started.UnixNano(),
			WaitedNanos:     int64(t.waited),
		}
		if !t.cancelling.IsZero() {
			tk.CancellingSinceUnixNano = t.cancelling.UnixNano()
		}
		if !t.deadline.IsZero() {
			tk.DeadlineUnixNano = t.deadline.UnixNano()
		}
		tk.Preemptions, tk.Preempting = int32(t.preemptions), t.preempting
		st.Running = append(st.Running, tk)
	}
	for _, id := range h.order {
		p := h.procs[id]
		sp := sups[id]
		sp.Running = int32(runningOn[id])
		sp.Done, sp.Failed = p.done, p.failed
		st.Processors = append(st.Processors, sp)
	}
	for _, stage := range config.Stages {
		if len(h.stages[stage]) == 0 {
			continue
		}
		ss := &taskv1.StageStatus{Stage: StageProto(stage), Waiting: int32(waiting[stage]), Limit: int32(h.cfg.Limits[stage])}
		if c := h.stats[stage]; c != nil {
			ss.Done, ss.Failed = c.done, c.failed
			ss.Preempted, ss.PreemptedWorkNanos = c.preempted, int64(c.preemptedWork)
		}
		ss.Urgent = slices.Contains(h.cfg.Arbiter.Urgent, stage)
		if o, ok := oldest[stage]; ok {
			ss.OldestWaitNanos = int64(now.Sub(o))
		}
		for _, t := range running {
			if t.stage == stage {
				ss.Running++
			}
		}
		st.Stages = append(st.Stages, ss)
	}
	for _, l := range h.cfg.Locks {
		lk := &taskv1.Lock{Name: l.Name, Capacity: int32(max(l.Capacity, 1))}
		for _, t := range running {
			if has(h.procs[t.processor].cfg.Locks, l.Name) {
				lk.Holders = append(lk.Holders, &taskv1.LockHolder{Task: t.id, Stage: StageProto(t.stage), Processor: t.processor, SinceUnixNano: t.started.UnixNano(), Cancelling: !t.cancelling.IsZero(), Preempting: t.preempting})
			}
		}
		for _, stage := range config.Stages {
			if waiting[stage] == 0 {
				continue
			}
			for _, id := range h.stages[stage] {
				if has(h.procs[id].cfg.Locks, l.Name) {
					lk.Waiters = append(lk.Waiters, &taskv1.LockWaiter{Stage: StageProto(stage), Waiting: int32(waiting[stage])})
					break
				}
			}
		}
		st.Locks = append(st.Locks, lk)
	}
	h.mu.Unlock()

	if h.arb != nil {
		as := h.arb.Stats()
		for _, lk := range st.Locks {
			if ls, ok := as.Locks[lk.Name]; ok && len(ls.Share) > 0 {
				lk.Share = map[string]float64{}
				for stage, f := range ls.Share {
					lk.Share[stage] = f
				}
			}
		}
	}
	return st
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
