package externpc2

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commcid "github.com/filecoin-project/go-fil-commcid"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

const pc1JSON = `{"registered_proof":"StackedDrg2KiBV1_1","comm_d":[1,2]}`

func lotusEnv(cache, sealed string) map[string]string {
	return map[string]string{
		EnvSectorNum: "7", EnvMiner: "1000", EnvProofType: "5", EnvSectorSize: "2048",
		EnvCache: cache, EnvSealed: sealed,
		EnvPC1Out: base64.StdEncoding.EncodeToString([]byte(pc1JSON)),
	}
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	j, err := FromEnv(lookupIn(lotusEnv("/c", "/s")))
	if err != nil {
		t.Fatal(err)
	}
	if j.Sector.GetSectorNumber() != 7 || j.Sector.GetMinerId() != 1000 || j.Sector.GetRegisteredSealProof() != 5 ||
		j.SectorSize != 2048 || j.Cache != "/c" || j.Sealed != "/s" || string(j.PC1Out) != pc1JSON {
		t.Fatalf("FromEnv = %+v", j)
	}
	if r := j.Request(); r.GetCachePath() != "/c" || r.GetSealedPath() != "/s" || string(r.GetPhase1Output()) != pc1JSON || r.GetSector() != j.Sector {
		t.Fatalf("Request = %v", r)
	}

	for _, tc := range []struct {
		name string
		edit func(map[string]string)
		want []string
	}{
		{"nothing set", func(e map[string]string) { clear(e) }, []string{"not set: EXTSEAL_PC2_SECTOR_NUM, EXTSEAL_PC2_SECTOR_MINER, EXTSEAL_PC2_PROOF_TYPE, EXTSEAL_PC2_SECTOR_SIZE, EXTSEAL_PC2_CACHE, EXTSEAL_PC2_SEALED, EXTSEAL_PC2_PC1OUT"}},
		{"empty counts as unset", func(e map[string]string) { e[EnvCache] = "" }, []string{"not set: EXTSEAL_PC2_CACHE"}},
		{"sector number", func(e map[string]string) { e[EnvSectorNum] = "-1" }, []string{`EXTSEAL_PC2_SECTOR_NUM="-1" is not a non-negative integer`}},
		{"miner", func(e map[string]string) { e[EnvMiner] = "f01000" }, []string{`EXTSEAL_PC2_SECTOR_MINER="f01000"`}},
		{"proof type not a number", func(e map[string]string) { e[EnvProofType] = "StackedDrg2KiBV1_1" }, []string{"EXTSEAL_PC2_PROOF_TYPE=\"StackedDrg2KiBV1_1\" is not an integer"}},
		{"proof type unknown", func(e map[string]string) { e[EnvProofType] = "20" }, []string{"EXTSEAL_PC2_PROOF_TYPE=20: unknown registered seal proof"}},
		{"size mismatch", func(e map[string]string) { e[EnvSectorSize] = "34359738368" }, []string{"EXTSEAL_PC2_SECTOR_SIZE=34359738368 does not match EXTSEAL_PC2_PROOF_TYPE=5, whose sectors are 2048 bytes (2KiB)"}},
		{"relative cache", func(e map[string]string) { e[EnvCache] = "cache" }, []string{`EXTSEAL_PC2_CACHE="cache" is not an absolute path`}},
		{"relative sealed", func(e map[string]string) { e[EnvSealed] = "./s" }, []string{`EXTSEAL_PC2_SEALED="./s" is not an absolute path`}},
		{"url base64", func(e map[string]string) { e[EnvPC1Out] = "e30_-" }, []string{"EXTSEAL_PC2_PC1OUT is not standard base64"}},
		{"not json", func(e map[string]string) { e[EnvPC1Out] = base64.StdEncoding.EncodeToString([]byte("garbage")) }, []string{"EXTSEAL_PC2_PC1OUT: not the JSON of a PC1 output"}},
		{"no proof", func(e map[string]string) { e[EnvPC1Out] = base64.StdEncoding.EncodeToString([]byte(`{"comm_d":[]}`)) }, []string{`EXTSEAL_PC2_PC1OUT: not a PC1 output: no "registered_proof"`}},
		{"other size's pc1", func(e map[string]string) {
			e[EnvPC1Out] = base64.StdEncoding.EncodeToString([]byte(`{"registered_proof":"StackedDrg32GiBV1_1"}`))
		}, []string{`its registered_proof "StackedDrg32GiBV1_1" is not for 2KiB sectors`}},
		{"huge pc1", func(e map[string]string) { e[EnvPC1Out] = base64.StdEncoding.EncodeToString(make([]byte, maxPC1Out+1)) }, []string{"decodes to 131073 bytes"}},
		{"all reported at once", func(e map[string]string) { e[EnvMiner] = "x"; e[EnvCache] = "rel"; delete(e, EnvSealed) }, []string{"not set: EXTSEAL_PC2_SEALED", "EXTSEAL_PC2_SECTOR_MINER=\"x\"", "EXTSEAL_PC2_CACHE=\"rel\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := lotusEnv("/c", "/s")
			tc.edit(env)
			_, err := FromEnv(lookupIn(env))
			if err == nil {
				t.Fatal("FromEnv accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// lotusCache lays out what rust-fil-proofs leaves after PC2 of a 2KiB
// sector, with tree_d's root being commD.
func lotusCache(t *testing.T, commD []byte) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"sc-02-data-tree-r-last.dat": {1}, "sc-02-data-tree-c.dat": {1}, "t_aux": {1},
		"p_aux":   bytes.Repeat([]byte{3}, 64),
		TreeDFile: append(bytes.Repeat([]byte{9}, 64), commD...),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckCache(t *testing.T) {
	d := bytes.Repeat([]byte{5}, 32)
	for _, tc := range []struct {
		name string
		edit func(dir string)
		want string
	}{
		{"complete", func(string) {}, ""},
		{"no p_aux", func(dir string) { os.Remove(filepath.Join(dir, "p_aux")) }, "lacks what lotus checks after PC2: p_aux"},
		{"short p_aux", func(dir string) { os.WriteFile(filepath.Join(dir, "p_aux"), make([]byte, 63), 0o644) }, "is 63 bytes; lotus accepts exactly 64"},
		{"no trees", func(dir string) {
			os.Remove(filepath.Join(dir, "sc-02-data-tree-r-last.dat"))
			os.Remove(filepath.Join(dir, "sc-02-data-tree-c.dat"))
		}, "sc-02-data-tree-r-last*.dat, sc-02-data-tree-c*.dat"},
		{"split trees count", func(dir string) {
			os.Rename(filepath.Join(dir, "sc-02-data-tree-c.dat"), filepath.Join(dir, "sc-02-data-tree-c-0.dat"))
		}, ""},
		{"no t_aux", func(dir string) { os.Remove(filepath.Join(dir, "t_aux")) }, "t_aux"},
		{"no tree_d", func(dir string) { os.Remove(filepath.Join(dir, TreeDFile)) }, "lotus reads comm_d from tree_d"},
		{"tree_d too short", func(dir string) { os.WriteFile(filepath.Join(dir, TreeDFile), make([]byte, 31), 0o644) }, "too short to hold tree_d's root"},
		{"other comm_d", func(dir string) { os.WriteFile(filepath.Join(dir, TreeDFile), make([]byte, 64), 0o644) }, "differs from PC2's comm_d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := lotusCache(t, d)
			tc.edit(dir)
			err := CheckCache(dir, d)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckCache = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRun(t *testing.T) {
	d := bytes.Repeat([]byte{5}, 32)
	r := bytes.Repeat([]byte{6}, 32)
	sealed, _ := commcid.ReplicaCommitmentV1ToCID(r)
	unsealed, _ := commcid.DataCommitmentV1ToCID(d)

	t.Run("writes comm_r after the host's answer", func(t *testing.T) {
		cache := lotusCache(t, d)
		j, _ := FromEnv(lookupIn(lotusEnv(cache, "/s")))
		var got *sealv1.PC2Request
		res, err := Run(context.Background(), func(_ context.Context, req *sealv1.PC2Request) (*sealv1.PC2Response, error) {
			got = req
			// The processor's plugin writes p_aux anew.
			os.WriteFile(filepath.Join(req.GetCachePath(), "p_aux"), make([]byte, 64), 0o644)
			return &sealv1.PC2Response{SealedCid: sealed.String(), UnsealedCid: unsealed.String()}, nil
		}, j)
		if err != nil {
			t.Fatal(err)
		}
		if got.GetCachePath() != cache || res.SealedCID != sealed.String() || !bytes.Equal(res.CommR[:], r) {
			t.Fatalf("Run = %+v for %v", res, got)
		}
		if b, _ := os.ReadFile(filepath.Join(cache, "comm_r")); !bytes.Equal(b, r) {
			t.Fatalf("comm_r file = %x, want %x", b, r)
		}
	})
	t.Run("a stale p_aux does not pass for this run's", func(t *testing.T) {
		cache := lotusCache(t, d)
		os.WriteFile(filepath.Join(cache, "comm_r"), r, 0o644)
		j, _ := FromEnv(lookupIn(lotusEnv(cache, "/s")))
		_, err := Run(context.Background(), func(context.Context, *sealv1.PC2Request) (*sealv1.PC2Response, error) {
			return &sealv1.PC2Response{SealedCid: sealed.String(), UnsealedCid: unsealed.String()}, nil
		}, j)
		if err == nil || !strings.Contains(err.Error(), "lacks what lotus checks after PC2: p_aux") {
			t.Fatalf("Run = %v", err)
		}
		if _, err := os.Stat(filepath.Join(cache, "comm_r")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed run left comm_r: %v", err)
		}
	})
	t.Run("the host's error comes back as is", func(t *testing.T) {
		j, _ := FromEnv(lookupIn(lotusEnv(t.TempDir(), "/s")))
		want := sdk.RetryableErrorf("no pc2 processor")
		_, err := Run(context.Background(), func(context.Context, *sealv1.PC2Request) (*sealv1.PC2Response, error) { return nil, want }, j)
		if !errors.Is(err, want) {
			t.Fatalf("Run = %v", err)
		}
	})
	t.Run("an answer that is not a CID", func(t *testing.T) {
		j, _ := FromEnv(lookupIn(lotusEnv(lotusCache(t, d), "/s")))
		_, err := Run(context.Background(), func(context.Context, *sealv1.PC2Request) (*sealv1.PC2Response, error) {
			return &sealv1.PC2Response{SealedCid: "bogus", UnsealedCid: unsealed.String()}, nil
		}, j)
		if err == nil || !strings.Contains(err.Error(), `sealed_cid "bogus" that is not a CID`) {
			t.Fatalf("Run = %v", err)
		}
	})
}
