package damoclesconf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// humanUnits are the suffixes damocles' durations accept (the humantime
// crate, through humantime_serde): a duration is one or more "<number>
// <unit>" spans, spaces allowed between and inside them, summed. Months and
// years are humantime's 30.44 and 365.25 days.
var humanUnits = map[string]time.Duration{
	"nanos": time.Nanosecond, "nsec": time.Nanosecond, "ns": time.Nanosecond,
	"usec": time.Microsecond, "us": time.Microsecond,
	"millis": time.Millisecond, "msec": time.Millisecond, "ms": time.Millisecond,
	"seconds": time.Second, "second": time.Second, "secs": time.Second, "sec": time.Second, "s": time.Second,
	"minutes": time.Minute, "minute": time.Minute, "mins": time.Minute, "min": time.Minute, "m": time.Minute,
	"hours": time.Hour, "hour": time.Hour, "hrs": time.Hour, "hr": time.Hour, "h": time.Hour,
	"days": 24 * time.Hour, "day": 24 * time.Hour, "d": 24 * time.Hour,
	"weeks": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "w": 7 * 24 * time.Hour,
	"months": 2630016 * time.Second, "month": 2630016 * time.Second, "M": 2630016 * time.Second,
	"years": 31557600 * time.Second, "year": 31557600 * time.Second, "y": 31557600 * time.Second,
}

// parseHumanDuration parses a damocles duration such as "5s", "2min",
// "1h 30m". Errors say what damocles would have refused.
func parseHumanDuration(s string) (time.Duration, error) {
	var total time.Duration
	i, spans := 0, 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skipSpace()
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return 0, fmt.Errorf("%q: expected a number at %q", s, s[start:])
		}
		n, err := strconv.ParseUint(s[start:i], 10, 63)
		if err != nil {
			return 0, fmt.Errorf("%q: %s is too large", s, s[start:i])
		}
		skipSpace()
		ustart := i
		for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
			i++
		}
		unit := s[ustart:i]
		if unit == "" && i < len(s) {
			return 0, fmt.Errorf("%q: unexpected %q after %d; write whole numbers with a unit, like 90s or 1h 30min", s, s[i:i+1], n)
		}
		if unit == "" {
			return 0, fmt.Errorf("%q: %d needs a unit, like %dsec or %dms", s, n, n, n)
		}
		mult, ok := humanUnits[unit]
		if !ok {
			return 0, fmt.Errorf("%q: unknown unit %q; damocles accepts ns, us, ms, s/sec, m/min, h/hr, d/days, w/weeks, M/months, y/years", s, unit)
		}
		if n > uint64(math.MaxInt64/int64(mult)) || total > math.MaxInt64-time.Duration(n)*mult {
			return 0, fmt.Errorf("%q is too long", s)
		}
		total += time.Duration(n) * mult
		spans++
	}
	if spans == 0 {
		return 0, fmt.Errorf("the duration is empty; write one like \"5s\" or \"2min\"")
	}
	return total, nil
}

// formatDuration writes d the way config.ParseDuration reads it: days,
// then Go's units, zero parts left out ("5m", "1d12h", "1m30s", "250ms").
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	parts := []struct {
		unit string
		size time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}, {"ns", time.Nanosecond}}
	for _, p := range parts {
		if n := d / p.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, p.unit)
			d -= n * p.size
		}
	}
	return b.String()
}
