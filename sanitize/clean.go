package sanitize

import (
	"strings"
	"unicode/utf8"
)

// Inbound cleans inbound content and sender names (PROTOCOL §4.1 step 6): invalid UTF-8 sequences
// become U+FFFD, Unicode category Cc characters are removed except tab, LF and CR. HTML tags are kept.
//
// Each invalid byte becomes its own U+FFFD. A clean string is returned as is, without allocating.
// Inbound is idempotent.
func Inbound(s string) string {
	return clean(s, false)
}

// clean repairs invalid UTF-8 and removes Cc characters other than tab, LF and CR. With stripTags it
// also removes every match of `<[^>]*>`, exactly as if the repair had happened first (PROTOCOL §7.1
// says the JSON decoder repairs reply content before the tag step).
//
// It is one linear pass. The output is built lazily: runs of bytes that stay are copied in one piece,
// and nothing is allocated until the first change, so clean input comes back as the same string.
func clean(s string, stripTags bool) string {
	var b strings.Builder
	changed := false
	keep := 0 // start of the run of input bytes not yet copied to b
	// flush copies the pending run s[keep:i] to b; the caller then skips or replaces what is at i.
	flush := func(i int) {
		if !changed {
			changed = true
			// Repairs can grow the output (1 byte → 3), removals shrink it; len(s) is a good guess.
			b.Grow(len(s))
		}
		b.WriteString(s[keep:i])
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c-0x20 < 0x7F-0x20 && c != '<' { // printable ASCII other than '<': the common case
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1: // invalid byte; a literal U+FFFD has size 3
				flush(i)
				b.WriteRune(utf8.RuneError)
				keep = i + 1
			case r <= 0x9F: // C1 controls U+0080–U+009F are Cc
				flush(i)
				keep = i + size
			}
			i += size
			continue
		}
		switch {
		case c == '<' && stripTags:
			// A tag runs to the next '>', newlines and all. Everything between is dropped,
			// including bytes that would have been repaired: the repair would have been removed too.
			// '>' is ASCII, so resuming after it keeps the decoder on a code-point boundary.
			j := strings.IndexByte(s[i+1:], '>')
			if j < 0 {
				// No '>' anywhere after this '<', so no later '<' can open a tag either.
				// Each byte is scanned by IndexByte at most once, which keeps the pass linear.
				stripTags = false
				i++
				continue
			}
			flush(i)
			i += 1 + j + 1
			keep = i
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r', c == 0x7F:
			flush(i)
			i++
			keep = i
		default:
			i++
		}
	}
	if !changed {
		return s
	}
	b.WriteString(s[keep:])
	return b.String()
}
