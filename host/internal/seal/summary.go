package seal

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
)

// SectorResult is how far one sector got.
type SectorResult struct {
	Sector uint64
	Done   bool
	// Stages are the stage calls made, in order; the last one failed when
	// Err is set and FailedStage is that stage.
	Stages      []StageResult
	FailedStage config.Stage
	Err         error
	// Set when Done.
	SealedCID   string
	UnsealedCID string
	ProofBytes  int
}

// StageResult is one stage call of one sector.
type StageResult struct {
	Stage     config.Stage
	Processor string // empty when the task never got one
	// Waited is the time spent waiting for a processor, its locks, the
	// stage's limit and stagger; Ran the time on the processor; Total the
	// whole call as the driver saw it.
	Waited, Ran, Total time.Duration
}

// Summary is the outcome of a run.
type Summary struct {
	// Host says which host sealed (set by the caller, for the reader).
	Host    string
	Sectors int
	Done    int
	Elapsed time.Duration
	// Stages has one entry per stage, in pipeline order.
	Stages []StageSummary
	// Locks are the host's lock shares at the end of the run (since the
	// host started: for an in-process host, exactly this run).
	Locks []LockShare
	// Results has one entry per sector, in sector order.
	Results []SectorResult
}

// OK reports whether every sector was sealed.
func (s *Summary) OK() bool { return s.Done == s.Sectors }

// StageSummary aggregates a stage's calls over every sector.
type StageSummary struct {
	Stage  config.Stage
	Done   int
	Failed int
	Ran    Dist
	Waited Dist
	// Processors counts the stage's tasks by the processor that ran them.
	Processors map[string]int
}

// Dist is the lower median and the maximum of a set of durations.
type Dist struct {
	P50, Max time.Duration
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return Dist{P50: ds[(len(ds)-1)/2], Max: ds[len(ds)-1]}
}

// LockShare is the fraction of a lock's busy time each stage held it.
type LockShare struct {
	Lock  string
	Share map[string]float64
}

func summarise(results []SectorResult, elapsed time.Duration) *Summary {
	sort.Slice(results, func(i, j int) bool { return results[i].Sector < results[j].Sector })
	s := &Summary{Sectors: len(results), Elapsed: elapsed, Results: results}
	byStage := map[config.Stage]*StageSummary{}
	ran := map[config.Stage][]time.Duration{}
	waited := map[config.Stage][]time.Duration{}
	for _, st := range config.Stages {
		byStage[st] = &StageSummary{Stage: st, Processors: map[string]int{}}
	}
	for _, r := range results {
		if r.Done {
			s.Done++
		}
		for i, sr := range r.Stages {
			ss := byStage[sr.Stage]
			failed := r.Err != nil && i == len(r.Stages)-1 && r.FailedStage == sr.Stage
			if failed {
				ss.Failed++
			} else {
				ss.Done++
				// Only finished tasks count towards run times; every call
				// waited, so every call counts towards waits.
				ran[sr.Stage] = append(ran[sr.Stage], sr.Ran)
			}
			waited[sr.Stage] = append(waited[sr.Stage], sr.Waited)
			if sr.Processor != "" {
				ss.Processors[sr.Processor]++
			}
		}
	}
	for _, st := range config.Stages {
		ss := byStage[st]
		ss.Ran, ss.Waited = distOf(ran[st]), distOf(waited[st])
		s.Stages = append(s.Stages, *ss)
	}
	return s
}

// round keeps a duration readable: milliseconds below a minute, tenths of
// a second above.
func round(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// WriteText prints the summary for a person.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sealed %d of %d sectors in %v\n\n", s.Done, s.Sectors, round(s.Elapsed))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STAGE  \tDONE\tFAILED\tRUN p50\tRUN max\tWAIT p50\tWAIT max\t")
	for _, st := range s.Stages {
		fmt.Fprintf(tw, "%-7s\t%d\t%d\t%v\t%v\t%v\t%v\t\n", st.Stage, st.Done, st.Failed,
			round(st.Ran.P50), round(st.Ran.Max), round(st.Waited.P50), round(st.Waited.Max))
	}
	tw.Flush()
	fmt.Fprintln(&b, "\nProcessors (tasks run)")
	for _, st := range s.Stages {
		if len(st.Processors) == 0 {
			continue
		}
		ids := make([]string, 0, len(st.Processors))
		for id := range st.Processors {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = fmt.Sprintf("%s %d", id, st.Processors[id])
		}
		fmt.Fprintf(&b, "  %-7s %s\n", st.Stage, strings.Join(parts, ", "))
	}
	if len(s.Locks) > 0 {
		fmt.Fprintln(&b, "\nLock shares (each stage's fraction of the lock's busy time, since the host started)")
		for _, l := range s.Locks {
			fmt.Fprintf(&b, "  %-7s %s\n", l.Lock, shareText(l.Share))
		}
	}
	var failed []SectorResult
	for _, r := range s.Results {
		if !r.Done {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "\n%d sector(s) failed:\n", len(failed))
		for _, r := range failed {
			// Task errors already start with their stage.
			msg := strings.TrimPrefix(r.Err.Error(), string(r.FailedStage)+": ")
			fmt.Fprintf(&b, "  sector %d at %s: %s\n", r.Sector, r.FailedStage, msg)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func shareText(share map[string]float64) string {
	if len(share) == 0 {
		return "never held"
	}
	// Pipeline order first, then anything else by name.
	var keys []string
	for _, st := range config.Stages {
		if _, ok := share[string(st)]; ok {
			keys = append(keys, string(st))
		}
	}
	var rest []string
	for k := range share {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	keys = append(keys, rest...)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.2f", k, share[k])
	}
	return strings.Join(parts, ", ")
}

// The JSON form: durations in seconds (float), stages keyed by name.
type jsonSummary struct {
	OK             bool                 `json:"ok"`
	Host           string               `json:"host,omitempty"`
	Sectors        int                  `json:"sectors"`
	Done           int                  `json:"done"`
	ElapsedSeconds float64              `json:"elapsed_seconds"`
	Stages         []jsonStage          `json:"stages"`
	Locks          map[string]jsonShare `json:"locks"`
	Results        []jsonSector         `json:"results"`
}

type jsonShare map[string]float64

type jsonStage struct {
	Stage          string         `json:"stage"`
	Done           int            `json:"done"`
	Failed         int            `json:"failed"`
	RunP50Seconds  float64        `json:"run_p50_seconds"`
	RunMaxSeconds  float64        `json:"run_max_seconds"`
	WaitP50Seconds float64        `json:"wait_p50_seconds"`
	WaitMaxSeconds float64        `json:"wait_max_seconds"`
	Processors     map[string]int `json:"processors"`
}

type jsonSector struct {
	Sector      uint64          `json:"sector"`
	Done        bool            `json:"done"`
	FailedStage string          `json:"failed_stage,omitempty"`
	Error       string          `json:"error,omitempty"`
	SealedCID   string          `json:"sealed_cid,omitempty"`
	UnsealedCID string          `json:"unsealed_cid,omitempty"`
	ProofBytes  int             `json:"proof_bytes,omitempty"`
	Stages      []jsonStageCall `json:"stages"`
}

type jsonStageCall struct {
	Stage         string  `json:"stage"`
	Processor     string  `json:"processor"`
	WaitedSeconds float64 `json:"waited_seconds"`
	RanSeconds    float64 `json:"ran_seconds"`
}

// WriteJSON prints the summary as one indented JSON object.
func (s *Summary) WriteJSON(w io.Writer) error {
	out := jsonSummary{OK: s.OK(), Host: s.Host, Sectors: s.Sectors, Done: s.Done, ElapsedSeconds: s.Elapsed.Seconds(),
		Stages: []jsonStage{}, Locks: map[string]jsonShare{}, Results: []jsonSector{}}
	for _, st := range s.Stages {
		out.Stages = append(out.Stages, jsonStage{Stage: string(st.Stage), Done: st.Done, Failed: st.Failed,
			RunP50Seconds: st.Ran.P50.Seconds(), RunMaxSeconds: st.Ran.Max.Seconds(),
			WaitP50Seconds: st.Waited.P50.Seconds(), WaitMaxSeconds: st.Waited.Max.Seconds(),
			Processors: st.Processors})
	}
	for _, l := range s.Locks {
		out.Locks[l.Lock] = l.Share
	}
	for _, r := range s.Results {
		js := jsonSector{Sector: r.Sector, Done: r.Done, FailedStage: string(r.FailedStage),
			SealedCID: r.SealedCID, UnsealedCID: r.UnsealedCID, ProofBytes: r.ProofBytes, Stages: []jsonStageCall{}}
		if r.Err != nil {
			js.Error = r.Err.Error()
		}
		for _, sr := range r.Stages {
			js.Stages = append(js.Stages, jsonStageCall{Stage: string(sr.Stage), Processor: sr.Processor,
				WaitedSeconds: sr.Waited.Seconds(), RanSeconds: sr.Ran.Seconds()})
		}
		out.Results = append(out.Results, js)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
