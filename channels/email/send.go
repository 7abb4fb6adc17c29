package email

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/resend/resend-go/v3"

	"github.com/chaos-relay/relay/channels"
)

// Delivery errors with the lastError texts of PROTOCOL §7.5 where the spec has one. The server
// checks these conditions when it accepts a reply; Send repeats the checks so that a record that
// slipped through fails at once instead of being retried.
var (
	errNotConfigured = errors.New("email not configured")
	errNoTarget      = errors.New("no reply target")
	errNoFrom        = errors.New("channel has no inbound address")
)

// MaxPartUnits implements channels.Sender: email is never split.
func (a *Adapter) MaxPartUnits() int { return 0 }

// Send implements channels.Sender (PROTOCOL §7.5): POST <RS>/emails from the channel's
// inboundAddress to p.Target, with the reply subject, p.Text, the threading headers and
// Idempotency-Key p.ResponseID, so that a retry after a lost answer is not sent twice. creds is
// unused: the Resend key is the relay's, not the channel's.
//
// A 429 gives a *channels.RetryAfterError carrying Retry-After; network errors, timeouts, 408 and
// 5xx are returned as they are, to be retried; any other 4xx is channels.Permanent, except a 409
// "concurrent_idempotent_requests" (the same key still in flight at Resend, which a retry
// resolves into the first request's answer).
func (a *Adapter) Send(ctx context.Context, p channels.Part, _ channels.Credentials) error {
	if a.apiKey == "" {
		return channels.Permanent(errNotConfigured)
	}
	from := metaString(p.ChannelMetadata, "inboundAddress")
	if from == "" {
		return channels.Permanent(errNoFrom)
	}
	if strings.TrimSpace(p.Target) == "" {
		return channels.Permanent(errNoTarget)
	}
	req := &resend.SendEmailRequest{
		From:    from,
		To:      []string{p.Target},
		Subject: ReplySubject(metaString(p.Metadata, "subject")),
		Text:    p.Text,
		Headers: ReplyHeaders(metaString(p.Metadata, "emailMessageId"), metaString(p.Metadata, "references")),
	}
	// Email is never split, so the response id alone identifies the mail; should a part ever be
	// sent separately, it gets its own key rather than being answered with the first part's id.
	key := p.ResponseID
	if p.Index > 0 {
		key += "/" + strconv.Itoa(p.Index)
	}
	err := a.call(ctx, "send", func(ctx context.Context) error {
		_, err := a.rs.Emails.SendWithOptions(ctx, req, &resend.SendEmailOptions{IdempotencyKey: key})
		return err
	})
	if err != nil {
		a.log.Debug("reply not sent", "response_id", p.ResponseID, "channel", p.ChannelID, "err", err)
	}
	return classify(err)
}

// classify turns a call error into the delivery worker's vocabulary.
func classify(err error) error {
	e, ok := errors.AsType[*callError](err)
	switch {
	case !ok:
		return err
	case e.status == 429:
		return &channels.RetryAfterError{After: e.retryAfter, Err: e}
	case e.status == 409 && e.name == "concurrent_idempotent_requests":
		return e
	case e.permanent():
		return channels.Permanent(e)
	}
	return e
}

// ReplySubject is the subject of a reply (PROTOCOL §7.5): "Re: " + subject after removing one
// leading "re:" (any case) and the whitespace after it, or "Re: (no subject)" when subject is
// empty.
func ReplySubject(subject string) string {
	if subject == "" {
		return "Re: (no subject)"
	}
	if len(subject) >= 3 && strings.EqualFold(subject[:3], "re:") {
		subject = strings.TrimLeftFunc(subject[3:], isSpace)
	}
	return "Re: " + subject
}

// ReplyHeaders are a reply's threading headers (PROTOCOL §7.5): nil without a message id, else
// In-Reply-To = messageID and References = references + " " + messageID (just messageID when
// references is empty).
func ReplyHeaders(messageID, references string) map[string]string {
	if messageID == "" {
		return nil
	}
	refs := messageID
	if references != "" {
		refs = references + " " + messageID
	}
	return map[string]string{"In-Reply-To": messageID, "References": refs}
}

// metaString returns the string member key of a JSON object, or "" when raw is not an object or
// the member is absent or not a string.
func metaString(raw json.RawMessage, key string) string {
	m, ok := decodeObject(raw)
	if !ok {
		return ""
	}
	return jsonString(m[key])
}
