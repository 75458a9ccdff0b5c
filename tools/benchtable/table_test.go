package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// testdata/bench.txt is the raw output of one `make bench` run on a
// 2-core machine.
func TestTableGolden(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{filepath.Join("testdata", "bench.txt")}, nil, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	path := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("table differs from %s (go test -update rewrites it):\n%s", path, out.String())
	}
}

const sample = `goos: linux
goarch: amd64
pkg: github.com/sealhost/sealhost/host/internal/simulate
BenchmarkPlanB30Days-2   	       3	  250000000 ns/op	 7491920 B/op
BenchmarkOneSecond-2     	       3	1000000000 ns/op
BenchmarkPlanB30Days-2   	       3	  100000000 ns/op	 7491920 B/op
BenchmarkPlanB30Days-2   	       3	  200000000 ns/op	 7491920 B/op
pkg: github.com/sealhost/sealhost/host/internal/arbiter
BenchmarkAcquireRelease/waiters=2-2   	  185796	      4000 ns/op	  4 ratio	  1000 sem-ns/op
PASS
`

func TestComputeFromOutput(t *testing.T) {
	m, err := parse(strings.NewReader(sample), "sample")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		r     ref
		want  float64
		found bool
	}{
		{"median of three runs", ref{"simulate.PlanB30Days", "ns/op"}, 2e8, true},
		{"custom unit", ref{"arbiter.AcquireRelease/waiters=2", "sem-ns/op"}, 1000, true},
		{"sub-benchmark with a trailing number", ref{"arbiter.AcquireRelease/waiters=2", "ns/op"}, 4000, true},
		{"other unit", ref{"simulate.PlanB30Days", "B/op"}, 7491920, true},
		{"missing benchmark", ref{"simulate.Nope", "ns/op"}, 0, false},
		{"missing unit", ref{"simulate.OneSecond", "MB/s"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := m.value(tc.r)
			if ok != tc.found || got != tc.want {
				t.Errorf("value(%v) = %v, %v; want %v, %v", tc.r, got, ok, tc.want, tc.found)
			}
		})
	}
	ls := compute(m, []row{
		{what: "planb", num: ref{"simulate.PlanB30Days", "ns/op"}, den: ref{"simulate.OneSecond", "ns/op"}, target: 1},
		{what: "arb", num: ref{"arbiter.AcquireRelease/waiters=2", "ns/op"}, den: ref{"arbiter.AcquireRelease/waiters=2", "sem-ns/op"}, target: 3},
		{what: "gone", num: ref{"x.Y", "ns/op"}, den: ref{"simulate.OneSecond", "ns/op"}},
	})
	if !ls[0].ok || ls[0].ratio != 0.2 || !ls[1].ok || ls[1].ratio != 4 || ls[2].ok {
		t.Fatalf("lines %+v", ls)
	}
	var b bytes.Buffer
	missing, over, err := write(&b, m, ls)
	if err != nil || missing != 1 || over != 1 {
		t.Errorf("missing %d over %d err %v; want 1, 1", missing, over, err)
	}
	for _, want := range []string{"0.20x  < 1\n", "4.00x  < 3  OVER\n", "gone      not run"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRunExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		input string
		rc    int
		err   string
	}{
		{"partial input is fine", nil, sample, 0, "row(s) not run"},
		{"strict fails on missing rows", []string{"-strict"}, sample, 1, "not run"},
		{"no results", nil, "PASS\nok  \tx\t0.1s\n", 1, "no benchmark results"},
		{"bad flag", []string{"-x"}, "", 2, "not defined"},
		{"missing file", []string{"nope.txt"}, "", 1, "nope.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			rc := run(tc.args, strings.NewReader(tc.input), &out, &errb)
			if rc != tc.rc || !strings.Contains(errb.String(), tc.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", rc, errb.String(), tc.rc, tc.err)
			}
		})
	}
}

func TestBenchKey(t *testing.T) {
	for _, tc := range []struct{ pkg, name, want string }{
		{"github.com/a/b/simulate", "BenchmarkOneSecond-2", "simulate.OneSecond"},
		{"github.com/a/b/arbiter", "BenchmarkAcquireRelease/waiters=64-16", "arbiter.AcquireRelease/waiters=64"},
		{"x", "BenchmarkStart/plugin", "x.Start/plugin"},
		{"", "BenchmarkFoo-2", "..Foo"},
	} {
		if got := benchKey(tc.pkg, benchfmt.Name(tc.name)); got != tc.want {
			t.Errorf("benchKey(%q, %q) = %q, want %q", tc.pkg, tc.name, got, tc.want)
		}
	}
}

// Every row of the table names benchmarks that exist in a full run.
func TestRowsAllMeasuredInAFullRun(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bench.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := parse(f, "bench.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range compute(m, rows) {
		if !l.ok {
			t.Errorf("row %q: %v / %v not in a full run's output", l.what, l.num, l.den)
		}
	}
}

// FuzzParse: no input makes the reader or the table panic.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX-2 1 5 ns/op\n")
	f.Add("BenchmarkX 1 NaN ns/op 1 plain-ns/op\n")
	f.Add("pkg: \nBenchmark/-2 1 1 ns/op\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := parse(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		var b bytes.Buffer
		_, _, _ = write(&b, m, compute(m, rows))
	})
}

func TestFormatValueBytes(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{74855685, "74.9 MB"},
		{620858, "621 kB"},
		{1744, "1.74 kB"},
		{25, "25 B"},
	} {
		if got := formatValue(tc.v, "B/op"); got != tc.want {
			t.Errorf("formatValue(%v, B/op) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
