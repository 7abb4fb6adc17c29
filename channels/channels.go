// Package channels defines what the relay asks of a platform channel
// (Telegram, Discord, email): delivering a reply. Platform packages implement
// Sender; the server's delivery worker calls it, retries, and records the
// outcome. Nothing here imports the server or the store.
package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Part is one part of a reply to send.
type Part struct {
	ResponseID string // stable across retries: an idempotency key
	ChannelID  string
	Target     string // chat id, Discord channel id or email address
	Text       string
	Index      int // 0-based
	Total      int
	// Metadata is the reply's metadata (threading headers for email).
	Metadata json.RawMessage
	// ChannelMetadata is the channel's metadata (an email channel's
	// inboundAddress is the reply's sender).
	ChannelMetadata json.RawMessage
}

// Credentials opens a channel's sealed secret by name ("botToken").
type Credentials func(ctx context.Context, name string) ([]byte, error)

// Sender delivers reply parts to one platform.
type Sender interface {
	// MaxPartUnits is the most UTF-16 units one part may hold; 0 means the
	// text is never split.
	MaxPartUnits() int
	// Send delivers one part. Errors are retried unless they are Permanent.
	Send(ctx context.Context, p Part, creds Credentials) error
}

// ErrPermanent marks errors that no retry can fix (a 4xx other than 408 and
// 429): the delivery fails at once.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// RetryAfterError carries a platform's own retry hint (Telegram retry_after,
// Discord retry_after, a Retry-After header); it is honoured as a minimum.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the hint carried by err, or 0.
func RetryAfter(err error) time.Duration {
	if e, ok := errors.AsType[*RetryAfterError](err); ok {
		return e.After
	}
	return 0
}
