package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error is a non-2xx answer from the relay.
// Use errors.As to reach it; Message holds the relay's exact text (§1.6), which is stable.
type Error struct {
	Status     int           // HTTP status code
	Message    string        // the "error" member, or a short text when the body is not JSON
	RetryAfter time.Duration // from Retry-After (429 answers); 0 when absent
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("client: relay answered %d: %s", e.Status, e.Message)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// errorBodyLimit bounds how much of an error body is read: relay errors are one short
// member, and anything longer is a proxy page that is only quoted.
const errorBodyLimit = 4 << 10

// maxErrorText is how much of a non-JSON error body is kept in Message.
const maxErrorText = 200

func newError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Message = body.Error
		return e
	}
	e.Message = shortText(raw)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// shortText returns the start of b as one trimmed line of valid UTF-8.
func shortText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// parseRetryAfter reads delay-seconds (what the relay sends, §8) or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		// Capped so that a hostile value cannot overflow the Duration.
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
