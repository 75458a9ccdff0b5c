package statusview

import (
	"testing"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func TestStageNames(t *testing.T) {
	for stage, want := range map[sealv1.Stage]string{
		sealv1.Stage_STAGE_UNSPECIFIED: "?", sealv1.Stage_STAGE_C2: "c2",
		sealv1.Stage_STAGE_SNAP_ENCODE: "snap_encode", sealv1.Stage_STAGE_SNAP_PROVE: "snap_prove",
		sealv1.Stage_STAGE_WINDOW_POST: "window_post", sealv1.Stage_STAGE_WINNING_POST: "winning_post",
		sealv1.Stage_STAGE_UNSEAL: "unseal", sealv1.Stage_STAGE_ADD_PIECES: "add_pieces",
	} {
		if got := stageName(stage); got != want {
			t.Errorf("stageName(%v) = %q, want %q", stage, got, want)
		}
	}
}
