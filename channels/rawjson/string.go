package rawjson

import (
	"unicode/utf16"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// replacement is U+FFFD in UTF-8; it replaces invalid UTF-8 and lone surrogate escapes.
const replacement = "\uFFFD"

// AppendString appends s as a JSON string literal with the same minimal escaping as Compact:
// only '"', '\\' and U+0000–U+001F are escaped, and each invalid UTF-8 byte becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		start := i
		for i < len(s) {
			if b := s[i]; b < utf8.RuneSelf {
				if !plain(b) {
					break
				}
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		dst = append(dst, s[start:i]...)
		if i == len(s) {
			break
		}
		if b := s[i]; b < utf8.RuneSelf {
			dst = appendEscapedASCII(dst, b)
		} else {
			dst = append(dst, replacement...)
		}
		i++
	}
	return append(dst, '"')
}

// plain reports whether the ASCII byte b stands for itself inside a minimally escaped string.
func plain(b byte) bool { return b >= 0x20 && b != '"' && b != '\\' }

// appendEscapedASCII appends the minimal escape of '"', '\\' or a control character b.
func appendEscapedASCII(dst []byte, b byte) []byte {
	switch b {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
}

// appendRune appends r inside a string literal, escaped minimally.
func appendRune(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf && !plain(byte(r)) {
		return appendEscapedASCII(dst, byte(r))
	}
	return utf8.AppendRune(dst, r)
}

// hex4 decodes the four hex digits at the start of b, or returns ok == false.
func hex4(b []byte) (r rune, ok bool) {
	if len(b) < 4 {
		return 0, false
	}
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unicodeEscape decodes the \uXXXX escape whose hex digits start at b[0], joining a following
// low-surrogate escape to a high surrogate. It returns the rune (U+FFFD for a lone surrogate) and
// the number of bytes of b consumed, or n == 0 when the hex digits are invalid.
// Like encoding/json, a high surrogate that is not followed by a valid low-surrogate escape
// becomes U+FFFD and the following escape is decoded on its own.
func unicodeEscape(b []byte) (r rune, n int) {
	r, ok := hex4(b)
	if !ok {
		return 0, 0
	}
	if !utf16.IsSurrogate(r) {
		return r, 4
	}
	if len(b) >= 10 && b[4] == '\\' && b[5] == 'u' {
		if r2, ok := hex4(b[6:]); ok {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec, 10
			}
		}
	}
	return utf8.RuneError, 4
}

// decodeString returns the value of the JSON string literal lit, which must be valid JSON
// (quotes included). Invalid UTF-8 and lone surrogates become U+FFFD, as in Compact.
func decodeString(lit []byte) string {
	body := lit[1 : len(lit)-1]
	simple := true
	for _, b := range body {
		if b == '\\' || b >= utf8.RuneSelf {
			simple = false
			break
		}
	}
	if simple {
		return string(body)
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		switch b := body[i]; {
		case b == '\\':
			e := body[i+1]
			i += 2
			switch e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, n := unicodeEscape(body[i:])
				out = utf8.AppendRune(out, r)
				i += n
			default: // '"', '\\', '/'
				out = append(out, e)
			}
		case b < utf8.RuneSelf:
			out = append(out, b)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, replacement...)
			} else {
				out = append(out, body[i:i+size]...)
			}
			i += size
		}
	}
	return string(out)
}

// validKey returns s with each invalid UTF-8 byte replaced by U+FFFD, the string that
// AppendString writes for s. Object keys are stored this way so that two different keys can never
// be written as the same JSON key.
func validKey(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, replacement...)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
}
