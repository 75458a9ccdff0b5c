package damocles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
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

func (p SealProof) MarshalJSON() ([]byte, error) { return sealProofs.marshal(int64(p)) }

func (p *SealProof) UnmarshalJSON(raw []byte) error {
	v, err := sealProofs.unmarshal(raw)
	if err == nil {
		*p = SealProof(v)
	}
	return err
}

var sealProofs = variants{names: sealProofNames, what: "a seal proof", example: "StackedDrg32GiBV1_1",
	known: "StackedDrg{2KiB,8MiB,512MiB,32GiB,64GiB}{V1,V1_1,V1_1_Feat_SyntheticPoRep,V1_2_Feat_NonInteractivePoRep}"}

// variants is one of filecoin-proofs-api's proof enums, which serde writes
// by variant name, numbered as go-state-types' abi numbers them.
type variants struct {
	names                []string
	what, example, known string
}

func (v variants) marshal(n int64) ([]byte, error) {
	if n < 0 || n >= int64(len(v.names)) {
		return nil, fmt.Errorf("registered %s %d has no filecoin-proofs-api name (known: 0..%d)", strings.SplitN(v.what, " ", 2)[1], n, len(v.names)-1)
	}
	return json.Marshal(v.names[n])
}

func (v variants) unmarshal(raw []byte) (int64, error) {
	s, ok := stringOf(bytes.TrimSpace(raw))
	if !ok {
		return 0, fmt.Errorf("want %s name such as %q, got %s", v.what, v.example, kind(raw))
	}
	for i, n := range v.names {
		if n == s {
			return int64(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not %s of filecoin-proofs-api (%s)", shortString(s), v.what, v.known)
}

func shortString(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
