package rawjson

import (
	"strings"
)

// Form turns an application/x-www-form-urlencoded body into an Object per §4.2: keys in order of
// first appearance, last value wins, all values strings.
//
// Parsing follows the WHATWG URL standard's application/x-www-form-urlencoded parser (what the
// original relay's URLSearchParams does), so no sender data is dropped: pairs are separated by
// '&' only (';' is an ordinary character), an empty pair is skipped, a pair without '=' has the
// empty string as its value, '+' is a space, and a '%' not followed by two hex digits is kept as
// it is. Invalid UTF-8 produced by %-escapes becomes U+FFFD. Form has no limit on the number of
// pairs: the request body limit bounds it, and keys are indexed, so a large form costs linear time.
func Form(body string) *Object {
	o := &Object{}
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		o.SetString(formUnescape(k), formUnescape(v))
	}
	return o
}

// formUnescape decodes '+' and valid %XX escapes, keeping malformed ones.
func formUnescape(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
