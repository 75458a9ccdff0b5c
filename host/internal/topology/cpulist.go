package topology

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/utils/cpuset"
)

// maxCPUID bounds the cpu numbers a list may name. The kernel's NR_CPUS
// tops out at 8192; the bound is far above that and only there so that a
// corrupt "0-4000000000" is refused instead of filling memory.
const maxCPUID = 1 << 16

// parseCPUList parses the kernel's cpu list syntax ("0-3,8,10-11"; empty is
// the empty set) with cpuset.Parse after checking every number against
// maxCPUID.
func parseCPUList(s string) (cpuset.CPUSet, error) {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '-' }) {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > maxCPUID {
			return cpuset.CPUSet{}, fmt.Errorf("cpu %d is above the largest cpu number accepted, %d", n, maxCPUID)
		}
	}
	return cpuset.Parse(s)
}
