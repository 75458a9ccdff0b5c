package suggest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

// FuzzSuggestMachine feeds suggest any machine `host topology -json` can
// describe (the corpus: testdata/machines/*.json): it answers with
// candidates or an error, never a panic, and every candidate it prints
// passes the checks TestEveryMachine makes (bar the 95%: two simulated
// days spend a tenth of their time filling the pipeline).
func FuzzSuggestMachine(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(machines, "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(4))
	}
	f.Fuzz(func(t *testing.T, js []byte, spare uint8) {
		m, err := topology.DecodeJSON(js)
		if err != nil || len(m.CPUs) > 512 {
			return
		}
		res, err := Run(Request{Machine: m, SectorSize: "32GiB", Spare: int(spare % 16), For: 2 * 24 * time.Hour})
		if err != nil {
			return
		}
		spareSet, err := cpuset.Parse(res.Layout.Spare)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Candidates {
			checkCandidate(t, m, res, c, spareSet)
		}
	})
}

// FuzzSuggestShape builds machines from a few numbers (nodes, L3 groups a
// node, cores a group or none reported, SMT, memory, GPUs and their nodes,
// and which PoSt kinds -post adds) and makes the same checks: the shapes
// JSON mutation rarely reaches. With PoSt, every kind asked for is
// simulated too.
func FuzzSuggestShape(f *testing.F) {
	f.Add(uint8(2), uint8(16), uint8(3), uint8(1), uint16(1024), uint8(2), uint8(0b10), uint8(4), uint8(0))
	f.Add(uint8(1), uint8(4), uint8(8), uint8(2), uint16(512), uint8(1), uint8(0), uint8(4), uint8(0))
	f.Add(uint8(1), uint8(1), uint8(18), uint8(2), uint16(256), uint8(1), uint8(0), uint8(4), uint8(0))
	f.Add(uint8(4), uint8(0), uint8(6), uint8(1), uint16(96), uint8(3), uint8(0xff), uint8(1), uint8(0))
	f.Add(uint8(2), uint8(16), uint8(3), uint8(1), uint16(1024), uint8(2), uint8(0b10), uint8(4), uint8(3))
	f.Add(uint8(1), uint8(4), uint8(8), uint8(2), uint16(512), uint8(1), uint8(0), uint8(4), uint8(2))
	f.Add(uint8(4), uint8(0), uint8(6), uint8(1), uint16(96), uint8(3), uint8(0xff), uint8(1), uint8(1))
	postOf := [][]config.Stage{nil, {config.StageWindowPoSt}, {config.StageWinningPoSt}, {config.StageWindowPoSt, config.StageWinningPoSt}}
	f.Fuzz(func(t *testing.T, nodes, groups, cores, smt uint8, memGiB uint16, gpus, gpuNodes, spare, post uint8) {
		n, g, c, th := int(nodes%4)+1, int(groups%17), int(cores%19)+1, int(smt%2)+1
		var at []int
		for i := 0; i < int(gpus%5); i++ {
			node := int(gpuNodes>>i) % (n + 1) // n: unknown
			if node == n {
				node = -1
			}
			at = append(at, node)
		}
		m := synth(t, "fuzz", n, g, c, th, uint64(memGiB%2048)+1, at...)
		kinds := postOf[post%4]
		res, err := Run(Request{Machine: m, SectorSize: "32GiB", Spare: int(spare % 8), For: 2 * 24 * time.Hour, PoSt: kinds})
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatal(err)
			}
			return
		}
		spareSet, err := cpuset.Parse(res.Layout.Spare)
		if err != nil {
			t.Fatal(err)
		}
		for _, cand := range res.Candidates {
			checkCandidate(t, m, res, cand, spareSet)
			for _, st := range kinds {
				if ps := cand.PoSt[string(st)]; ps == nil || ps.Submitted == 0 {
					t.Errorf("%s: %s not simulated", cand.Strategy, st)
				}
			}
		}
	})
}
