package sanitize_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
)

// equal fails the test when got != want, printing both with %#v so invisible characters show.
func equal[T comparable](t *testing.T, name string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

// errorIs fails the test when err does not match want (want == nil means no error).
func errorIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("err = %v, want %v", err, want)
	}
}

// The ref* functions are slow, obviously-correct models built from other parts of the standard
// library. The fuzz tests compare the real implementation against them.

// refRepair replaces each invalid UTF-8 byte with U+FFFD, as a []rune conversion does.
func refRepair(s string) string { return string([]rune(s)) }

// refInbound is PROTOCOL §4.1 step 6 spelled out with package unicode.
func refInbound(s string) string {
	var b strings.Builder
	for _, r := range refRepair(s) {
		if !unicode.Is(unicode.Cc, r) || r == '\t' || r == '\n' || r == '\r' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// refTruncateUTF16 cuts in UTF-16 space and drops a trailing high surrogate left by the cut.
func refTruncateUTF16(s string, n int) string {
	u := utf16.Encode([]rune(s))
	if n < 0 {
		n = 0
	}
	if len(u) <= n {
		return refRepair(s)
	}
	u = u[:n]
	if n > 0 && u[n-1] >= 0xD800 && u[n-1] < 0xDC00 { // high (leading) surrogate
		u = u[:n-1]
	}
	return string(utf16.Decode(u))
}

// refReply is PROTOCOL §7.1 steps 3-5 with tags = regexp.MustCompile(`<[^>]*>`)
// (Go's regexp is linear and `[^>]` matches "\n").
func refReply(tags *regexp.Regexp, s string) string {
	return refTruncateUTF16(refInbound(tags.ReplaceAllString(refRepair(s), "")), 65536)
}

// refTruncateUTF8 decodes s from the start and keeps whole code points (an invalid byte is one).
func refTruncateUTF8(s string, n int) string {
	end := 0
	for i, r := range s {
		size := len(string(r))
		if r == unicode.ReplacementChar && !strings.HasPrefix(s[i:], "\uFFFD") {
			size = 1
		}
		if i+size > n {
			break
		}
		end = i + size
	}
	return s[:end]
}
