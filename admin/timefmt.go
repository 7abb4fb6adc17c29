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

// How much of an id shortID keeps: its first idHead and last idTail
// characters.
const (
	idHead = 4
	idTail = 8
)

// shortID is an id as the dashboard shows it where room is short, always
// next to the full id (in a title attribute, in data attributes and in
// copied text): whole when it has at most 13 characters, else its first 4
// and last 8 characters around "…". Message and response (delivery) ids are
// UUIDv7, whose first 8 characters are a timestamp that ids of the same
// minute share; their last 8 are random and tell them apart. The first 4
// keep the start of caller-chosen channel ids recognisable. The dashboard
// script's shortID does the same: keep the two in step.
func shortID(id string) string {
	r := []rune(id)
	if len(r) <= idHead+1+idTail {
		return id
	}
	return string(r[:idHead]) + "…" + string(r[len(r)-idTail:])
}
