package rawjson

import "unicode/utf8"

// Compact re-serialises one JSON value as PROTOCOL §4.2 requires: member order and number literals
// kept exactly as received; insignificant whitespace removed; strings escaped minimally (only '"',
// '\\' and U+0000–U+001F, using \b \f \n \r \t where they exist and \u00xx lowercase hex otherwise;
// no HTML escaping; U+2028/U+2029 not escaped); escapes in the input decoded and re-emitted
// minimally (\u0041 → A, \/ → /, surrogate-pair escapes → the UTF-8 character; a lone surrogate
// escape → U+FFFD); duplicate keys in an object → one member at the position of the first
// occurrence with the last value (JavaScript semantics), recursively. Invalid UTF-8 inside strings
// is replaced by U+FFFD. Nesting deeper than 10000 levels → ErrInvalid (no stack overflow).
//
// Compact accepts exactly the inputs that json.Valid accepts; for any other input it returns
// ErrInvalid. The result never aliases data.
func Compact(data []byte) ([]byte, error) {
	c := compactor{in: data, out: make([]byte, 0, len(data))}
	c.skipSpace()
	if !c.value() {
		return nil, ErrInvalid
	}
	c.skipSpace()
	if c.pos != len(c.in) {
		return nil, ErrInvalid
	}
	if c.dup {
		// Rare: rewrite the (valid, canonical) output once more, merging duplicate keys.
		return dedup(c.out), nil
	}
	return c.out, nil
}

// compactor is the first pass of Compact: it validates the input and writes it compactly with
// canonical strings, noting whether some object has a duplicate key. Merging duplicates needs a
// second pass (dedup), which most documents never pay for.
type compactor struct {
	in    []byte
	pos   int
	out   []byte
	depth int
	keys  keyTable
	dup   bool // a duplicate key was seen; key tracking stops then
}

func (c *compactor) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// value scans and writes one value starting at c.pos, reporting whether it is valid.
func (c *compactor) value() bool {
	if c.pos >= len(c.in) {
		return false
	}
	switch b := c.in[c.pos]; b {
	case '{':
		return c.object()
	case '[':
		return c.array()
	case '"':
		return c.str()
	case 't':
		return c.literal("true")
	case 'f':
		return c.literal("false")
	case 'n':
		return c.literal("null")
	default:
		if b == '-' || '0' <= b && b <= '9' {
			return c.number()
		}
		return false
	}
}

func (c *compactor) literal(lit string) bool {
	if len(c.in)-c.pos < len(lit) || string(c.in[c.pos:c.pos+len(lit)]) != lit {
		return false
	}
	c.out = append(c.out, lit...)
	c.pos += len(lit)
	return true
}

// number checks the JSON number grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and copies
// the literal unchanged. What follows it is the caller's business, so "01" fails there.
func (c *compactor) number() bool {
	in, i := c.in, c.pos
	if in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && '1' <= in[i] && in[i] <= '9':
		i = digits(in, i+1)
	default:
		return false
	}
	if i < len(in) && in[i] == '.' {
		j := digits(in, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		j := digits(in, i)
		if j == i {
			return false
		}
		i = j
	}
	c.out = append(c.out, in[c.pos:i]...)
	c.pos = i
	return true
}

// digits returns the index of the first byte at or after i that is not an ASCII digit.
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// str scans the string literal at c.pos and writes it with minimal escaping.
func (c *compactor) str() bool {
	in := c.in
	i := c.pos + 1
	c.out = append(c.out, '"')
	for {
		// Copy the longest run of bytes that stand for themselves in one append.
		start := i
		for i < len(in) {
			if b := in[i]; b < utf8.RuneSelf {
				if !plain(b) {
					break
				}
				i++
				continue
			}
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		c.out = append(c.out, in[start:i]...)
		if i >= len(in) {
			return false // unterminated
		}
		switch b := in[i]; {
		case b == '"':
			c.out = append(c.out, '"')
			c.pos = i + 1
			return true
		case b == '\\':
			if i+1 >= len(in) {
				return false
			}
			switch e := in[i+1]; e {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				// Already minimal: keep the two bytes.
				c.out = append(c.out, '\\', e)
			case '/':
				c.out = append(c.out, '/')
			case 'u':
				r, n := unicodeEscape(in[i+2:])
				if n == 0 {
					return false
				}
				c.out = appendRune(c.out, r)
				i += n
			default:
				return false
			}
			i += 2
		case b < 0x20:
			return false // JSON forbids raw control characters in strings
		default:
			c.out = append(c.out, replacement...) // an invalid UTF-8 byte
			i++
		}
	}
}

func (c *compactor) array() bool {
	if c.depth++; c.depth > maxDepth {
		return false
	}
	c.pos++
	c.out = append(c.out, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		c.depth--
		return true
	}
	for {
		if !c.value() {
			return false
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return false
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
			c.skipSpace()
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			c.depth--
			return true
		default:
			return false
		}
	}
}

func (c *compactor) object() bool {
	if c.depth++; c.depth > maxDepth {
		return false
	}
	c.pos++
	c.out = append(c.out, '{')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		c.depth--
		return true
	}
	var obj keyObject
	for {
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return false
		}
		k := span{start: len(c.out)}
		if !c.str() {
			return false
		}
		if !c.dup {
			k.end = len(c.out)
			if _, added := c.keys.insert(&obj, c.out, k); !added {
				c.dup = true
			}
		}
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return false
		}
		c.pos++
		c.out = append(c.out, ':')
		c.skipSpace()
		if !c.value() {
			return false
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return false
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
			c.skipSpace()
		case '}':
			c.pos++
			c.out = append(c.out, '}')
			c.depth--
			c.keys.close(&obj)
			return true
		default:
			return false
		}
	}
}
