package telegram

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// PairedText confirms a pairing to the chat (PROTOCOL §4.3), sent without parse_mode.
const PairedText = "Paired successfully! You're now authorized to use this bot."

// RefusalText answers a sender who is not on the allowlist (PROTOCOL §4.3), sent without parse_mode.
const RefusalText = "You are not authorized to use this bot. Send the pairing code to link it, or ask the owner for one."

// IsPairing reports whether a message pairs its sender (PROTOCOL §4.3): the channel has a pairing
// code, the trimmed content equals it exactly (case-sensitive), and the sender id is known.
func IsPairing(content, pairingCode string, senderID *int64) bool {
	return pairingCode != "" && senderID != nil && trim(content) == pairingCode
}

// Allowed reports whether the allowlist admits the sender, failing closed: the sender id must be
// known and String(senderId) must be in the list; an absent or empty list admits nobody.
func Allowed(allowedUsers []string, senderID *int64) bool {
	return senderID != nil && slices.Contains(allowedUsers, strconv.FormatInt(*senderID, 10))
}

// trim is JavaScript's String.prototype.trim, which the original relay used: it strips
// WhiteSpace and LineTerminator code points, which differ from unicode.IsSpace (U+FEFF is
// stripped, U+0085 is not).
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0xFEFF, 0x2028, 0x2029:
			return true
		}
		return unicode.Is(unicode.Zs, r)
	})
}
