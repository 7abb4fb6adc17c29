package admin

import (
	"strings"
	"time"
	"unicode/utf16"
)

// isoLayout is the only form in which the relay emits times (PROTOCOL §1.5).
const isoLayout = "2006-01-02T15:04:05.000Z"

// formatTime renders t in isoLayout; the zero time is "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(isoLayout)
}

// parseTime reads an input time such as the admin cursor (PROTOCOL §1.5):
// RFC 3339 with fractional seconds of any precision; a space at the offset
// position is a '+' that the query string decoded; sub-millisecond precision
// is truncated toward the past.
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

// previewUnits is how much of a message the admin shows (PROTOCOL §9, §11.6).
const previewUnits = 100

// preview cuts s to its first previewUnits UTF-16 units (the length that
// PROTOCOL counts in), never splitting a surrogate pair, and marks the cut
// with "...".
func preview(s string) string {
	units := 0
	for i, r := range s {
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1 // U+FFFD stands in for invalid UTF-8
		}
		if units+n > previewUnits {
			return s[:i] + "..."
		}
		units += n
	}
	return s
}

// shortID is the first 8 characters of an id, as the admin shows it.
func shortID(id string) string {
	n := 0
	for i := range id {
		if n == 8 {
			return id[:i]
		}
		n++
	}
	return id
}
