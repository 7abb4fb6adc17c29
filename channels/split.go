package channels

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Split cuts text into parts of at most limit UTF-16 units (PROTOCOL §7.5):
// each part ends at the last newline within the limit; failing that, at the
// last whitespace; failing that, at a code-point boundary. Parts are never
// empty, and joining them gives text back. limit <= 0 returns text whole.
func Split(text string, limit int) []string {
	if limit <= 0 || units(text) <= limit {
		return []string{text}
	}
	var parts []string
	for text != "" {
		if units(text) <= limit {
			parts = append(parts, text)
			break
		}
		// end: byte offset of the longest prefix within limit.
		end, n := 0, 0
		for i, r := range text {
			u := 1
			if r >= 0x10000 {
				u = 2
			}
			if n+u > limit {
				break
			}
			n += u
			end = i + utf8.RuneLen(r)
			if r == utf8.RuneError {
				end = i + 1
			}
		}
		cut := end
		if i := strings.LastIndexByte(text[:end], '\n'); i >= 0 {
			cut = i + 1
		} else if i := lastSpace(text[:end]); i > 0 {
			cut = i
		}
		parts = append(parts, text[:cut])
		text = text[cut:]
	}
	return parts
}

// lastSpace is the byte offset just after the last whitespace rune of s, or -1.
func lastSpace(s string) int {
	for i := len(s); i > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if unicode.IsSpace(r) {
			return i
		}
		i -= size
	}
	return -1
}

// units is the UTF-16 length of s.
func units(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}
