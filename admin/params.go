package admin

import "strconv"

const (
	// defaultLimit and maxLimit bound the pages of the admin lists (PROTOCOL
	// §9: limit = min(limit or 50, 200)).
	defaultLimit = 50
	maxLimit     = 200
)

// parseLimit reads a page size: "" or 0 is defaultLimit, larger values are
// clamped to maxLimit, and anything but a non-negative integer is refused.
func parseLimit(s string) (int, bool) {
	if s == "" {
		return defaultLimit, true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || n > maxLimit:
		return maxLimit, true // all digits, so only too large to parse
	case n == 0:
		return defaultLimit, true
	}
	return n, true
}
