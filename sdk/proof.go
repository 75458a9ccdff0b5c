package sdk

import "fmt"

// sectorSizes are the sector sizes of abi.RegisteredSealProof values: the
// numbering repeats the same five sizes for each proof version (V1, V1_1,
// V1_1 synthetic PoRep, V1_2 non-interactive PoRep).
var sectorSizes = [5]uint64{2 << 10, 8 << 20, 512 << 20, 32 << 30, 64 << 30}

// SectorSize returns the sector size in bytes of a registered seal proof
// (Sector.registered_seal_proof, abi numbering 0..19), or an error for a
// number this SDK does not know, which a stage should return as is.
func SectorSize(registeredSealProof int64) (uint64, error) {
	if registeredSealProof < 0 || registeredSealProof >= 4*int64(len(sectorSizes)) {
		return 0, Errorf("unknown registered seal proof %d (this SDK, %s, knows 0..19)", registeredSealProof, SDKVersion)
	}
	return sectorSizes[registeredSealProof%int64(len(sectorSizes))], nil
}

// SectorSizeName is SectorSize written the way operators write it ("32GiB").
func SectorSizeName(size uint64) string {
	switch {
	case size >= 1<<30 && size%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", size>>30)
	case size >= 1<<20 && size%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", size>>20)
	case size >= 1<<10 && size%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", size>>10)
	}
	return fmt.Sprintf("%dB", size)
}
