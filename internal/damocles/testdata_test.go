package damocles

import (
	"fmt"
	"strings"
)

// ints writes n integers starting at from, as serde writes [u8; n].
func ints(from, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint((from + i) % 256)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// proverID1000 is ProverID(1000): uvarint 1000 = 0xe8 0x07.
var proverID1000 = "[232,7" + strings.Repeat(",0", 30) + "]"

// Task bodies as damocles-worker writes them (serde field order).
var (
	treeDTask = `{"registered_proof":"StackedDrg2KiBV1_1","staged_file":"/d/unsealed/s-t01000-7","cache_dir":"/d/prepared/s-t01000-7"}`
	pc1Out    = `{"registered_proof":"StackedDrg2KiBV1_1","labels":{"StackedDrg2KiBV1":{"labels":[{"path":"/d/cache/s-t01000-7","id":"layer-1","size":64,"rows_to_discard":0}],"_h":null}},"config":{"path":"/d/cache/s-t01000-7","id":"tree-d","size":127,"rows_to_discard":0},"comm_d":` + ints(1, 32) + `}`
	pc1Task   = `{"registered_proof":"StackedDrg2KiBV1_1","cache_path":"/d/cache/s-t01000-7","in_path":"/d/unsealed/s-t01000-7","out_path":"/d/sealed/s-t01000-7","prover_id":` + proverID1000 + `,"sector_id":7,"ticket":` + ints(100, 32) + `,"piece_infos":[{"commitment":` + ints(1, 32) + `,"size":2032}]}`
	pc2Task   = `{"pc1out":` + pc1Out + `,"cache_dir":"/d/cache/s-t01000-7","sealed_file":"/d/sealed/s-t01000-7"}`
	pc2Out    = `{"registered_proof":"StackedDrg2KiBV1_1","comm_r":` + ints(2, 32) + `,"comm_d":` + ints(1, 32) + `}`
	c1Out     = `{"registered_proof":"StackedDrg2KiBV1_1","vanilla_proofs":{"StackedDrg2KiBV1":[[]]},"comm_r":` + ints(2, 32) + `,"comm_d":` + ints(1, 32) + `,"replica_id":` + ints(3, 32) + `,"seed":` + ints(4, 32) + `,"ticket":` + ints(100, 32) + `}`
	c2Task    = `{"c1out":` + c1Out + `,"prover_id":` + proverID1000 + `,"sector_id":7,"miner_id":1000}`
	c2Out     = `{"proof":` + ints(0, 192) + `}`
)
