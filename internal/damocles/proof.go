package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// SealProof is a seal proof type, numbered as go-state-types'
// abi.RegisteredSealProof (sealv1.Sector.registered_seal_proof) and
// written, as filecoin-proofs-api's RegisteredSealProof, by variant name.
type SealProof int64

// sealProofNames are filecoin-proofs-api's variant names in abi order
// (the enum is append-only on both sides, in the same order).
var sealProofNames = func() []string {
	var names []string
	for _, family := range []string{"V1", "V1_1", "V1_1_Feat_SyntheticPoRep", "V1_2_Feat_NonInteractivePoRep"} {
		for _, size := range []string{"2KiB", "8MiB", "512MiB", "32GiB", "64GiB"} {
			names = append(names, "StackedDrg"+size+family)
		}
	}
	return names
}()

// String is the variant name, or a note for a number that has none.
func (p SealProof) String() string {
	if p >= 0 && int(p) < len(sealProofNames) {
		return sealProofNames[p]
	}
	return fmt.Sprintf("SealProof(%d)", int64(p))
}

func (p SealProof) MarshalJSON() ([]byte, error) {
	if p < 0 || int(p) >= len(sealProofNames) {
		return nil, fmt.Errorf("registered seal proof %d has no filecoin-proofs-api name (known: 0..%d)", int64(p), len(sealProofNames)-1)
	}
	return json.Marshal(sealProofNames[p])
}

func (p *SealProof) UnmarshalJSON(raw []byte) error {
	s, ok := stringOf(bytes.TrimSpace(raw))
	if !ok {
		return fmt.Errorf("want a seal proof name such as \"StackedDrg32GiBV1_1\", got %s", kind(raw))
	}
	for i, n := range sealProofNames {
		if n == s {
			*p = SealProof(i)
			return nil
		}
	}
	return fmt.Errorf("%q is not a seal proof of filecoin-proofs-api (StackedDrg{2KiB,8MiB,512MiB,32GiB,64GiB}{V1,V1_1,V1_1_Feat_SyntheticPoRep,V1_2_Feat_NonInteractivePoRep})", shortString(s))
}

func shortString(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
