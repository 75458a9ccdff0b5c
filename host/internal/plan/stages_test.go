package plan

import (
	"strings"
	"testing"

	"github.com/sealhost/sealhost/host/internal/config"
)

// The stages that run a SNARK or build trees on the GPU count as GPU users,
// as c2 does, unless BELLMAN_NO_GPU turns bellman's GPU off.
func TestStagesOnTheGPU(t *testing.T) {
	for _, tt := range []struct {
		stage config.Stage
		gpu   bool
	}{
		{config.StageTreeD, false},
		{config.StagePC1, false},
		{config.StagePC2, false},
		{config.StageC1, false},
		{config.StageC2, true},
		{config.StageSnapEncode, true},
		{config.StageSnapProve, true},
		{config.StageWindowPoSt, true},
		{config.StageWinningPoSt, true},
		{config.StageUnseal, false},
		{config.StageAddPieces, false},
	} {
		t.Run(string(tt.stage), func(t *testing.T) {
			m := seedSpec.build()
			p := Build(cfg("32GiB", nil, nil, proc(tt.stage, "0-3")), m)
			if got := p.Processors[0].UsesGPU; got != tt.gpu {
				t.Errorf("UsesGPU = %v, want %v", got, tt.gpu)
			}
			p = Build(cfg("32GiB", nil, nil, proc(tt.stage, "0-3", env("BELLMAN_NO_GPU", "1"))), m)
			if p.Processors[0].UsesGPU {
				t.Error("UsesGPU with BELLMAN_NO_GPU set")
			}
		})
	}
}

// Two PoSt processors on the same GPU with nothing making them take turns
// get the shared-GPU warning c2 processors get.
func TestPoStSharesTheGPU(t *testing.T) {
	p := Build(cfg("32GiB", nil, nil, proc(config.StageWindowPoSt, "0-3", env("CUDA_VISIBLE_DEVICES", "0")),
		proc(config.StageC2, "4-7", env("CUDA_VISIBLE_DEVICES", "0"))), seedSpec.build())
	var b strings.Builder
	if err := p.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "window_post.0") || !hasCode(p, config.CodeGPUSharedWithoutLock) {
		t.Errorf("no shared-GPU diagnostic for window_post.0 and c2.0:\n%s", b.String())
	}
	if got := strings.Join(p.ServedBy(), "; "); got != "c2: c2.0; window_post: window_post.0" {
		t.Errorf("ServedBy = %q", got)
	}
	if !strings.Contains(b.String(), "  serves c2: c2.0; window_post: window_post.0\n") {
		t.Errorf("the summary does not say which processor serves which stage:\n%s", b.String())
	}
}

func hasCode(p *Plan, code config.Code) bool {
	for _, d := range p.Diagnostics {
		if config.CodeOf(d) == string(code) {
			return true
		}
	}
	return false
}
