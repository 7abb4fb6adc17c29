package admin

import (
	"time"
	"unicode/utf16"

	"github.com/chaos-relay/relay/storage"
)

// formatTime renders t in the protocol's form; the zero time is "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return storage.FormatTime(t)
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
