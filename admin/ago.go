package admin

import (
	"strconv"
	"time"
)

// ago is how long before now t was, as the dashboard shows it next to a
// channel ("3 h ago"); the dashboard script's ago does the same: keep the two
// in step.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " d ago"
}

// lastMessage is a channel's badge text for its last inbound message: "last
// message 3 h ago", or "" when it has none since the relay started.
func lastMessage(iso string, now time.Time) string {
	if iso == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, iso)
	if err != nil {
		return ""
	}
	return "last message " + ago(t, now)
}
