package sanitize_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/chaos-relay/relay/sanitize"
)

type strCase struct {
	name, in, want string
}

func inboundCases() []strCase {
	return []strCase{
		{"empty", "", ""},
		{"clean ascii", "hello, world", "hello, world"},
		{"tab LF CR kept", "a\tb\nc\r\nd", "a\tb\nc\r\nd"},
		{"NUL", "a\x00b", "ab"},
		{"ESC sequence", "\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"DEL", "a\x7fb", "ab"},
		{"all C0 but tab LF CR", "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1fx", "x"},
		{"C1 U+0080", "a\u0080b", "ab"},
		{"C1 NEL U+0085", "line\u0085next", "linenext"},
		{"C1 U+009F", "a\u009fb", "ab"},
		{"U+00A0 is not Cc", "a\u00a0b", "a\u00a0b"},
		{"format chars are not Cc", "\ufeffa\u200bb\u2028c", "\ufeffa\u200bb\u2028c"},
		{"lone continuation byte", "a\x80b", "a\ufffdb"},
		{"raw 0x85 is invalid, not NEL", "a\x85b", "a\ufffdb"},
		{"truncated 3-byte", "\xe2\x82z", "\ufffd\ufffdz"},
		{"truncated 4-byte at end", "ok\xf0\x9f\x98", "ok\ufffd\ufffd\ufffd"},
		{"overlong 2-byte slash", "\xc0\xaf", "\ufffd\ufffd"},
		{"overlong 3-byte slash", "\xe0\x80\xaf", "\ufffd\ufffd\ufffd"},
		{"encoded surrogate", "\xed\xa0\x80", "\ufffd\ufffd\ufffd"},
		{"beyond U+10FFFF", "\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},
		{"0xFF byte", "\xff", "\ufffd"},
		{"literal U+FFFD kept", "a\ufffdb", "a\ufffdb"},
		{"HTML kept", "<b>hi</b> &amp; <script>x</script>", "<b>hi</b> &amp; <script>x</script>"},
		{"JSON kept", `{"text":"<x>","n":1}`, `{"text":"<x>","n":1}`},
		{"emoji and ZWJ kept", "hi 😀 👨‍👩‍👧", "hi 😀 👨‍👩‍👧"},
		{"mixed", "\x00é\x80\u0085😀\x1b\t", "é\ufffd😀\t"},
	}
}

func TestInbound(t *testing.T) {
	for _, tc := range inboundCases() {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "Inbound", sanitize.Inbound(tc.in), tc.want)
		})
	}
}

func TestReply(t *testing.T) {
	emoji := "😀" // 4 bytes, 2 UTF-16 units
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"empty", "", "", sanitize.ErrReplyMissing},
		{"plain", "hello", "hello", nil},
		{"a < b > c", "a < b > c", "a  c", nil},
		{"tags", "<b>bold</b> and <i>it</i>", "bold and it", nil},
		{"script", "<script>alert(1)</script>", "alert(1)", nil},
		{"unclosed <", "a < b", "a < b", nil},
		{"unclosed < then more <", "x<y<z", "x<y<z", nil},
		{"lone >", "a > b", "a > b", nil},
		{"> before <", "a > b < c", "a > b < c", nil},
		{"tag runs to the first >", "<a<b>c>d", "c>d", nil},
		{"nested brackets", "<<>>", ">", nil},
		{"tag spans newlines", "a<div\nclass=x\n>b", "ab", nil},
		{"empty tag", "x<>y", "xy", nil},
		{"only tags gives empty", "<b></b>", "", nil},
		{"entities untouched", "&lt;b&gt; &amp; &#60;", "&lt;b&gt; &amp; &#60;", nil},
		{"controls removed", "a\x00b\x1bc\x7fd\u0085e", "abcde", nil},
		{"tab LF CR kept", "a\tb\r\nc", "a\tb\r\nc", nil},
		{"control inside tag", "<\x00>x", "x", nil},
		{"invalid UTF-8 repaired", "a\xffb", "a\ufffdb", nil},
		{"invalid inside tag dropped", "a<\xff>b", "ab", nil},
		// The JSON decoder repairs before the tag step, so removing a tag never joins bytes into a rune.
		{"repair happens before tag removal", "\xe2<x>\x82\xac", "\ufffd\ufffd\ufffd", nil},
		{"emoji kept", "hi " + emoji, "hi " + emoji, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sanitize.Reply(tc.in)
			errorIs(t, err, tc.wantErr)
			equal(t, "Reply", got, tc.want)
		})
	}
}

func TestReplyLimits(t *testing.T) {
	const in, out = sanitize.MaxReplyInput, sanitize.MaxReplyOutput
	equal(t, "MaxReplyInput", in, 131072)
	equal(t, "MaxReplyOutput", out, 65536)
	emoji := "😀" // 2 units
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"131072 units accepted, cut to 65536", strings.Repeat("a", in), strings.Repeat("a", out), nil},
		{"131073 units rejected", strings.Repeat("a", in+1), "", sanitize.ErrReplyTooLarge},
		{"131072 units of emoji accepted", strings.Repeat(emoji, in/2), strings.Repeat(emoji, out/2), nil},
		{"131073 units with emoji rejected", strings.Repeat(emoji, in/2) + "a", "", sanitize.ErrReplyTooLarge},
		{"limit counts tags before removal", strings.Repeat("<b>", in/3+1), "", sanitize.ErrReplyTooLarge},
		{"131072 units of tag accepted", "<" + strings.Repeat("x", in-2) + ">", "", nil},
		{"invalid bytes count one unit each", strings.Repeat("\xff", in), strings.Repeat("\ufffd", out), nil},
		{"131073 invalid bytes rejected", strings.Repeat("\xff", in+1), "", sanitize.ErrReplyTooLarge},
		{"emoji straddling 65536 dropped", strings.Repeat("a", out-1) + emoji + "b", strings.Repeat("a", out-1), nil},
		{"emoji ending at 65536 kept", strings.Repeat("a", out-2) + emoji + "b", strings.Repeat("a", out-2) + emoji, nil},
		{"cut applies after tag removal", "<i>" + strings.Repeat("a", out) + "</i>", strings.Repeat("a", out), nil},
		{"cut applies after control removal", strings.Repeat("\x00", 10) + strings.Repeat("a", out+1), strings.Repeat("a", out), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sanitize.Reply(tc.in)
			errorIs(t, err, tc.wantErr)
			if got != tc.want { // too long to print with %q
				t.Errorf("Reply: got %d bytes (%d units), want %d bytes (%d units)",
					len(got), sanitize.UTF16Len(got), len(tc.want), sanitize.UTF16Len(tc.want))
			}
		})
	}
}

func TestUTF16Len(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "abc", 3},
		{"2-byte", "é", 1},
		{"3-byte", "€", 1},
		{"U+FFFF", "\uffff", 1},
		{"U+10000", "\U00010000", 2},
		{"emoji", "😀", 2},
		{"mixed", "a😀b", 4},
		{"ZWJ family", "👨‍👩‍👧", 8},
		{"literal U+FFFD", "\ufffd", 1},
		{"invalid byte", "\xff", 1},
		{"truncated 3-byte", "\xe2\x82", 2},
		{"truncated 4-byte", "\xf0\x9f\x98", 3},
		{"encoded surrogate", "\xed\xa0\x80", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "UTF16Len", sanitize.UTF16Len(tc.in), tc.want)
		})
	}
}

type truncCase struct {
	name string
	in   string
	n    int
	want string
}

func TestTruncateUTF16(t *testing.T) {
	tests := []truncCase{
		{"empty", "", 5, ""},
		{"fits", "abc", 3, "abc"},
		{"n larger", "abc", 10, "abc"},
		{"cut ascii", "abcdef", 4, "abcd"},
		{"zero", "abc", 0, ""},
		{"negative", "abc", -1, ""},
		{"before emoji", "a😀b", 1, "a"},
		{"never splits a surrogate pair", "a😀b", 2, "a"},
		{"after emoji", "a😀b", 3, "a😀"},
		{"whole", "a😀b", 4, "a😀b"},
		{"lone emoji, n=1", "😀", 1, ""},
		{"multibyte BMP", "héllo", 2, "hé"},
		{"invalid bytes one unit each", "\xff\xff", 1, "\xff"},
		{"truncated sequence not repaired", "\xf0\x9f\x98", 2, "\xf0\x9f"},
		{"ZWJ family cut inside", "👨‍👩‍👧", 3, "👨\u200d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "TruncateUTF16", sanitize.TruncateUTF16(tc.in, tc.n), tc.want)
		})
	}
}

func TestTruncateUTF8(t *testing.T) {
	tests := []truncCase{
		{"empty", "", 3, ""},
		{"fits", "abc", 3, "abc"},
		{"zero", "abc", 0, ""},
		{"negative", "abc", -2, ""},
		{"cut ascii", "abcdef", 2, "ab"},
		{"inside 2-byte", "héllo", 2, "h"},
		{"after 2-byte", "héllo", 3, "hé"},
		{"inside 3-byte", "€", 2, ""},
		{"inside 4-byte, 1", "😀x", 1, ""},
		{"inside 4-byte, 3", "😀x", 3, ""},
		{"after 4-byte", "😀x", 4, "😀"},
		{"lone continuations are code points", "a\x80\x80\x80\x80", 3, "a\x80\x80"},
		{"truncated sequence is its own code point", "\xe2\x82", 1, "\xe2"},
		{"extra continuation after a rune", "a😀\x80\x80", 6, "a😀\x80"},
		{"inside rune before extra continuation", "a😀\x80", 4, "a"},
		{"marker budget", strings.Repeat("é", 10), 5, "éé"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "TruncateUTF8", sanitize.TruncateUTF8(tc.in, tc.n), tc.want)
		})
	}
}

// TestCleanInputDoesNotAllocate pins the hot-path promise: clean input comes back as is.
func TestCleanInputDoesNotAllocate(t *testing.T) {
	msg := strings.Repeat("Hello, wörld! 😀 {\"a\":\"<b>\"}\n", 100)
	if n := testing.AllocsPerRun(100, func() { _ = sanitize.Inbound(msg) }); n != 0 {
		t.Errorf("Inbound allocates %v times on clean input", n)
	}
	plain := strings.Repeat("Hello, wörld! 😀 a > b\n", 100)
	if n := testing.AllocsPerRun(100, func() { _, _ = sanitize.Reply(plain) }); n != 0 {
		t.Errorf("Reply allocates %v times on clean input", n)
	}
}

// TestReplyLinear guards against quadratic tag scanning: many unclosed '<' and many tags.
func TestReplyLinear(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("<", 131072),
		strings.Repeat("<a", 65536),
		strings.Repeat("<>", 65536),
		strings.Repeat("<", 65536) + ">" + strings.Repeat("<", 65535),
	} {
		if _, err := sanitize.Reply(in); err != nil {
			t.Fatal(err)
		}
	}
}

// checkClean asserts the output invariants shared by Inbound and Reply.
func checkClean(t *testing.T, name, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%s output is not valid UTF-8: %q", name, out)
	}
	for _, r := range out {
		if unicode.Is(unicode.Cc, r) && r != '\t' && r != '\n' && r != '\r' {
			t.Fatalf("%s output contains Cc %U: %q", name, r, out)
		}
	}
}

func FuzzInbound(f *testing.F) {
	for _, tc := range inboundCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := sanitize.Inbound(in)
		checkClean(t, "Inbound", out)
		equal(t, "Inbound(Inbound(in))", sanitize.Inbound(out), out)
		equal(t, "Inbound", out, refInbound(in))
		if sanitize.UTF16Len(out) > sanitize.UTF16Len(in) {
			t.Fatalf("Inbound grew UTF-16 length: %q → %q", in, out)
		}
	})
}

func FuzzReply(f *testing.F) {
	for _, s := range []string{
		"a < b > c", "<b>x</b>", "x<y", "<<>>", "<a\n>b", "&amp;", "\x00<\x80>\x1b", "\xe2<x>\x82\xac", "😀<i>é</i>",
	} {
		f.Add(s)
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	f.Fuzz(func(t *testing.T, in string) {
		out, err := sanitize.Reply(in)
		switch {
		case in == "":
			errorIs(t, err, sanitize.ErrReplyMissing)
			return
		case sanitize.UTF16Len(in) > sanitize.MaxReplyInput:
			errorIs(t, err, sanitize.ErrReplyTooLarge)
			return
		}
		errorIs(t, err, nil)
		checkClean(t, "Reply", out)
		if i := strings.IndexByte(out, '<'); i >= 0 && strings.IndexByte(out[i:], '>') >= 0 {
			t.Fatalf("Reply output keeps a complete tag: %q → %q", in, out)
		}
		if n := sanitize.UTF16Len(out); n > sanitize.MaxReplyOutput {
			t.Fatalf("Reply output has %d UTF-16 units", n)
		}
		equal(t, "Reply", out, refReply(tags, in))
	})
}

func FuzzTruncate(f *testing.F) {
	f.Add("a😀b\x80é", 3)
	f.Add("\xe2\x82\xac\xf0\x9f", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= len(s) + 2 // keep n near the interesting range
		equal(t, "TruncateUTF8", sanitize.TruncateUTF8(s, n), refTruncateUTF8(s, n))
		got := sanitize.TruncateUTF16(s, n)
		if !strings.HasPrefix(s, got) {
			t.Fatalf("TruncateUTF16(%q, %d) = %q is not a prefix", s, n, got)
		}
		equal(t, "TruncateUTF16 (repaired)", refRepair(got), refTruncateUTF16(s, n))
		equal(t, "UTF16Len", sanitize.UTF16Len(s), len(utf16.Encode([]rune(s))))
	})
}

func BenchmarkInbound(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"clean_ascii_1KiB", strings.Repeat("The quick brown fox jumps over the lazy dog. {\"k\":1}\n", 20)},
		{"clean_unicode_1KiB", strings.Repeat("Grüße, 世界! 😀 naïve café\n", 30)},
		{"dirty_1KiB", strings.Repeat("text\x00with\x1b[0mcontrols\x80and\u0085junk\n", 30)},
		{"clean_ascii_64KiB", strings.Repeat("x", 65536)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				_ = sanitize.Inbound(bc.in)
			}
		})
	}
}

func BenchmarkReply(b *testing.B) {
	in := strings.Repeat("<p>Hello <b>there</b>, 1 < 2 &amp; 😀</p>\n", 30)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = sanitize.Reply(in)
	}
}
