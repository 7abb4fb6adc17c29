package email

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Svix verification errors, in the order of PROTOCOL §4.5 inbound checks 2-5. The texts of the
// last three are the 401 answers' error texts.
var (
	// ErrInboundNotConfigured means RELAY_RESEND_WEBHOOK_SECRET is unset (check 2, 503).
	//lint:ignore ST1005 exact protocol text, answered to clients
	ErrInboundNotConfigured = errors.New("Inbound email not configured (set RELAY_RESEND_WEBHOOK_SECRET)")
	// ErrMissingHeaders: svix-id, svix-timestamp or svix-signature is missing (check 3, 401).
	//lint:ignore ST1005 exact protocol text, answered to clients
	ErrMissingHeaders = errors.New("Missing signature headers")
	// ErrStale: svix-timestamp is not digits only or more than 300 s from now (check 4, 401).
	//lint:ignore ST1005 exact protocol text, answered to clients
	ErrStale = errors.New("Timestamp too old")
	// ErrBadSignature: no v1 signature matches (check 5, 401).
	//lint:ignore ST1005 exact protocol text, answered to clients
	ErrBadSignature = errors.New("Invalid signature")
)

// svixTolerance is how far svix-timestamp may be from now, either way (PROTOCOL §4.5 check 4).
const svixTolerance = 300 * time.Second

// VerifySvix checks a Svix-signed webhook (PROTOCOL §4.5 checks 3-5) with its own HMAC, so that
// the clock is injectable and only v1 signatures count (resend-go's Webhooks.Verify reads the
// wall clock and accepts any "vN,"). The key is the standard base64 of secret after an optional
// "whsec_"; the expected signature is base64(HMAC-SHA256(key, id + "." + timestamp + "." + body));
// signature holds space-separated "v1,<base64>" entries, one of which must equal it (constant
// time). timestamp must be ASCII digits only and within 300 s of now.
//
// An empty or undecodable secret gives ErrInboundNotConfigured or ErrBadSignature: an empty HMAC
// key would let anyone sign.
func VerifySvix(secret, id, timestamp, signature string, body []byte, now time.Time) error {
	if secret == "" {
		return ErrInboundNotConfigured
	}
	if id == "" || timestamp == "" || signature == "" {
		return ErrMissingHeaders
	}
	if !fresh(timestamp, now) {
		return ErrStale
	}
	key, err := webhookKey(secret)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	ok := 0
	for entry := range strings.SplitSeq(signature, " ") {
		version, sig, found := strings.Cut(entry, ",")
		if found && version == "v1" {
			ok |= subtle.ConstantTimeCompare([]byte(sig), want)
		}
	}
	if ok != 1 {
		return ErrBadSignature
	}
	return nil
}

// fresh reports whether timestamp is ASCII digits only (no sign, space or fraction, which
// strconv.ParseInt alone would partly accept) and at most svixTolerance away from now.
func fresh(timestamp string, now time.Time) bool {
	for i := 0; i < len(timestamp); i++ {
		if timestamp[i] < '0' || timestamp[i] > '9' {
			return false
		}
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false // more digits than int64 holds: not within any window
	}
	d := now.Unix() - ts
	return d <= int64(svixTolerance/time.Second) && d >= -int64(svixTolerance/time.Second)
}

// VerifyWebhook checks a request to POST /email/inbound with the configured secret: it reads the
// svix-id, svix-timestamp and svix-signature headers and calls VerifySvix. Without a secret it
// returns ErrInboundNotConfigured.
func (a *Adapter) VerifyWebhook(h http.Header, body []byte, now time.Time) error {
	return VerifySvix(a.webhookSecret, h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature"), body, now)
}
