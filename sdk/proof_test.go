package sdk

import "testing"

func TestSectorSize(t *testing.T) {
	names := map[int64]string{
		0: "2KiB", 1: "8MiB", 2: "512MiB", 3: "32GiB", 4: "64GiB", // V1
		5: "2KiB", 6: "8MiB", 7: "512MiB", 8: "32GiB", 9: "64GiB", // V1_1
		10: "2KiB", 11: "8MiB", 12: "512MiB", 13: "32GiB", 14: "64GiB", // V1_1 synthetic PoRep
		15: "2KiB", 16: "8MiB", 17: "512MiB", 18: "32GiB", 19: "64GiB", // V1_2 NI-PoRep
	}
	for proof := int64(-2); proof <= 21; proof++ {
		size, err := SectorSize(proof)
		want, known := names[proof]
		switch {
		case known && err != nil:
			t.Errorf("SectorSize(%d): %v", proof, err)
		case known && SectorSizeName(size) != want:
			t.Errorf("SectorSize(%d) = %s, want %s", proof, SectorSizeName(size), want)
		case !known && err == nil:
			t.Errorf("SectorSize(%d) = %d, want an error", proof, size)
		case !known && IsRetryable(err):
			t.Errorf("SectorSize(%d): unknown proof reported retryable", proof)
		}
	}
	if s, err := SectorSize(8); err != nil || s != 34359738368 {
		t.Errorf("SectorSize(8) (32GiB V1_1) = %d, %v", s, err)
	}
}

func TestSectorSizeName(t *testing.T) {
	for size, want := range map[uint64]string{0: "0B", 1000: "1000B", 2048: "2KiB", 3 << 20: "3MiB", 1536 << 10: "1536KiB", 64 << 30: "64GiB"} {
		if got := SectorSizeName(size); got != want {
			t.Errorf("SectorSizeName(%d) = %q, want %q", size, got, want)
		}
	}
}
