package email_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/email/emailtest"
)

// The test vector of PROTOCOL §4.5.
const (
	vectorSecret    = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"
	vectorID        = "msg_2pXf0Y3xQmZc8VtJ4hK9sL1aB7e"
	vectorTimestamp = "1795428930"
	vectorSignature = "v1,B2JHt4kmEUMi20PvdIaoas8nd7t96/oUynRaMBvlozU="
)

func TestVerifySvixVector(t *testing.T) {
	body := readTestdata(t, "email_received.json")
	errorIs(t, email.VerifySvix(vectorSecret, vectorID, vectorTimestamp, vectorSignature, body, vectorNow), nil)

	// The fake's signer produces the same headers.
	h := emailtest.SignWebhook(vectorSecret, vectorID, vectorNow, body)
	equal(t, "svix-id", h.Get("svix-id"), vectorID)
	equal(t, "svix-timestamp", h.Get("svix-timestamp"), vectorTimestamp)
	equal(t, "svix-signature", h.Get("svix-signature"), vectorSignature)
}

// sign returns the v1 signature value (without "v1,") of body under secret.
func sign(t *testing.T, secret, id, ts string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	must(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifySvix(t *testing.T) {
	body := readTestdata(t, "email_received.json")
	good := vectorSignature[len("v1,"):]
	otherSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret key of 24b"))
	at := func(d time.Duration) (string, string) {
		stamp := strconv.FormatInt(vectorNow.Add(d).Unix(), 10)
		return stamp, "v1," + sign(t, vectorSecret, vectorID, stamp, body)
	}
	past300, sigPast300 := at(-300 * time.Second)
	past301, sigPast301 := at(-301 * time.Second)
	future300, sigFuture300 := at(300 * time.Second)
	future301, sigFuture301 := at(301 * time.Second)

	tests := []struct {
		name              string
		secret, id, ts, s string
		body              []byte
		want              error
	}{
		{"vector", vectorSecret, vectorID, vectorTimestamp, vectorSignature, body, nil},
		{"secret without whsec_ prefix", vectorSecret[len("whsec_"):], vectorID, vectorTimestamp, vectorSignature, body, nil},
		{"no secret", "", vectorID, vectorTimestamp, vectorSignature, body, email.ErrInboundNotConfigured},
		{"missing id", vectorSecret, "", vectorTimestamp, vectorSignature, body, email.ErrMissingHeaders},
		{"missing timestamp", vectorSecret, vectorID, "", vectorSignature, body, email.ErrMissingHeaders},
		{"missing signature", vectorSecret, vectorID, vectorTimestamp, "", body, email.ErrMissingHeaders},
		{"300 s old", vectorSecret, vectorID, past300, sigPast300, body, nil},
		{"301 s old", vectorSecret, vectorID, past301, sigPast301, body, email.ErrStale},
		{"300 s ahead", vectorSecret, vectorID, future300, sigFuture300, body, nil},
		{"301 s ahead", vectorSecret, vectorID, future301, sigFuture301, body, email.ErrStale},
		{"plus sign", vectorSecret, vectorID, "+1795428930", vectorSignature, body, email.ErrStale},
		{"leading space", vectorSecret, vectorID, " 1795428930", vectorSignature, body, email.ErrStale},
		{"trailing space", vectorSecret, vectorID, "1795428930 ", vectorSignature, body, email.ErrStale},
		{"fraction", vectorSecret, vectorID, "1795428930.0", vectorSignature, body, email.ErrStale},
		{"negative", vectorSecret, vectorID, "-1795428930", vectorSignature, body, email.ErrStale},
		{"exponent", vectorSecret, vectorID, "1.79e9", vectorSignature, body, email.ErrStale},
		{"overflowing digits", vectorSecret, vectorID, "99999999999999999999999", vectorSignature, body, email.ErrStale},
		{"arabic-indic digits", vectorSecret, vectorID, "١٧٩٥٤٢٨٩٣٠", vectorSignature, body, email.ErrStale},
		{"wrong secret", otherSecret, vectorID, vectorTimestamp, vectorSignature, body, email.ErrBadSignature},
		{"undecodable secret", "whsec_not base64!", vectorID, vectorTimestamp, vectorSignature, body, email.ErrBadSignature},
		{"empty key", "whsec_", vectorID, vectorTimestamp, vectorSignature, body, email.ErrBadSignature},
		{"other id", vectorSecret, "msg_other", vectorTimestamp, vectorSignature, body, email.ErrBadSignature},
		{"body changed", vectorSecret, vectorID, vectorTimestamp, vectorSignature, append([]byte(nil), append(body, ' ')...), email.ErrBadSignature},
		{"v2 entry ignored", vectorSecret, vectorID, vectorTimestamp, "v2," + good, body, email.ErrBadSignature},
		{"v1a entry ignored", vectorSecret, vectorID, vectorTimestamp, "v1a," + good, body, email.ErrBadSignature},
		{"no version", vectorSecret, vectorID, vectorTimestamp, good, body, email.ErrBadSignature},
		{"v1 with a space", vectorSecret, vectorID, vectorTimestamp, "v1, " + good, body, email.ErrBadSignature},
		{"truncated", vectorSecret, vectorID, vectorTimestamp, vectorSignature[:len(vectorSignature)-1], body, email.ErrBadSignature},
		{"one of several valid", vectorSecret, vectorID, vectorTimestamp, "v1,AAAA v2," + good + " " + vectorSignature + " v1,BBBB", body, nil},
		{"several invalid", vectorSecret, vectorID, vectorTimestamp, "v1,AAAA v1,BBBB", body, email.ErrBadSignature},
		{"double spaces", vectorSecret, vectorID, vectorTimestamp, "v1,AAAA  " + vectorSignature, body, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errorIs(t, email.VerifySvix(tt.secret, tt.id, tt.ts, tt.s, tt.body, vectorNow), tt.want)
		})
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := readTestdata(t, "email_received.json")
	a := email.New(email.Config{WebhookSecret: vectorSecret}, nil)
	equal(t, "InboundConfigured", a.InboundConfigured(), true)
	h := emailtest.SignWebhook(vectorSecret, vectorID, vectorNow, body)
	errorIs(t, a.VerifyWebhook(h, body, vectorNow), nil)
	errorIs(t, a.VerifyWebhook(h, body, vectorNow.Add(301*time.Second)), email.ErrStale)
	errorIs(t, a.VerifyWebhook(http.Header{}, body, vectorNow), email.ErrMissingHeaders)

	none := email.New(email.Config{}, nil)
	equal(t, "InboundConfigured", none.InboundConfigured(), false)
	errorIs(t, none.VerifyWebhook(h, body, vectorNow), email.ErrInboundNotConfigured)
}
