package externpc2

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzFromEnv: whatever the seven variables hold, FromEnv returns a job or
// an error, and a job it returns is consistent.
func FuzzFromEnv(f *testing.F) {
	ok := lotusEnv("/c", "/s")
	f.Add(ok[EnvSectorNum], ok[EnvMiner], ok[EnvProofType], ok[EnvSectorSize], ok[EnvCache], ok[EnvSealed], ok[EnvPC1Out])
	f.Add("1", "2", "8", "34359738368", "/c", "/s", base64.StdEncoding.EncodeToString([]byte(`{"registered_proof":"StackedDrg32GiBV1_1"}`)))
	f.Add("", "x", "99", "-1", "rel", "", "!!")
	f.Fuzz(func(t *testing.T, num, miner, pt, size, cache, sealed, pc1 string) {
		env := map[string]string{EnvSectorNum: num, EnvMiner: miner, EnvProofType: pt, EnvSectorSize: size, EnvCache: cache, EnvSealed: sealed, EnvPC1Out: pc1}
		j, err := FromEnv(lookupIn(env))
		if err != nil {
			if !strings.Contains(err.Error(), "EXTSEAL_PC2_") {
				t.Fatalf("error names no variable: %v", err)
			}
			return
		}
		if j.Cache != cache || j.Sealed != sealed || len(j.PC1Out) == 0 || j.SectorSize == 0 {
			t.Fatalf("job %+v from %v", j, env)
		}
	})
}
