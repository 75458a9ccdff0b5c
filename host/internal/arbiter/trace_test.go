package arbiter

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var updateTrace = flag.Bool("update", false, "rewrite testdata/trace.golden")

// TestTraceGolden pins the arbiter's decisions down exactly: random
// sequences of Submit, Release, Cancel and ReleaseOwner under every policy,
// with fixed and adaptive bypass bounds, each logged call by call (every
// lease it returned, with token, request and instant) together with the
// final Stats, and hashed. The digests in testdata/trace.golden were made by
// the arbiter that scanned every waiting request on each pass; a faster
// implementation must reproduce them bit for bit, so "same semantics" is
// checked, not claimed. go test -update rewrites the file after a change of
// policy that is meant.
func TestTraceGolden(t *testing.T) {
	var got bytes.Buffer
	for _, policy := range []Policy{Fair, FIFO, Greedy} {
		for seed := uint64(0); seed < 60; seed++ {
			fmt.Fprintf(&got, "%s %d %x\n", policy, seed, traceDigest(t, policy, seed))
		}
	}
	path := filepath.Join("testdata", "trace.golden")
	if *updateTrace {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got.String(), "\n")
	for i := range max(len(wl), len(gl)) {
		w, g := "", ""
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Errorf("%s line %d: got %q, want %q (the trace of that policy and seed differs: run it with traceLog to see where)", path, i+1, g, w)
		}
	}
}

func traceDigest(t *testing.T, policy Policy, seed uint64) []byte {
	h := sha256.New()
	w := bufio.NewWriter(h)
	traceLog(t, policy, seed, w, noProbe)
	w.Flush()
	return h.Sum(nil)
}

// probe says how traceLog asks for locks that must be granted at once or
// not at all.
type probe int

const (
	noProbe      probe = iota // never: the golden traces
	probeTry                  // TryAcquire
	probeTwoCall              // Submit, then Cancel when not granted
)

// TestTryAcquireIsSubmitThenCancel checks that TryAcquire leaves the
// arbiter, and reports, exactly what Submit followed by Cancel would.
func TestTryAcquireIsSubmitThenCancel(t *testing.T) {
	for _, policy := range []Policy{Fair, FIFO, Greedy} {
		for seed := uint64(0); seed < 40; seed++ {
			var a, b bytes.Buffer
			traceLog(t, policy, seed, &a, probeTry)
			traceLog(t, policy, seed, &b, probeTwoCall)
			if a.String() != b.String() {
				al, bl := strings.Split(a.String(), "\n"), strings.Split(b.String(), "\n")
				for i := range min(len(al), len(bl)) {
					if al[i] != bl[i] {
						t.Fatalf("%s seed %d line %d: TryAcquire gave\n%s\nSubmit and Cancel gave\n%s", policy, seed, i+1, al[i], bl[i])
					}
				}
				t.Fatalf("%s seed %d: traces differ in length", policy, seed)
			}
		}
	}
}

// traceLog runs one random sequence and writes what every call returned.
func traceLog(t *testing.T, policy Policy, seed uint64, out io.Writer, pr probe) {
	rng := rand.New(rand.NewPCG(seed, 0x7ace))
	caps := map[string]int{}
	var names []string
	for i := range 1 + rng.IntN(6) {
		n := fmt.Sprintf("l%d", i)
		caps[n] = 1 + rng.IntN(3)
		names = append(names, n)
	}
	stages := []string{"tree_d", "pc1", "pc2", "c2"}[:1+rng.IntN(4)]
	weights := map[string]float64{}
	for _, s := range stages {
		weights[s] = []float64{0.5, 1, 1, 2, 3}[rng.IntN(5)]
	}
	var bound time.Duration
	if seed%3 != 0 { // a third adaptive
		bound = time.Duration(1+rng.IntN(60)) * time.Minute
	}
	var grace time.Duration
	if seed%4 == 1 {
		grace = time.Minute
	}
	clk := NewManualClock(t0)
	a, err := New(Config{Policy: policy, Locks: caps, Weights: weights, BypassBound: bound, ReentryGrace: grace, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	owners := make([]string, 3+rng.IntN(8))
	for i := range owners {
		owners[i] = fmt.Sprintf("%s.%d", stages[i%len(stages)], i)
	}
	var held []Token
	var waiting []RequestID
	logLeases := func(what string, ls []Lease) {
		fmt.Fprintf(out, "%s %v:", what, clk.Now().Sub(t0))
		for _, l := range ls {
			fmt.Fprintf(out, " %d/%d/%s/%s/%v/%v", l.Token, l.Request, l.Stage, l.Owner, l.Locks, l.Granted.Sub(l.Requested))
			held = append(held, l.Token)
			if i := slices.Index(waiting, l.Request); i >= 0 {
				waiting = slices.Delete(waiting, i, i+1)
			}
		}
		fmt.Fprintln(out)
	}
	for step := 0; step < 800; step++ {
		if rng.IntN(3) > 0 {
			clk.Advance(time.Duration(rng.IntN(20*60)) * time.Second)
		}
		switch x := rng.IntN(100); {
		case pr != noProbe && x < 20:
			o := rng.IntN(len(owners))
			var locks []string
			for _, i := range rng.Perm(len(names))[:1+rng.IntN(min(3, len(names)))] {
				locks = append(locks, names[i])
			}
			req := Request{Stage: stages[o%len(stages)], Owner: owners[o], Locks: locks}
			var own []Lease // the request's lease, when granted
			var others []Lease
			if pr == probeTry {
				l, ok, more, err := a.TryAcquire(req)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					own = []Lease{l}
				}
				others = more
			} else {
				id, ls, err := a.Submit(req)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range ls {
					if l.Request == id {
						own = []Lease{l}
					} else {
						others = append(others, l)
					}
				}
				if own == nil {
					more, err := a.Cancel(id)
					if err != nil {
						t.Fatal(err)
					}
					others = append(others, more...)
				}
			}
			ok := own != nil
			granted := append(own, others...)
			logLeases(fmt.Sprintf("probe %v %v", locks, ok), granted)
		case x < 45:
			o := rng.IntN(len(owners))
			var locks []string
			for _, i := range rng.Perm(len(names))[:rng.IntN(min(3, len(names))+1)] {
				locks = append(locks, names[i])
			}
			id, ls, err := a.Submit(Request{Stage: stages[o%len(stages)], Owner: owners[o], Locks: locks})
			if err != nil {
				t.Fatal(err)
			}
			waiting = append(waiting, id)
			logLeases(fmt.Sprintf("submit %d %v", id, locks), ls)
		case x < 80:
			if len(held) == 0 {
				continue
			}
			i := rng.IntN(len(held))
			tok := held[i]
			held = slices.Delete(held, i, i+1)
			ls, err := a.Release(tok)
			logLeases(fmt.Sprintf("release %d %v", tok, err), ls)
		case x < 92:
			if len(waiting) == 0 {
				continue
			}
			i := rng.IntN(len(waiting))
			id := waiting[i]
			waiting = slices.Delete(waiting, i, i+1)
			ls, err := a.Cancel(id)
			logLeases(fmt.Sprintf("cancel %d %v", id, err), ls)
		case x < 95:
			o := owners[rng.IntN(len(owners))]
			rel, canc, ls := a.ReleaseOwner(o)
			for _, l := range rel {
				held = slices.DeleteFunc(held, func(t Token) bool { return t == l.Token })
			}
			for _, id := range canc {
				waiting = slices.DeleteFunc(waiting, func(r RequestID) bool { return r == id })
			}
			logLeases(fmt.Sprintf("owner %s %d %v", o, len(rel), canc), ls)
		default:
			writeStats(out, a.Stats())
		}
	}
	writeStats(out, a.Stats())
}

func writeStats(out io.Writer, st Stats) {
	var ks []string
	for k := range st.Locks {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		l := st.Locks[k]
		fmt.Fprintf(out, "lock %s %d %d %d %d %v %v %v", k, l.Capacity, l.Held, l.Waiting, l.Grants, l.Busy, l.IdleWhileWaiting, l.Withheld)
		var ss []string
		for s := range l.Hold {
			ss = append(ss, s)
		}
		sort.Strings(ss)
		for _, s := range ss {
			fmt.Fprintf(out, " %s=%v/%.6f", s, l.Hold[s], l.Share[s])
		}
		fmt.Fprintln(out)
	}
	ks = ks[:0]
	for k := range st.Stages {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		s := st.Stages[k]
		fmt.Fprintf(out, "stage %s %v %.9f %d %d %d %d %d %d %v %+v %v\n", k, s.Weight, s.VirtualTime, s.Requests, s.Grants,
			s.Cancels, s.Releases, s.Waiting, s.Holding, s.HoldTime, s.Wait, s.LongestWaiting)
	}
}
