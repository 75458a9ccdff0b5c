package extprocessor

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestUnverifiedSaysSo: a proof the plugin did not verify is said so in
// the log line of its answer, with the plugin's note (the mock's says
// FAKE); a verified proof and a stage without proofs add nothing.
func TestUnverifiedSaysSo(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp proto.Message
		want string
	}{
		{"verified c2", &sealv1.C2Response{Verified: true, Verification: "VerifySeal: ok"}, ""},
		{"fake snap proof", &sealv1.SnapProveResponse{Verification: "FAKE proof from plugins/mock: not a SNARK, nothing verified"},
			"; the proof was not verified: FAKE proof from plugins/mock: not a SNARK, nothing verified"},
		{"window post, no note", &sealv1.WindowPoStResponse{}, "; the proof was not verified"},
		{"winning post", &sealv1.WinningPoStResponse{Verification: "not checked"}, "; the proof was not verified: not checked"},
		{"pc2 has no proof", &sealv1.PC2Response{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unverified(tc.resp); got != tc.want {
				t.Errorf("unverified = %q, want %q", got, tc.want)
			}
		})
	}
}
