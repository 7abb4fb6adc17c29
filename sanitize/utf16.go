package sanitize

import "unicode/utf8"

// UTF16Len returns the number of UTF-16 code units of s (JavaScript's .length). Invalid UTF-8 bytes
// count as one unit each (they become U+FFFD).
func UTF16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		n += units(r)
		i += size
	}
	return n
}

// TruncateUTF16 returns the longest prefix of s whose UTF-16 length is at most n, never splitting a
// surrogate pair (i.e. never splitting a rune). An invalid UTF-8 byte is one unit. n <= 0 gives "".
func TruncateUTF16(s string, n int) string {
	if len(s) <= n { // a string never has more UTF-16 units than bytes
		return s
	}
	u := 0
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		u += units(r)
		if u > n {
			return s[:i]
		}
		i += size
	}
	return s
}

// TruncateUTF8 returns the longest prefix of s of at most n bytes that ends on a code-point boundary.
// Boundaries are those of utf8.DecodeRuneInString decoding s from the start, so an invalid byte is a
// code point of its own. n <= 0 gives "".
func TruncateUTF8(s string, n int) string {
	if n >= len(s) {
		return s
	}
	if n <= 0 {
		return ""
	}
	// Every byte that is not a continuation byte is a boundary: a valid multi-byte sequence holds
	// only continuation bytes after its lead. A continuation byte at n is inside a code point only if
	// the nearest lead byte within UTFMax-1 bytes before it starts a valid sequence reaching past n.
	if utf8.RuneStart(s[n]) {
		return s[:n]
	}
	for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if _, size := utf8.DecodeRuneInString(s[i:]); i+size > n {
				return s[:i]
			}
			break
		}
	}
	return s[:n]
}

// units returns the UTF-16 length of r; utf8.RuneError (also what an invalid byte decodes to) is 1.
func units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}
