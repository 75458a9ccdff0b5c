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
	"unicode/utf8"

	"github.com/mitchellh/go-wordwrap"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/termtext"
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
	// UnsealedCID is comm_d, set once tree_d answered; SealedCID is comm_r,
	// set once pc2 answered with the same comm_d. Both stay set when a
	// later stage fails.
	UnsealedCID string
	SealedCID   string
	// Set when Done: the proof's size and what the c2 plugin said of it
	// (sealv1.C2Response.verified and .verification). The host cannot
	// check a proof itself; Verified is the plugin's word.
	ProofBytes   int
	Verified     bool
	Verification string
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
	// Verified counts the sealed sectors whose proof the c2 plugin
	// verified.
	Verified int
	Elapsed  time.Duration
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

// AllVerified reports whether every sector was sealed with a proof its c2
// plugin verified: what `host seal -require-verified` demands.
func (s *Summary) AllVerified() bool { return s.OK() && s.Verified == s.Sectors }

// ProofGroup is the sealed sectors whose c2 answered the same verified and
// verification.
type ProofGroup struct {
	Verified     bool
	Verification string
	Sectors      []uint64
}

// ProofGroups groups the sealed sectors by what their c2 said of their
// proof: verified groups first, then unverified ones, each kind in the
// order of its first sector. Failed sectors have no proof and are in no
// group.
func (s *Summary) ProofGroups() []ProofGroup {
	var out []ProofGroup
	for _, verified := range []bool{true, false} {
		at := map[string]int{}
		for _, r := range s.Results {
			if !r.Done || r.Verified != verified {
				continue
			}
			i, ok := at[r.Verification]
			if !ok {
				i = len(out)
				at[r.Verification] = i
				out = append(out, ProofGroup{Verified: verified, Verification: r.Verification})
			}
			out[i].Sectors = append(out[i].Sectors, r.Sector)
		}
	}
	return out
}

// Why is the group's verification line, or what its absence means.
func (g ProofGroup) Why() string {
	switch {
	case g.Verification != "":
		return termtext.Clean(g.Verification)
	case g.Verified:
		return "the c2 plugin does not say how it verified"
	}
	return "the c2 plugin does not say why (it may predate C2Response.verification)"
}

// maxListed is how many runs of sector numbers SectorList writes.
const maxListed = 8

// SectorList writes sector numbers for a person: consecutive numbers as
// ranges ("1-3, 5, 7-9"), the first maxListed runs only, then how many
// sectors there are in all.
func SectorList(nums []uint64) string {
	nums = slices.Clone(nums)
	slices.Sort(nums)
	nums = slices.Compact(nums)
	var runs []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if len(runs) == maxListed {
			return strings.Join(runs, ", ") + fmt.Sprintf(", … (%d sectors in all)", len(nums))
		}
		if j == i {
			runs = append(runs, fmt.Sprint(nums[i]))
		} else {
			runs = append(runs, fmt.Sprintf("%d-%d", nums[i], nums[j]))
		}
		i = j + 1
	}
	return strings.Join(runs, ", ")
}

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
	for _, st := range config.SealingStages {
		byStage[st] = &StageSummary{Stage: st, Processors: map[string]int{}}
	}
	for _, r := range results {
		if r.Done {
			s.Done++
			if r.Verified {
				s.Verified++
			}
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
	for _, st := range config.SealingStages {
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
		fmt.Fprintln(&b, "\nLock shares (each stage's part of the lock's busy time, since host start)")
		for _, l := range s.Locks {
			fmt.Fprintf(&b, "  %-7s %s\n", l.Lock, shareText(l.Share))
		}
	}
	writeSectors(&b, s.Results)
	writeProofs(&b, s)
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
			msg := termtext.Clean(strings.TrimPrefix(r.Err.Error(), string(r.FailedStage)+": "))
			para(&b, fmt.Sprintf("  sector %d at %s: %s", r.Sector, r.FailedStage, msg))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sectorRowsAll is the most sectors the text summary lists one by one;
// above it, it lists the first sectorRowsSome and counts the rest.
const (
	sectorRowsAll  = 16
	sectorRowsSome = 8
)

// writeSectors prints one row per sector: comm_d, comm_r, proof size and
// whether c2 verified the proof. CIDs are shortened to fit 80 columns;
// -json has them in full.
func writeSectors(b *strings.Builder, results []SectorResult) {
	if len(results) == 0 {
		return
	}
	shown := results
	if len(shown) > sectorRowsAll {
		shown = shown[:sectorRowsSome]
	}
	rows := [][]string{{"SECTOR", "COMM_D", "COMM_R", "PROOF", "VERIFIED"}}
	shortened := false
	for _, r := range shown {
		for _, c := range []string{r.UnsealedCID, r.SealedCID} {
			shortened = shortened || (c != "" && shortCID(c) != c)
		}
		proof, verified := "-", "no"
		switch {
		case !r.Done:
			verified = "failed at " + string(r.FailedStage)
		case r.Verified:
			verified = "yes"
		}
		if r.Done {
			proof = fmt.Sprint(r.ProofBytes)
		}
		rows = append(rows, []string{fmt.Sprint(r.Sector), shortCID(r.UnsealedCID), shortCID(r.SealedCID), proof, verified})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	if shortened {
		fmt.Fprintln(b, "\nSectors (comm_d and comm_r shortened; -json prints them in full)")
	} else {
		fmt.Fprintln(b, "\nSectors")
	}
	for _, row := range rows {
		// Numbers right-aligned, the rest left; the last column unpadded.
		fmt.Fprintf(b, "  %*s  %-*s  %-*s  %*s  %s\n", width[0], row[0], width[1], row[1], width[2], row[2], width[3], row[3], row[4])
	}
	if n := len(results) - len(shown); n > 0 {
		fmt.Fprintf(b, "  … and %d more sectors (-json lists every one)\n", n)
	}
}

// shortCID keeps a CID's kind (its first 12 characters: baga6ea4seaq is
// comm_d, bagboea4b5ab comm_r) and its last 8, enough to tell sectors
// apart; "-" when unknown.
func shortCID(c string) string {
	r := []rune(c)
	switch {
	case c == "":
		return "-"
	case len(r) <= 24:
		return c
	}
	return string(r[:12]) + "…" + string(r[len(r)-8:])
}

// writeProofs says, each on its own line, which proofs c2 verified and how,
// and which it did not and why: the line an operator must not miss when
// the proofs are fake.
func writeProofs(b *strings.Builder, s *Summary) {
	groups := s.ProofGroups()
	if len(groups) == 0 {
		return
	}
	fmt.Fprintln(b)
	for _, g := range groups {
		switch {
		case g.Verified:
			para(b, fmt.Sprintf("verified: %d of %d proofs (%s): %s", len(g.Sectors), s.Done, Sectors(g.Sectors), g.Why()))
		case s.Verified == 0 && len(groups) == 1:
			para(b, fmt.Sprintf("UNVERIFIED: none of the %d proofs was verified (%s): %s", s.Done, Sectors(g.Sectors), g.Why()))
		default:
			para(b, fmt.Sprintf("UNVERIFIED: %d of %d proofs (%s): %s", len(g.Sectors), s.Done, Sectors(g.Sectors), g.Why()))
		}
	}
}

// summaryWidth is the text summary's width: an 80-column terminal's, less
// one column so that no line wraps by itself.
const summaryWidth = 79

// para writes s wrapped at summaryWidth, its continuation lines indented
// two columns past its own indent, so a long line (a plugin's error, the
// verification text) still reads as one item.
func para(b *strings.Builder, s string) {
	indent := len(s) - len(strings.TrimLeft(s, " "))
	pad := strings.Repeat(" ", indent+2)
	lines := strings.Split(wordwrap.WrapString(strings.TrimLeft(s, " "), uint(summaryWidth-indent-2)), "\n")
	for i, l := range lines {
		if i == 0 {
			b.WriteString(strings.Repeat(" ", indent))
		} else {
			b.WriteString(pad)
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

// Sectors is SectorList after "sector" or "sectors".
func Sectors(nums []uint64) string {
	if len(nums) == 1 {
		return fmt.Sprintf("sector %d", nums[0])
	}
	return "sectors " + SectorList(nums)
}

func shareText(share map[string]float64) string {
	if len(share) == 0 {
		return "never held"
	}
	// Pipeline order first, then anything else by name.
	var keys []string
	for _, st := range config.SealingStages {
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

// The JSON form, documented in docs/seal-json.md: durations in seconds
// (float), stages keyed by name.
type jsonSummary struct {
	OK             bool                 `json:"ok"`
	Host           string               `json:"host,omitempty"`
	Sectors        int                  `json:"sectors"`
	Done           int                  `json:"done"`
	Verified       int                  `json:"verified"`
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
	Sector       uint64          `json:"sector"`
	Done         bool            `json:"done"`
	FailedStage  string          `json:"failed_stage,omitempty"`
	Error        string          `json:"error,omitempty"`
	SealedCID    string          `json:"sealed_cid,omitempty"`
	UnsealedCID  string          `json:"unsealed_cid,omitempty"`
	ProofBytes   int             `json:"proof_bytes,omitempty"`
	Verified     bool            `json:"verified"`
	Verification string          `json:"verification,omitempty"`
	Stages       []jsonStageCall `json:"stages"`
}

type jsonStageCall struct {
	Stage         string  `json:"stage"`
	Processor     string  `json:"processor"`
	WaitedSeconds float64 `json:"waited_seconds"`
	RanSeconds    float64 `json:"ran_seconds"`
}

// WriteJSON prints the summary as one indented JSON object
// (docs/seal-json.md).
func (s *Summary) WriteJSON(w io.Writer) error {
	out := jsonSummary{OK: s.OK(), Host: s.Host, Sectors: s.Sectors, Done: s.Done, Verified: s.Verified, ElapsedSeconds: s.Elapsed.Seconds(),
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
			SealedCID: r.SealedCID, UnsealedCID: r.UnsealedCID, ProofBytes: r.ProofBytes,
			Verified: r.Verified, Verification: r.Verification, Stages: []jsonStageCall{}}
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
