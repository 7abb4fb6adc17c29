package storage

import (
	"strings"
	"time"
)

// TimeLayout is the only form in which the relay emits times (PROTOCOL
// §1.5): UTC, exactly three fractional digits, a literal Z. Timestamps are
// millisecond cursors, and in this form they sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads an input time (since, X-Timestamp, the admin cursor):
// RFC 3339 with fractional seconds of any precision. A space at the offset
// position is read as '+', since an unencoded '+' in a query string decodes
// to a space. Sub-millisecond precision is truncated toward the past, which
// is exact because stored timestamps have millisecond precision.
func ParseTime(s string) (time.Time, bool) {
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
