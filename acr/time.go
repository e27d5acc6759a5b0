package acr

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// timeLayouts are tried in order by parseTime. The fraction of a second is not in
// the layouts because time.Parse accepts one of any length after the seconds anyway
// (ACR sends seven digits, Go writes up to nine).
var timeLayouts = []string{
	"2006-01-02T15:04:05Z07:00", // RFC 3339: Z or ±hh:mm
	"2006-01-02T15:04:05Z0700",  // ±hhmm, seen from some services
	"2006-01-02T15:04:05",       // no zone at all: Azure means UTC
}

// parseTime reads an RFC 3339 timestamp as the ACR API writes it: with or without a
// zone (a missing zone means UTC), with any number of fractional digits, and with
// 't', 'z' or a space instead of 'T' accepted.
func parseTime(s string) (time.Time, error) {
	v := strings.ToUpper(strings.TrimSpace(s))
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
}

// timeRFC3339 is a time.Time that is written as RFC 3339 with nanoseconds and read
// with parseTime's tolerance.
type timeRFC3339 time.Time

// MarshalJSON writes the time as an RFC 3339 string.
func (t timeRFC3339) MarshalJSON() ([]byte, error) {
	return time.Time(t).MarshalJSON()
}

// MarshalText writes the time as RFC 3339 text.
func (t timeRFC3339) MarshalText() ([]byte, error) {
	return time.Time(t).MarshalText()
}

// UnmarshalJSON reads a JSON string with parseTime. JSON null leaves t unchanged.
func (t *timeRFC3339) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("time must be a JSON string: %w", err)
	}
	return t.UnmarshalText([]byte(s))
}

// UnmarshalText reads text with parseTime.
func (t *timeRFC3339) UnmarshalText(data []byte) error {
	p, err := parseTime(string(data))
	if err != nil {
		return err
	}
	*t = timeRFC3339(p)
	return nil
}

// decodeTime decodes a JSON time member into *dst. JSON null and the empty string
// leave *dst nil.
func decodeTime(raw json.RawMessage, dst **time.Time) error {
	if string(raw) == "null" || string(raw) == `""` {
		*dst = nil
		return nil
	}
	var t timeRFC3339
	if err := t.UnmarshalJSON(raw); err != nil {
		return err
	}
	v := time.Time(t)
	*dst = &v
	return nil
}
