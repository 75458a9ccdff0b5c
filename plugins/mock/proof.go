package main

import "fmt"

// proofInfo is what the mock needs to know about a registered seal proof.
type proofInfo struct {
	name       string
	sectorSize uint64
	partitions int // SNARK partitions of a C2 proof, 192 bytes each
}

// sizeInfo is indexed by a proof's position in each group of five
// (abi.RegisteredSealProof numbers sizes 2KiB, 8MiB, 512MiB, 32GiB, 64GiB
// in that order within V1, V1_1 and V1_1_Feat_SyntheticPoRep).
var sizeInfo = [5]proofInfo{
	{"2KiB", 2 << 10, 1},
	{"8MiB", 8 << 20, 1},
	{"512MiB", 512 << 20, 1},
	{"32GiB", 32 << 30, 10},
	{"64GiB", 64 << 30, 10},
}

var proofFamily = [3]string{"V1", "V1_1", "V1_1_Feat_SyntheticPoRep"}

// lookupProof returns what the mock knows of proof type pt. NI-PoRep
// (15..19) is refused: its proofs have another partition count the mock
// does not model.
func lookupProof(pt int64) (proofInfo, error) {
	if pt < 0 || pt >= 15 {
		return proofInfo{}, fmt.Errorf("registered_seal_proof %d is not a seal proof this mock knows (want 0..14: StackedDrg{2KiB..64GiB}V1, V1_1 or V1_1_Feat_SyntheticPoRep; 5 is StackedDrg2KiBV1_1)", pt)
	}
	p := sizeInfo[pt%5]
	p.name = "StackedDrg" + p.name + proofFamily[pt/5]
	return p, nil
}

// proofSize is the byte length of a C2 proof for p.
func (p proofInfo) proofSize() int { return 192 * p.partitions }
