package purge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxAge is the largest --ago: 150 years of 365 days, as acr purge caps it. Longer
// values are capped rather than refused (acr purge does the same), which is safe:
// nothing is that old, so a capped age deletes nothing a longer one would keep.
const MaxAge = 150 * 365 * 24 * time.Hour

// ParseDuration parses an age as acr purge writes it: a sequence of decimal numbers
// with a unit each, where the units are Go's (h, m, s, ms, us, µs, ns) plus d for
// days of 24 hours: "30d", "2h", "1d12h", "1.5h", "90m". "0" (and "") mean no
// minimum age. Negative ages are refused. The result is capped at MaxAge, and capped
// reports whether that happened; arithmetic never overflows.
//
// acr purge accepts days only as a prefix ("1d12h"); acre accepts them anywhere
// ("12h1d"), which means the same.
func ParseDuration(s string) (d time.Duration, capped bool, err error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, false, nil
	}
	if s[0] == '-' {
		return 0, false, fmt.Errorf("age %q: must not be negative", orig)
	}
	s = strings.TrimPrefix(s, "+")
	for s != "" {
		// One component: digits (with an optional fraction), then a unit.
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		j := i
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		num, unit := s[:i], s[i:j]
		s = s[j:]
		if num == "" || unit == "" {
			return 0, false, fmt.Errorf("age %q: want numbers with units, like 30d, 2h or 1d12h", orig)
		}
		part, err := component(num, unit)
		if errors.Is(err, errTooLong) || part > MaxAge {
			return MaxAge, true, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("age %q: %w", orig, err)
		}
		// Both terms are at most MaxAge, so checking against MaxAge before adding
		// keeps the sum within int64.
		if d > MaxAge-part {
			return MaxAge, true, nil
		}
		d += part
	}
	return d, false, nil
}

var errTooLong = errors.New("too long")

// component converts one number and unit to a duration, reporting errTooLong for a
// value beyond MaxAge.
func component(num, unit string) (time.Duration, error) {
	if unit != "d" {
		d, err := time.ParseDuration(num + unit)
		if err != nil {
			// time.ParseDuration says "invalid duration" both for a bad unit and for
			// an overflow; tell them apart by the unit.
			switch unit {
			case "h", "m", "s", "ms", "us", "µs", "μs", "ns":
				if _, perr := strconv.ParseFloat(num, 64); perr == nil {
					return 0, errTooLong
				}
				return 0, fmt.Errorf("bad number %q", num)
			}
			return 0, fmt.Errorf("unknown unit %q (want d, h, m, s, ms, us or ns)", unit)
		}
		return d, nil
	}
	days, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", num)
	}
	if days > float64(MaxAge/(24*time.Hour)) {
		return 0, errTooLong
	}
	whole, frac := int64(days), days-float64(int64(days))
	return time.Duration(whole)*24*time.Hour + time.Duration(frac*float64(24*time.Hour)), nil
}
