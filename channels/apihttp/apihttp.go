// Package apihttp is the HTTP hygiene every platform adapter shares: a client that never follows a
// redirect to another host, short transport-error reasons without URLs (they can hold tokens),
// Retry-After parsing and secret scrubbing of error texts.
package apihttp

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// ErrRedirect refuses redirects to another host (PROTOCOL §7.5): the request carries a token or an
// API key, in its URL or its headers.
var ErrRedirect = errors.New("redirect to another host refused")

// maxRedirects is how many redirects on the same host a client follows when base has no policy of
// its own, as net/http's default does.
const maxRedirects = 10

// NewClient returns a copy of base (a zero client when nil) whose timeout is at most timeout and
// which refuses, with ErrRedirect, any redirect to a host other than the first request's. Redirects
// on the same host go through base's own CheckRedirect, else stop after 10 with "too many
// redirects". base itself is not changed.
func NewClient(base *http.Client, timeout time.Duration) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	if c.Timeout <= 0 || c.Timeout > timeout {
		c.Timeout = timeout
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			return ErrRedirect
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return errors.New("too many redirects")
		}
		return nil
	}
	return c
}

// NetReason is a short, URL-free reason for a transport error: ErrRedirect's text, "timeout",
// "connection refused", "connection reset", "connection closed", "no such host", "DNS lookup
// failed", else the inner error of a *url.Error passed through clean (which must remove secrets;
// nil keeps the text as it is), else "request failed".
func NetReason(err error, clean func(string) string) string {
	var ne net.Error
	var dns *net.DNSError
	switch {
	case errors.Is(err, ErrRedirect):
		return ErrRedirect.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "no such host"
		}
		return "DNS lookup failed"
	}
	// *url.Error's text starts with the method and URL; its inner error names at most an address.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		if clean == nil {
			return ue.Err.Error()
		}
		return clean(ue.Err.Error())
	}
	return "request failed"
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds (fractional too, as Discord sends)
// or an HTTP date. Surrounding space is ignored. An empty, unparsable, non-positive or past value
// gives 0, as does a delay too large for a time.Duration.
func ParseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		return Seconds(s)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t).Round(time.Second), 0)
	}
	return 0
}

// Seconds converts a retry delay in (fractional) seconds to a duration: 0 unless s is positive,
// finite and within a time.Duration's range.
func Seconds(s float64) time.Duration {
	if !(s > 0) || math.IsInf(s, 0) || s*float64(time.Second) >= math.MaxInt64 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// Scrub replaces secret in s, as given and as escaped into a URL path, by placeholder ("<token>").
// A blank secret leaves s as it is.
func Scrub(s, secret, placeholder string) string {
	if strings.TrimSpace(secret) == "" {
		return s
	}
	s = strings.ReplaceAll(s, secret, placeholder)
	return strings.ReplaceAll(s, url.PathEscape(secret), placeholder)
}

// Clean makes an upstream text fit for an error text: control characters become spaces (one
// line), surrounding space is trimmed and more than maxRunes runes are cut to maxRunes followed by
// "…". It does not remove secrets: Scrub first.
func Clean(s string, maxRunes int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxRunes {
		s = string(r[:maxRunes]) + "…"
	}
	return s
}
