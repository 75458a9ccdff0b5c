package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
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
	for _, k := range []string{"ok", "sectors", "done", "elapsed_seconds", "stages", "locks", "results"} {
		if _, ok := v[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if v["ok"] != false || v["done"] != 3.0 {
		t.Errorf("ok %v done %v, want false and 3", v["ok"], v["done"])
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
