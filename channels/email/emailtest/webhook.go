package emailtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignWebhook signs body the way Svix signs Resend's webhooks and returns the svix-id,
// svix-timestamp and svix-signature headers: the signature is "v1," + base64(HMAC-SHA256(key,
// id + "." + unix seconds + "." + body)), the key being the standard base64 of secret after
// "whsec_". It panics on a secret that does not decode, a bug in the test.
func SignWebhook(secret, id string, ts time.Time, body []byte) http.Header {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic("emailtest: webhook secret is not base64: " + err.Error())
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + stamp + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set("svix-id", id)
	h.Set("svix-timestamp", stamp)
	h.Set("svix-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

// ReceivedEvent builds the body of an email.received webhook in Resend's shape. Like Resend's, the
// event carries no text, HTML or headers: the relay fetches them with GET /emails/receiving/{id}
// (register them with AddReceived).
func ReceivedEvent(emailID, from string, to []string, subject string) []byte {
	now := time.Now().UTC()
	type data struct {
		EmailID     string   `json:"email_id"`
		CreatedAt   string   `json:"created_at"`
		From        string   `json:"from"`
		To          []string `json:"to"`
		Bcc         []string `json:"bcc"`
		Cc          []string `json:"cc"`
		MessageID   string   `json:"message_id"`
		Subject     string   `json:"subject"`
		Attachments []string `json:"attachments"`
	}
	return marshal(struct {
		Type      string `json:"type"`
		CreatedAt string `json:"created_at"`
		Data      data   `json:"data"`
	}{
		Type:      "email.received",
		CreatedAt: now.Format("2006-01-02T15:04:05.000Z"),
		Data: data{
			EmailID:     emailID,
			CreatedAt:   now.Format("2006-01-02T15:04:05.000000Z07:00"),
			From:        from,
			To:          nonNil(to),
			Bcc:         []string{},
			Cc:          []string{},
			MessageID:   "<" + emailID + "@fake.resend.test>",
			Subject:     subject,
			Attachments: []string{},
		},
	})
}
