package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedSummary is a run of 4 sectors, one failed at pc1, with made-up
// times, on a fake host that reports lock shares.
func fixedSummary(t *testing.T) *Summary {
	t.Helper()
	f := newFake()
	f.report = func(sector uint64, st config.Stage) client.Report {
		return client.Report{Processor: string(st) + ".0", Waited: time.Duration(sector) * 150 * time.Millisecond, Ran: time.Duration(sector) * 1100 * time.Millisecond}
	}
	f.fail[key{3, config.StagePC1}] = errors.New(`pc1: staged file /w/s-t01000-3/unsealed: no such file`)
	f.status = &taskv1.StatusResponse{Locks: []*taskv1.Lock{{Name: "gpu0", Share: map[string]float64{"pc2": 0.4, "c2": 0.6}}}}
	f.c2 = func(n uint64) *sealv1.C2Response {
		if n == 4 {
			return fakeProof
		}
		return realProof
	}
	sum, err := Run(context.Background(), Request{Host: f, Sectors: prepare(t, 4)})
	if err != nil {
		t.Fatal(err)
	}
	sum.Elapsed = 12345 * time.Millisecond
	for i := range sum.Results {
		if sum.Results[i].Done {
			sum.Results[i].Stages = sum.Results[i].Stages[:1] // keep the JSON short
		}
	}
	return sum
}

// What a real c2 plugin and the mock answer (see sealv1.C2Response).
var (
	realProof = &sealv1.C2Response{Proof: make([]byte, 192), Verified: true,
		Verification: "VerifySeal (filecoin-ffi v1.30.0) against local INSECURE test parameters"}
	fakeProof = &sealv1.C2Response{Proof: make([]byte, 192), Verified: false,
		Verification: "FAKE proof from plugins/mock: not a SNARK, nothing verified"}
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestSummaryTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := fixedSummary(t).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.txt", b.Bytes())
}

func TestSummaryJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := fixedSummary(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.json", b.Bytes())
	var v map[string]any
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ok", "sectors", "done", "verified", "elapsed_seconds", "stages", "locks", "results"} {
		if _, ok := v[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if v["ok"] != false || v["done"] != 3.0 || v["verified"] != 2.0 {
		t.Errorf("ok %v done %v verified %v, want false, 3 and 2", v["ok"], v["done"], v["verified"])
	}
	// Every sector has verified, sealed or not; only c2's answer has a
	// verification.
	for _, r := range v["results"].([]any) {
		r := r.(map[string]any)
		if _, ok := r["verified"].(bool); !ok {
			t.Errorf("sector %v: verified %v, want a bool", r["sector"], r["verified"])
		}
		if _, ok := r["verification"]; ok != (r["done"] == true) {
			t.Errorf("sector %v (done %v): verification %v", r["sector"], r["done"], r["verification"])
		}
	}
}

// TestProofVerification runs sectors through a fake host whose c2 answers
// like a verifying plugin, like the mock, or both, and checks what the
// summary records and says: per sector comm_d, comm_r, proof size and
// verified; one line per kind of answer, the unverified ones loud.
func TestProofVerification(t *testing.T) {
	verified := func(uint64) *sealv1.C2Response { return realProof }
	fake := func(uint64) *sealv1.C2Response { return fakeProof }
	for _, tc := range []struct {
		name    string
		sectors int
		c2      func(n uint64) *sealv1.C2Response
		fail    map[key]error
		// want: verified sectors; the others that sealed are unverified.
		verified    []uint64
		allVerified bool
		lines       []string // each must be a whole line of the text
		absent      []string // no line may contain these
	}{
		{
			name: "all verified", sectors: 8, c2: verified,
			verified:    []uint64{1, 2, 3, 4, 5, 6, 7, 8},
			allVerified: true,
			lines:       []string{"verified: 8 of 8 proofs (sectors 1-8): VerifySeal (filecoin-ffi v1.30.0) against local INSECURE test parameters"},
			absent:      []string{"UNVERIFIED", "FAKE", "no: failed"},
		},
		{
			name: "none verified (mock)", sectors: 8, c2: fake,
			lines:  []string{"UNVERIFIED: none of the 8 proofs was verified (sectors 1-8): FAKE proof from plugins/mock: not a SNARK, nothing verified"},
			absent: []string{"verified: ", "  yes"},
		},
		{
			name: "mixed", sectors: 8,
			c2: func(n uint64) *sealv1.C2Response {
				if n%3 == 0 {
					return fakeProof
				}
				return realProof
			},
			verified: []uint64{1, 2, 4, 5, 7, 8},
			lines: []string{
				"verified: 6 of 8 proofs (sectors 1-2, 4-5, 7-8): VerifySeal (filecoin-ffi v1.30.0) against local INSECURE test parameters",
				"UNVERIFIED: 2 of 8 proofs (sectors 3, 6): FAKE proof from plugins/mock: not a SNARK, nothing verified",
			},
		},
		{
			name: "failed sector", sectors: 4, c2: verified,
			fail:     map[key]error{{2, config.StageC2}: errors.New("c2: out of gpu memory"), {3, config.StagePC1}: errors.New("pc1: no space")},
			verified: []uint64{1, 4},
			lines: []string{
				"verified: 2 of 2 proofs (sectors 1, 4): VerifySeal (filecoin-ffi v1.30.0) against local INSECURE test parameters",
				"  sector 2 at c2: out of gpu memory",
			},
			absent: []string{"UNVERIFIED"},
		},
		{
			name: "a plugin that predates verification", sectors: 2,
			c2:     func(uint64) *sealv1.C2Response { return &sealv1.C2Response{Proof: make([]byte, 192)} },
			lines:  []string{"UNVERIFIED: none of the 2 proofs was verified (sectors 1-2): the c2 plugin does not say why (it may predate C2Response.verification)"},
			absent: []string{"verified: "},
		},
		{
			name: "many sectors", sectors: 40, c2: fake,
			lines: []string{
				"  … and 32 more sectors (-json lists every one)",
				"UNVERIFIED: none of the 40 proofs was verified (sectors 1-40): FAKE proof from plugins/mock: not a SNARK, nothing verified",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.realCIDs = true
			f.c2 = tc.c2
			if tc.fail != nil {
				f.fail = tc.fail
			}
			sum, err := Run(context.Background(), Request{Host: f, Sectors: prepare(t, tc.sectors)})
			if err != nil {
				t.Fatal(err)
			}
			sum.Elapsed = 1500 * time.Millisecond
			if sum.Verified != len(tc.verified) || sum.AllVerified() != tc.allVerified {
				t.Errorf("verified %d, all verified %v; want %d and %v", sum.Verified, sum.AllVerified(), len(tc.verified), tc.allVerified)
			}
			for _, r := range sum.Results {
				want := slices.Contains(tc.verified, r.Sector)
				if r.Verified != want {
					t.Errorf("sector %d: verified %v, want %v", r.Sector, r.Verified, want)
				}
				if r.UnsealedCID != ZeroPieceCID(2048) {
					t.Errorf("sector %d: comm_d %q, want tree_d's, also when a later stage failed", r.Sector, r.UnsealedCID)
				}
				pastPC2 := r.Done || stageIndex(r.FailedStage) > stageIndex(config.StagePC2)
				if (r.SealedCID != "") != pastPC2 {
					t.Errorf("sector %d (failed at %q): comm_r %q", r.Sector, r.FailedStage, r.SealedCID)
				}
				if r.Done != (r.ProofBytes == 192) || (!r.Done && r.Verification != "") {
					t.Errorf("sector %d (done %v): proof of %d bytes, verification %q", r.Sector, r.Done, r.ProofBytes, r.Verification)
				}
			}
			var b bytes.Buffer
			if err := sum.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			text := b.String()
			lines := strings.Split(text, "\n")
			// Long lines are wrapped to 80 columns: compare words.
			words := " " + strings.Join(strings.Fields(text), " ") + " "
			for _, l := range tc.lines {
				if !strings.Contains(words, " "+strings.Join(strings.Fields(l), " ")+" ") {
					t.Errorf("no line %q in\n%s", l, text)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(text, a) {
					t.Errorf("%q in\n%s", a, text)
				}
			}
			for _, l := range lines {
				if n := utf8.RuneCountInString(l); n > 80 {
					t.Errorf("line of %d columns: %q", n, l)
				}
			}
			golden(t, "proofs_"+strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(tc.name)+".txt", b.Bytes())
		})
	}
}

func TestSectorList(t *testing.T) {
	for _, tc := range []struct {
		in   []uint64
		want string
	}{
		{nil, ""},
		{[]uint64{7}, "7"},
		{[]uint64{1, 2}, "1-2"},
		{[]uint64{5, 1, 2, 3, 9, 9}, "1-3, 5, 9"},
		{[]uint64{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}, "1, 3, 5, 7, 9, 11, 13, 15, … (10 sectors in all)"},
	} {
		if got := SectorList(tc.in); got != tc.want {
			t.Errorf("SectorList(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestShortCID(t *testing.T) {
	d := ZeroPieceCID(2048)
	if got, want := shortCID(d), d[:12]+"…"+d[len(d)-8:]; got != want {
		t.Errorf("shortCID(%s) = %q, want %q", d, got, want)
	}
	for in, want := range map[string]string{"": "-", "r-1": "r-1"} {
		if got := shortCID(in); got != want {
			t.Errorf("shortCID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRendererLines(t *testing.T) {
	p := NewProgress(2)
	var b bytes.Buffer
	now := time.Unix(0, 0)
	r := &Renderer{W: &b, Progress: p, Now: func() time.Time { return now }, Interval: time.Second}
	r.start = now
	r.Frame(context.Background())
	r.Frame(context.Background()) // unchanged: no new line
	p.submitted(config.StageTreeD)
	p.finished(config.StageTreeD, true)
	p.submitted(config.StageTreeD)
	p.finished(config.StageTreeD, false)
	now = now.Add(1500 * time.Millisecond)
	r.Frame(context.Background())
	want := "   0.0s  tree_d 0/2  pc1 0/2  pc2 0/2  c1 0/2  c2 0/2\n" +
		"   1.5s  tree_d 1/2 (1 failed)  pc1 0/2  pc2 0/2  c1 0/2  c2 0/2\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestRendererBars(t *testing.T) {
	p := NewProgress(8)
	for range 4 {
		p.submitted(config.StagePC1)
	}
	p.finished(config.StagePC1, true)
	p.finished(config.StagePC1, true)
	var b bytes.Buffer
	now := time.Unix(0, 0)
	status := func(context.Context) (*taskv1.StatusResponse, error) {
		return &taskv1.StatusResponse{Stages: []*taskv1.StageStatus{{Stage: sealv1.Stage_STAGE_PC1, Running: 1, Waiting: 1}}}, nil
	}
	r := &Renderer{W: &b, Progress: p, Terminal: true, Width: 100, Now: func() time.Time { return now }, Interval: time.Second, Status: status}
	r.start = now
	r.Frame(context.Background())
	first := b.String()
	lines := strings.Split(strings.TrimSuffix(first, "\n"), "\n")
	if len(lines) != 6 || strings.Contains(first, "\x1b[6A") {
		t.Fatalf("first frame: %d lines (want a header and 5 bars), no cursor-up expected:\n%s", len(lines), first)
	}
	pc1 := lines[2]
	if !strings.Contains(pc1, "pc1     [") || !strings.Contains(pc1, "2/8  running 1  waiting 1") {
		t.Errorf("pc1 line %q", pc1)
	}
	// 40 cells at most: 2 of 8 done fills a quarter, 2 in flight another.
	if strings.Count(pc1, "█") != 10 || strings.Count(pc1, "▒") != 10 || strings.Count(pc1, "░") != 20 {
		t.Errorf("pc1 bar %q: want 10 done, 10 in flight, 20 empty cells", pc1)
	}
	if !strings.Contains(lines[1], "in flight 0") && !strings.Contains(lines[1], "running 0") {
		t.Errorf("tree_d line %q", lines[1])
	}
	b.Reset()
	r.Frame(context.Background())
	if !strings.HasPrefix(b.String(), "\x1b[6A") {
		t.Errorf("second frame does not move back over the first: %q", b.String()[:10])
	}
	// Narrow terminals keep a bar of 10 cells.
	if l := barLine(StageCount{Stage: config.StageC2}, stageLive{}, 8, 20); strings.Count(l, "░") != 10 {
		t.Errorf("narrow bar %q", l)
	}
}

func TestNilProgressIgnoresUpdates(t *testing.T) {
	var p *Progress
	p.submitted(config.StagePC1)
	p.finished(config.StagePC1, true)
}

// On a narrow terminal no line of a frame is wider than the terminal, so
// none wraps and redrawing stays in place.
func TestRendererFitsNarrowTerminals(t *testing.T) {
	p := NewProgress(1000)
	var b bytes.Buffer
	r := &Renderer{W: &b, Progress: p, Terminal: true, Width: 30, Now: time.Now, Interval: time.Second}
	r.start = time.Now()
	r.Frame(context.Background())
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		l = strings.TrimPrefix(l, "\r\x1b[2K")
		if n := utf8.RuneCountInString(l); n > 29 {
			t.Errorf("%d columns on a 30-column terminal: %q", n, l)
		}
	}
}

// TestJSONFieldsDocumented checks that every field -json writes is in
// docs/seal-json.md (maps keyed by lock, stage or processor excepted).
func TestJSONFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "seal-json.md"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := fixedSummary(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	check := func(where string, obj map[string]any) {
		for k := range obj {
			if !bytes.Contains(doc, []byte("`"+k+"`")) && !bytes.Contains(doc, []byte(`"`+k+`"`)) {
				t.Errorf("%s field %q is not in docs/seal-json.md", where, k)
			}
		}
	}
	check("top-level", top)
	for _, st := range top["stages"].([]any) {
		check("stages[]", st.(map[string]any))
	}
	for _, r := range top["results"].([]any) {
		r := r.(map[string]any)
		check("results[]", r)
		for _, c := range r["stages"].([]any) {
			check("results[].stages[]", c.(map[string]any))
		}
	}
}

// TestPluginTextIsCleaned: a plugin's error and verification line reach
// the text summary without their terminal escape sequences (they could
// recolour or overwrite what the host printed); -json keeps them as sent.
func TestPluginTextIsCleaned(t *testing.T) {
	f := newFake()
	f.fail[key{1, config.StagePC1}] = errors.New("pc1: \x1b[2K\x1b[1Aall sectors sealed\x1b]0;pwned\x07")
	f.c2 = func(uint64) *sealv1.C2Response {
		return &sealv1.C2Response{Proof: make([]byte, 192), Verification: "\x1b[32mVERIFIED\x1b[0m (not really)"}
	}
	sum, err := Run(context.Background(), Request{Host: f, Sectors: prepare(t, 2)})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := sum.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsRune(out, 0x1b) || strings.ContainsRune(out, 0x07) {
		t.Fatalf("the text summary carries control characters:\n%q", out)
	}
	words := strings.Join(strings.Fields(out), " ") // wrapped at 80 columns
	for _, want := range []string{"sector 1 at pc1: all sectors sealed", "VERIFIED (not really)"} {
		if !strings.Contains(words, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestBarCountsAddUp: after an interrupt the host still reports the
// cancelled calls as running (they are stopping) while the run counts them
// failed; the bar line never adds up to more than the run's sectors.
func TestBarCountsAddUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    StageCount
		l    stageLive
		want string
	}{
		{"interrupted", StageCount{Stage: config.StagePC1, Done: 3, Failed: 5}, stageLive{running: 2, waiting: 3, known: true}, "3/8  running 0  waiting 0  failed 5"},
		{"the host runs other callers' tasks too", StageCount{Stage: config.StagePC1, Done: 1, InFlight: 3}, stageLive{running: 4, waiting: 9, known: true}, "1/8  running 3  waiting 0"},
		{"the host's counts when they fit", StageCount{Stage: config.StagePC1, Done: 1, InFlight: 5}, stageLive{running: 2, waiting: 3, known: true}, "1/8  running 2  waiting 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l := barLine(tc.c, tc.l, 8, 100); !strings.HasSuffix(l, tc.want) {
				t.Fatalf("bar line %q, want it to end in %q", l, tc.want)
			}
		})
	}
	var b bytes.Buffer
	r := &Renderer{W: &b, Progress: NewProgress(8), Terminal: true, Width: 120, Now: time.Now, Interval: time.Second}
	r.start = time.Now()
	r.Frame(context.Background())
	if !strings.Contains(b.String(), legend) {
		t.Errorf("no legend of the marks in the frame:\n%s", b.String())
	}
}
