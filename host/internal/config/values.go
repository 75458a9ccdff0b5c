package config

import (
	"fmt"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/cpuset"
)

// MaxCPU is the highest cpu number a cpuset may name. It is the kernel's
// largest NR_CPUS (8192) minus one; the bound also keeps a typo such as
// "0-4000000000" from building a set of billions of cpus.
const MaxCPU = 8191

// ParseCPUs parses a cpu list in the kernel's list syntax ("0-41",
// "2,5,8,11,50-53"), as found in sysfs and in cpuset.cpus. Surrounding space
// and a trailing newline are ignored, as is space around each element; the
// empty list is the empty set. Print a set canonically with its String
// method.
//
// Each element is checked here so the error names the element and says what
// is wrong; the set itself is built by k8s.io/utils/cpuset.
func ParseCPUs(s string) (cpuset.CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return cpuset.New(), nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		parts[i] = p
		if p == "" {
			return cpuset.New(), fmt.Errorf("cpu list %q has an empty element; write cpus or ranges separated by single commas, like \"0-3,8\"", s)
		}
		lo, hi, isRange := strings.Cut(p, "-")
		a, err := cpuNumber(lo, p)
		if err != nil {
			return cpuset.New(), err
		}
		if !isRange {
			continue
		}
		b, err := cpuNumber(hi, p)
		if err != nil {
			return cpuset.New(), err
		}
		if a > b {
			return cpuset.New(), fmt.Errorf("cpu range %q runs backwards; write it low-high, like \"%d-%d\"", p, b, a)
		}
	}
	set, err := cpuset.Parse(strings.Join(parts, ","))
	if err != nil {
		// Unreachable after the checks above; kept so a change in the
		// library cannot turn into a silent empty set.
		return cpuset.New(), fmt.Errorf("cpu list %q: %v", s, err)
	}
	return set, nil
}

func cpuNumber(s, elem string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("cpu list element %q is not a cpu or a range; write a cpu like \"5\" or a range like \"0-41\"", elem)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			if r == ':' || r == '/' {
				return 0, fmt.Errorf("cpu list element %q uses stride syntax, which is not supported; list the cpus or ranges instead", elem)
			}
			return 0, fmt.Errorf("cpu list element %q: %q is not a cpu number; cpus are whole numbers from 0 to %d", elem, s, MaxCPU)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxCPU {
		return 0, fmt.Errorf("cpu list element %q: cpu %s is out of range; cpus are numbered 0 to %d", elem, s, MaxCPU)
	}
	return n, nil
}

// SectorSizes lists the sector sizes the proofs support, smallest first.
var SectorSizes = []SectorSize{
	{Name: "2KiB", Bytes: 2 << 10},
	{Name: "8MiB", Bytes: 8 << 20},
	{Name: "512MiB", Bytes: 512 << 20},
	{Name: "32GiB", Bytes: 32 << 30},
	{Name: "64GiB", Bytes: 64 << 30},
}

var sizeRE = regexp.MustCompile(`^([0-9]+)[ ]?([A-Za-z]*)$`)

var sizeUnits = map[string]uint64{
	"":    1,
	"B":   1,
	"KiB": 1 << 10,
	"MiB": 1 << 20,
	"GiB": 1 << 30,
	"TiB": 1 << 40,
}

// ParseSize parses a byte size: a whole number, optionally followed by B,
// KiB, MiB, GiB or TiB ("900GiB", "512MiB", "1048576"). Decimal units (GB)
// are refused because an operator who writes them almost always means GiB,
// and the difference is 7%.
func ParseSize(s string) (uint64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size; write a whole number with an optional unit B, KiB, MiB, GiB or TiB, like \"900GiB\"", s)
	}
	mult, ok := sizeUnits[m[2]]
	if !ok {
		hint := ""
		for u := range sizeUnits {
			if u != "" && u != "B" && strings.EqualFold(u[:1], m[2][:1]) {
				hint = fmt.Sprintf(" (did you mean %s%s?)", m[1], u)
			}
		}
		return 0, fmt.Errorf("%q has an unknown unit %q%s; units are B, KiB, MiB, GiB and TiB (powers of 1024)", s, m[2], hint)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large for a size", s)
	}
	hi, lo := bits.Mul64(n, mult)
	if hi != 0 {
		return 0, fmt.Errorf("%q is too large for a size", s)
	}
	return lo, nil
}

// FormatSize prints a byte count with the largest binary unit that divides
// it exactly ("900GiB", "1536MiB", "1000B"), so ParseSize(FormatSize(n)) == n.
func FormatSize(n uint64) string {
	for _, u := range []struct {
		name string
		mult uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatUint(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10) + "B"
}

// HumanSize prints n in the largest binary unit that keeps it at least 1,
// whole numbers without decimals ("64 GiB", "1007.9 GiB", "1 TiB").
func HumanSize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for i < 4 && n >= 1<<(10*(i+1)) {
		i++
	}
	// Stay in GiB up to 10 TiB so node sizes compare at a glance.
	if i == 4 && n < 10<<40 {
		i = 3
	}
	div := uint64(1) << (10 * i)
	if n%div == 0 {
		return fmt.Sprintf("%d %s", n/div, units[i])
	}
	return fmt.Sprintf("%.1f %s", float64(n)/float64(div), units[i])
}

var daysRE = regexp.MustCompile(`^([0-9]+)d(.*)$`)

// ParseDuration parses a duration in Go's syntax ("90s", "6h", "1h30m")
// with one addition: a leading number of days, "d" ("2d", "1d12h").
// Negative durations are refused: nothing in a config runs backwards.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("%q is not a duration; write a number and a unit, like \"90s\", \"30m\", \"6h\", \"1h30m\" or \"2d\" (units: ms, s, m, h, d)", orig)
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is negative; durations must be zero or more", orig)
	}
	var days time.Duration
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > int64(1<<63-1)/int64(24*time.Hour) {
			return 0, fmt.Errorf("%q is too long for a duration", orig)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = m[2]
		if s == "" {
			return days, nil
		}
		if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
			return bad()
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return bad()
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative; durations must be zero or more", orig)
	}
	if d > time.Duration(1<<63-1)-days {
		return 0, fmt.Errorf("%q is too long for a duration", orig)
	}
	return days + d, nil
}
