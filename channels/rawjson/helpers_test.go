package rawjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chaos-relay/relay/channels/rawjson"
)

// equal fails the test when got != want, printing both with %#v so escapes show.
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

// mustCompact returns Compact(in) and fails the test on an error.
func mustCompact(t *testing.T, in string) string {
	t.Helper()
	out, err := rawjson.Compact([]byte(in))
	if err != nil {
		t.Fatalf("Compact(%q): %v", in, err)
	}
	return string(out)
}

// checkMinimal fails the test unless out is compact, valid UTF-8, and escapes strings minimally:
// no whitespace outside strings, no raw control characters, and only the escapes \" \\ \b \f \n
// \r \t and \u00xx (lowercase, for control characters without a short form).
func checkMinimal(t *testing.T, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("output is not valid UTF-8: %q", out)
	}
	inString := false
	for i := 0; i < len(out); i++ {
		b := out[i]
		if !inString {
			switch b {
			case ' ', '\t', '\n', '\r':
				t.Fatalf("whitespace at %d outside strings: %q", i, out)
			case '"':
				inString = true
			}
			continue
		}
		switch {
		case b == '"':
			inString = false
		case b < 0x20:
			t.Fatalf("raw control character at %d: %q", i, out)
		case b == '\\':
			i++
			switch out[i] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
			case 'u':
				esc := string(out[i+1 : i+5])
				if esc[:2] != "00" || esc[2] > '1' || !strings.Contains("0123456789abcdef", esc[3:]) ||
					strings.Contains("0008 0009 000a 000c 000d", esc) {
					t.Fatalf(`non-minimal escape \u%s at %d: %q`, esc, i, out)
				}
				i += 4
			default:
				t.Fatalf(`non-minimal escape \%c at %d: %q`, out[i], i, out)
			}
		}
	}
}

// refCompact is an obviously-correct model of Compact for valid JSON, built on encoding/json's
// token stream (which keeps member order and, with UseNumber, number literals): it builds an
// ordered tree, merges duplicate keys JavaScript-style, and writes it with AppendString.
func refCompact(t *testing.T, in []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	out, err := refValue(dec, nil)
	if err != nil {
		t.Fatalf("reference decoder: %v", err)
	}
	return out
}

type refMember struct {
	key   string
	value []byte
}

func refValue(dec *json.Decoder, dst []byte) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			dst = append(dst, '[')
			for n := 0; dec.More(); n++ {
				if n > 0 {
					dst = append(dst, ',')
				}
				if dst, err = refValue(dec, dst); err != nil {
					return nil, err
				}
			}
			_, err = dec.Token()
			return append(dst, ']'), err
		}
		var members []refMember
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			val, err := refValue(dec, nil)
			if err != nil {
				return nil, err
			}
			i := slices.IndexFunc(members, func(m refMember) bool { return m.key == k.(string) })
			if i >= 0 {
				members[i].value = val
			} else {
				members = append(members, refMember{k.(string), val})
			}
		}
		if _, err = dec.Token(); err != nil {
			return nil, err
		}
		dst = append(dst, '{')
		for i, m := range members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = rawjson.AppendString(dst, m.key)
			dst = append(dst, ':')
			dst = append(dst, m.value...)
		}
		return append(dst, '}'), nil
	case string:
		return rawjson.AppendString(dst, v), nil
	case json.Number:
		return append(dst, v...), nil
	case bool:
		return fmt.Appendf(dst, "%t", v), nil
	case nil:
		return append(dst, "null"...), nil
	}
	return nil, fmt.Errorf("unexpected token %T", tok)
}

// decode decodes b with encoding/json (UseNumber, so number literals compare exactly).
func decode(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// checkCompact runs every invariant of Compact on one input.
func checkCompact(t *testing.T, in []byte) {
	t.Helper()
	out, err := rawjson.Compact(in)
	if valid := json.Valid(in); valid != (err == nil) {
		t.Fatalf("Compact(%q): err = %v, but json.Valid = %v", in, err, valid)
	}
	if err != nil {
		errorIs(t, err, rawjson.ErrInvalid)
		return
	}
	checkMinimal(t, out)
	if want := refCompact(t, in); !bytes.Equal(out, want) {
		t.Fatalf("Compact(%q)\n got %q\nwant %q", in, out, want)
	}
	// encoding/json also lets the last duplicate win, so the decoded values agree.
	if got, want := decode(t, out), decode(t, in); !reflect.DeepEqual(got, want) {
		t.Fatalf("Compact(%q) = %q decodes to %#v, input decodes to %#v", in, out, got, want)
	}
	if out[0] == '"' {
		// GetString decodes any valid string literal, not only Compact's canonical ones.
		var o rawjson.Object
		o.Set("s", bytes.Trim(in, " \t\r\n"))
		var want string
		errorIs(t, json.Unmarshal(in, &want), nil)
		if got, ok := o.GetString("s"); !ok || got != want {
			t.Fatalf("GetString of %q = %q, %v; want %q", in, got, ok, want)
		}
	}
	again, err := rawjson.Compact(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("Compact is not idempotent on %q: %q, %v", out, again, err)
	}
}

type generator struct {
	r   *rand.Rand
	buf []byte
}

func (g *generator) space() {
	for g.r.IntN(4) == 0 {
		g.buf = append(g.buf, " \t\r\n"[g.r.IntN(4)])
	}
}

func (g *generator) value(depth int) {
	g.space()
	n := 9
	if depth > 5 {
		n = 6 // scalars only
	}
	switch g.r.IntN(n) {
	case 0:
		g.buf = append(g.buf, []string{"true", "false", "null"}[g.r.IntN(3)]...)
	case 1, 2:
		g.buf = append(g.buf, []string{"0", "-0", "1.50", "1E+2", "-12e-3", "123456789012345678901234567890", "0.000", "7", "-3.25E7"}[g.r.IntN(9)]...)
	case 3, 4, 5:
		g.string()
	case 6, 7:
		g.buf = append(g.buf, '{')
		n, large := g.r.IntN(6), g.r.IntN(8) == 0
		if large { // past the linear-scan size, so duplicates go through the hash table
			n = 10 + g.r.IntN(60)
		}
		for i := range n {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.space()
			if large && g.r.IntN(3) > 0 {
				g.buf = fmt.Appendf(g.buf, `"k%d"`, g.r.IntN(50))
			} else {
				g.key()
			}
			g.space()
			g.buf = append(g.buf, ':')
			g.value(depth + 1)
		}
		g.space()
		g.buf = append(g.buf, '}')
	case 8:
		g.buf = append(g.buf, '[')
		for i := range g.r.IntN(5) {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.value(depth + 1)
		}
		g.space()
		g.buf = append(g.buf, ']')
	}
	g.space()
}

// key writes one of a few keys, spelled in several ways, so duplicates are frequent.
func (g *generator) key() {
	g.buf = append(g.buf, []string{`"a"`, `"\u0061"`, `"b"`, `"é"`, `"\u00e9"`, `""`, `"\ud800"`, `"\ufffd"`, `"\n"`, `"\u000a"`}[g.r.IntN(10)]...)
}

func (g *generator) string() {
	pieces := []string{
		"a", "hello", " ", "é", "中", "🎉", "\u2028", "\u2029", "<&>", "\x7f", "\xff", "\xe2\x82",
		`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0000`, `\u001F`, `\u0041`, `\u00E9`,
		`\u2028`, `\ud83c\udf89`, `\uD800`, `\udc00`, `\ud800\u0041`, `\u005C`, `\u0022`,
	}
	g.buf = append(g.buf, '"')
	for range g.r.IntN(6) {
		g.buf = append(g.buf, pieces[g.r.IntN(len(pieces))]...)
	}
	g.buf = append(g.buf, '"')
}
