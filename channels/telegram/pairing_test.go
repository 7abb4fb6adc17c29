package telegram_test

import (
	"testing"

	"github.com/chaos-relay/relay/channels/telegram"
)

func TestIsPairing(t *testing.T) {
	const code = "A1B2C3D4"
	tests := []struct {
		name, content, code string
		sender              *int64
		want                bool
	}{
		{"exact", "A1B2C3D4", code, ptr(42), true},
		{"surrounding whitespace", "  A1B2C3D4\n", code, ptr(42), true},
		{"JavaScript whitespace", "\u00a0\ufeffA1B2C3D4\u2028\u3000", code, ptr(42), true},
		{"U+0085 is not JavaScript whitespace", "A1B2C3D4\u0085", code, ptr(42), false},
		{"case-sensitive", "a1b2c3d4", code, ptr(42), false},
		{"inner text", "code: A1B2C3D4", code, ptr(42), false},
		{"no sender", "A1B2C3D4", code, nil, false},
		{"no code", "", "", ptr(42), false},
		{"code already used", "A1B2C3D4", "", ptr(42), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, "IsPairing", telegram.IsPairing(tt.content, tt.code, tt.sender), tt.want)
		})
	}
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		name   string
		users  []string
		sender *int64
		want   bool
	}{
		{"listed", []string{"7", "42"}, ptr(42), true},
		{"negative id", []string{"-5"}, ptr(-5), true},
		{"big id", []string{"9007199254740993"}, ptr(9007199254740993), true},
		{"not listed", []string{"7"}, ptr(42), false},
		{"nil list", nil, ptr(42), false},
		{"empty list", []string{}, ptr(42), false},
		{"no sender", []string{"42"}, nil, false},
		{"no sender, list with empty entry", []string{""}, nil, false},
		{"padded entry", []string{" 42"}, ptr(42), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, "Allowed", telegram.Allowed(tt.users, tt.sender), tt.want)
		})
	}
}

func TestTexts(t *testing.T) {
	equal(t, "PairedText", telegram.PairedText, "Paired successfully! You're now authorized to use this bot.")
	equal(t, "RefusalText", telegram.RefusalText,
		"You are not authorized to use this bot. Send the pairing code to link it, or ask the owner for one.")
}
