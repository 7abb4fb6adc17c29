package server

import (
	"strings"
	"time"
)

// isoLayout is the only form in which the relay emits times (PROTOCOL §1.5):
// UTC, exactly three fractional digits, a literal Z. They sort as strings.
const isoLayout = "2006-01-02T15:04:05.000Z"

// formatTime renders t in isoLayout.
func formatTime(t time.Time) string { return t.UTC().Format(isoLayout) }

// parseTime reads an input time (since, X-Timestamp): RFC 3339 with optional
// fractional seconds of any precision. A space at the offset position is read
// as '+', since an unencoded '+' in a query string decodes to a space.
// Sub-millisecond precision is truncated toward the past.
func parseTime(s string) (time.Time, bool) {
	if i := strings.LastIndexByte(s, ' '); i > 0 && i == len(s)-6 && s[i+3] == ':' {
		s = s[:i] + "+" + s[i+1:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	ms := t.UnixMilli()
	if t.Before(time.UnixMilli(ms)) {
		ms-- // UnixMilli rounds toward zero before 1970
	}
	return time.UnixMilli(ms).UTC(), true
}
