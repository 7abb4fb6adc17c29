package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: a burst of N, refilled continuously at N per Per.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate parses "<count>/<duration>" (PROTOCOL §10.3), such as "100/1h",
// "120/1m" or "10/15m". The duration uses Go syntax; a bare unit means one of
// it, so "100/h" is "100/1h" and "60/s" is "60/1s". The count is plain ASCII
// digits and at least 1; the duration must be positive.
func ParseRate(s string) (Rate, error) {
	count, per, found := strings.Cut(s, "/")
	if !found {
		return Rate{}, invalidRate(s, "want <count>/<duration>, e.g. 100/1h")
	}
	if count == "" || strings.TrimLeft(count, "0123456789") != "" {
		return Rate{}, invalidRate(s, fmt.Sprintf("count %q is not a whole number", count))
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return Rate{}, invalidRate(s, fmt.Sprintf("count %q is out of range", count))
	}
	if per == "" {
		return Rate{}, invalidRate(s, "missing duration after the slash")
	}
	d, err := parsePer(per)
	if err != nil {
		return Rate{}, fmt.Errorf("ratelimit: invalid rate %q: %w", s, err)
	}
	r := Rate{N: n, Per: d}
	if err := r.validate(); err != nil {
		return Rate{}, fmt.Errorf("ratelimit: invalid rate %q: %w", s, err)
	}
	return r, nil
}

// parsePer parses the part after the slash: a Go duration, or a bare unit
// ("h", "ms", ...) that stands for one of it.
func parsePer(s string) (time.Duration, error) {
	if first, _ := utf8.DecodeRuneInString(s); unicode.IsLetter(first) {
		d, err := time.ParseDuration("1" + s)
		if err != nil {
			// time's message would quote "1"+s, which the user never wrote.
			return 0, fmt.Errorf("unknown duration unit %q (want e.g. h, m, s, ms or a duration such as 15m)", s)
		}
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration: %w", err)
	}
	return d, nil
}

func invalidRate(s, why string) error {
	return fmt.Errorf("ratelimit: invalid rate %q: %s", s, why)
}

// validate reports why r cannot be a token bucket, or nil.
func (r Rate) validate() error {
	if r.N < 1 {
		return fmt.Errorf("count %d must be at least 1", r.N)
	}
	if r.Per <= 0 {
		return errors.New("duration must be positive")
	}
	return nil
}

// limit is r's refill rate in tokens per second.
func (r Rate) limit() rate.Limit {
	return rate.Limit(float64(r.N) / r.Per.Seconds())
}

// String formats r the way an operator would write it, with the duration in
// the largest unit that divides it exactly: "100/1h", "10/15m", "10/90s"
// (time.Duration's own "1h0m0s" is correct but hard to read in a config dump).
// ParseRate(r.String()) returns r for every valid r.
func (r Rate) String() string {
	n := strconv.Itoa(r.N) + "/"
	if r.Per <= 0 {
		return n + r.Per.String()
	}
	units := [...]struct {
		d      time.Duration
		suffix string
	}{
		{time.Hour, "h"},
		{time.Minute, "m"},
		{time.Second, "s"},
		{time.Millisecond, "ms"},
		{time.Microsecond, "us"},
	}
	for _, u := range units {
		if r.Per%u.d == 0 {
			return n + strconv.FormatInt(int64(r.Per/u.d), 10) + u.suffix
		}
	}
	return n + strconv.FormatInt(int64(r.Per), 10) + "ns"
}
