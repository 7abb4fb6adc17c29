package channels

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits", "hello", 5, []string{"hello"}},
		{"no limit", "hello", 0, []string{"hello"}},
		{"newline wins", "ab\ncd ef", 6, []string{"ab\n", "cd ef"}},
		{"last newline within limit", "a\nb\ncdef", 5, []string{"a\nb\n", "cdef"}},
		{"whitespace", "hello world again", 12, []string{"hello world ", "again"}},
		{"hard cut", "abcdefgh", 3, []string{"abc", "def", "gh"}},
		{"surrogate pair not split", "a😀b", 2, []string{"a", "😀", "b"}},
		{"multibyte", "ééé", 2, []string{"éé", "é"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.text, tc.limit)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("Split(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
			}
		})
	}
}

func TestSplitTelegramSized(t *testing.T) {
	line := strings.Repeat("x", 99) + "\n"
	text := strings.Repeat(line, 90) // 9,000 units
	parts := Split(text, 4096)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	for _, p := range parts {
		if units(p) > 4096 || !strings.HasSuffix(p, "\n") {
			t.Fatalf("part of %d units not ending at a newline", units(p))
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world\nagain and again", 7)
	f.Add("😀😀😀", 3)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 2 || limit > 1<<16 || !utf8.ValidString(text) {
			return
		}
		parts := Split(text, limit)
		if strings.Join(parts, "") != text {
			t.Fatal("parts do not join to the text")
		}
		for _, p := range parts {
			if units(p) > limit || (p == "" && text != "") {
				t.Fatalf("bad part %q for limit %d", p, limit)
			}
		}
	})
}
