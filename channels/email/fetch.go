package email

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
)

// ErrTransient marks a fetch of a received email that may succeed later: no answer, a timeout,
// 408, 429 or 5xx. The server answers 503 so that Svix retries (PROTOCOL §4.5 check 8).
var ErrTransient = errors.New("email: temporarily unable to fetch email")

// maxReceived bounds the JSON of one received email. Resend serves bodies, not attachments, here;
// the stored message is cut to 64 KiB anyway, so anything larger is treated as unfetchable and
// the webhook's fields are used.
const maxReceived = 8 << 20

// maxEmailID bounds an email id; Resend's are UUIDs.
const maxEmailID = 128

// errBadEmailID rejects ids that could address another path of the API (PROTOCOL §11.6: no
// outbound URL comes from input): resend-go puts the id into the path as is.
var errBadEmailID = errors.New("email: fetch received: invalid email id")

// FetchReceived fetches a received email's body and headers with GET <RS>/emails/receiving/<id>
// (PROTOCOL §4.5 processing step 1). Errors matching ErrTransient (no answer, 408, 429, 5xx) should
// give 503; any other error (no API key, an unusable id, 404, another 4xx, an undecodable answer)
// is permanent, and the caller continues with what the webhook carried.
//
// The request goes through resend-go, but the answer is decoded here: the library's
// ReceivedEmail.Headers is a map and fails on the array form (LIBRARIES.md item 8).
func (a *Adapter) FetchReceived(ctx context.Context, id string) (Received, error) {
	if a.apiKey == "" {
		return Received{}, ErrNoAPIKey
	}
	if !validEmailID(id) {
		return Received{}, errBadEmailID
	}
	buf := &limitedBuffer{max: maxReceived}
	err := a.call(ctx, "fetch received", func(ctx context.Context) error {
		req, err := a.rs.NewRequest(ctx, http.MethodGet, "emails/receiving/"+url.PathEscape(id), nil)
		if err != nil {
			return err
		}
		_, err = a.rs.Perform(req, buf) // an io.Writer receives the raw answer
		return err
	})
	if e, ok := errors.AsType[*callError](err); ok && e.transientStatus() {
		e.transient = true
		return Received{}, e
	}
	if err != nil {
		a.log.Debug("received email not fetched", "email_id", id, "err", err)
		return Received{}, err
	}
	if buf.overflow {
		return Received{}, errors.New("email: fetch received: answer too large")
	}
	m, ok := decodeObject(bytes.TrimSpace(buf.buf.Bytes()))
	if !ok {
		return Received{}, errors.New("email: fetch received: invalid JSON answer")
	}
	r := decodeReceived(m)
	if r.ID == "" {
		r.ID = id
	}
	return r, nil
}

// validEmailID accepts ids of letters, digits, "-", "_" and "." that are not "." or "..", so that
// the id stays one path segment under emails/receiving/.
func validEmailID(id string) bool {
	if id == "" || len(id) > maxEmailID || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// MergeFetched combines a webhook's email with the fetched one (PROTOCOL §4.5 step 1): the fetched
// text and HTML override the webhook's when they are non-empty (an empty or null fetched body
// never erases what the webhook carried), and the fetched headers are used only if the webhook
// had none. Everything else is the webhook's.
func MergeFetched(webhook, fetched Received) Received {
	out := webhook
	if fetched.Text != "" {
		out.Text = fetched.Text
	}
	if fetched.HTML != "" {
		out.HTML = fetched.HTML
	}
	if len(webhook.Headers) == 0 {
		out.Headers = fetched.Headers
	}
	return out
}
