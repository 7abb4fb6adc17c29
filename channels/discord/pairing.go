package discord

import (
	"slices"
	"strings"
	"unicode"
)

// PairedText confirms a pairing (PROTOCOL §4.3, §4.4): the same text as Telegram's.
const PairedText = "Paired successfully! You're now authorized to use this bot."

// RefusalText answers a sender who is not on the allowlist (PROTOCOL §4.3, §4.4).
const RefusalText = "You are not authorized to use this bot. Send the pairing code to link it, or ask the owner for one."

// IsPairing reports whether a message pairs its sender (PROTOCOL §4.3): the channel has a pairing
// code, the trimmed content equals it exactly (case-sensitive), and the sender id is known.
func IsPairing(content, pairingCode, senderID string) bool {
	return pairingCode != "" && senderID != "" && trim(content) == pairingCode
}

// Allowed reports whether the allowlist admits the sender, failing closed: the sender id must be
// known and in the list; an absent or empty list admits nobody.
func Allowed(allowedUsers []string, senderID string) bool {
	return senderID != "" && slices.Contains(allowedUsers, senderID)
}

// trim is JavaScript's String.prototype.trim, which the original relay used.
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0xFEFF, 0x2028, 0x2029:
			return true
		}
		return unicode.Is(unicode.Zs, r)
	})
}
