package sanitize

import "errors"

// Errors returned by Reply; their texts are the exact protocol error texts (PROTOCOL §7.1), which
// the server sends to clients verbatim. That is why they are capitalised and carry no package
// prefix, and why the size error says "bytes" although the limit is in UTF-16 units.
var (
	//lint:ignore ST1005 exact protocol text, sent to clients
	ErrReplyMissing = errors.New("Missing or invalid content")
	//lint:ignore ST1005 exact protocol text, sent to clients
	ErrReplyTooLarge = errors.New("Content exceeds maximum size of 65536 bytes")
)

// Reply size limits in UTF-16 code units (PROTOCOL §1.8).
const (
	// MaxReplyInput is the largest reply accepted before sanitising. It is twice the output limit
	// so that markup-heavy replies whose text fits are still accepted.
	MaxReplyInput = 131072
	// MaxReplyOutput is the length a sanitised reply is silently cut to.
	MaxReplyOutput = 65536
)

// Reply applies PROTOCOL §7.1 steps 1-5 to reply content: empty → ErrReplyMissing; UTF-16 length
// > MaxReplyInput → ErrReplyTooLarge; remove every match of `<[^>]*>` (from a '<' to the next '>';
// an unclosed '<' stays; entities are neither decoded nor encoded); remove Cc except tab/LF/CR (also
// repair invalid UTF-8 to U+FFFD, before the tag step, as the JSON decoder would); cut to the first
// MaxReplyOutput UTF-16 units, never splitting a surrogate pair.
//
// Content that sanitises to "" (for example "<b></b>") is returned as "" with a nil error: §7.1
// checks emptiness only before sanitising. Clean content that fits is returned without allocating.
func Reply(s string) (string, error) {
	if s == "" {
		return "", ErrReplyMissing
	}
	// UTF16Len(s) <= len(s), so short input needs no count.
	if len(s) > MaxReplyInput && UTF16Len(s) > MaxReplyInput {
		return "", ErrReplyTooLarge
	}
	return TruncateUTF16(clean(s, true), MaxReplyOutput), nil
}
