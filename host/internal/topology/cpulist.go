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
	return parseCPUListMax(s, maxCPUID+1)
}

// maxSiblings bounds a core's hardware threads (SMT8 is the most any CPU
// has).
const maxSiblings = 8

// parseCPUListMax is parseCPUList for a list that may name at most max
// cpus: it counts them before it builds the set, so a JSON machine whose
// 192 cpus each claim "0-65535" as siblings is refused in microseconds
// rather than expanded 192 times (it stalled the fuzzer).
func parseCPUListMax(s string, max int) (cpuset.CPUSet, error) {
	count := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, errA := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var errB error
		if isRange {
			b, errB = strconv.Atoi(strings.TrimSpace(hi))
		}
		for _, n := range []int{a, b} {
			if n > maxCPUID {
				return cpuset.CPUSet{}, fmt.Errorf("cpu %d is above the largest cpu number accepted, %d", n, maxCPUID)
			}
		}
		if errA == nil && errB == nil && b >= a {
			count += b - a + 1
		}
		if count > max {
			return cpuset.CPUSet{}, fmt.Errorf("names more than %d cpus", max)
		}
	}
	return cpuset.Parse(s)
}
