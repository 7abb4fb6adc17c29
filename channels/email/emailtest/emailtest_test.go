package emailtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/email/emailtest"
)

// do sends a request to the fake with the right key unless key says otherwise.
func do(t *testing.T, s *emailtest.Server, method, path, key, idem, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

func equal[T comparable](t *testing.T, name string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

func TestSignWebhookVector(t *testing.T) {
	body := []byte(`{"type":"email.received","created_at":"2026-11-23T10:15:29.000Z","data":{"email_id":"4ef9a417-02e9-4d39-ad75-9611e0fcc33c","from":"Alice <alice@example.com>","to":["support-k3x9q2m7ab@mail.example.org"],"subject":"Hello"}}`)
	h := emailtest.SignWebhook(emailtest.WebhookSecret, "msg_2pXf0Y3xQmZc8VtJ4hK9sL1aB7e", time.Unix(1795428930, 0), body)
	equal(t, "svix-id", h.Get("svix-id"), "msg_2pXf0Y3xQmZc8VtJ4hK9sL1aB7e")
	equal(t, "svix-timestamp", h.Get("svix-timestamp"), "1795428930")
	equal(t, "svix-signature", h.Get("svix-signature"), "v1,B2JHt4kmEUMi20PvdIaoas8nd7t96/oUynRaMBvlozU=")
}

func TestReceivedEvent(t *testing.T) {
	body := emailtest.ReceivedEvent("e-1", "Alice <alice@example.com>", []string{"s@x.org"}, "Hi & <bye>")
	var ev struct {
		Type string `json:"type"`
		Data struct {
			EmailID string   `json:"email_id"`
			From    string   `json:"from"`
			To      []string `json:"to"`
			Subject string   `json:"subject"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	equal(t, "type", ev.Type, "email.received")
	equal(t, "email_id", ev.Data.EmailID, "e-1")
	equal(t, "from", ev.Data.From, "Alice <alice@example.com>")
	equal(t, "subject", ev.Data.Subject, "Hi & <bye>")
	equal(t, "to", strings.Join(ev.Data.To, ","), "s@x.org")
	if !bytes.Contains(body, []byte(`"Alice <alice@example.com>"`)) {
		t.Errorf("body escapes HTML characters, Resend does not: %s", body)
	}
}

func TestSendEmail(t *testing.T) {
	s := emailtest.New(t)
	body := `{"from":"a@x.org","to":"b@y.org","subject":"S","text":"T","headers":{"In-Reply-To":"<m@x>"}}`
	status, _, out := do(t, s, "POST", "/emails", emailtest.APIKey, "k1", body)
	equal(t, "status", status, 200)
	id, _ := out["id"].(string)
	if len(id) != 36 {
		t.Fatalf("id = %q, want a UUID", id)
	}
	// Same key, same payload: same id, not sent twice.
	_, _, again := do(t, s, "POST", "/emails", emailtest.APIKey, "k1", body)
	equal(t, "repeated id", again["id"], any(id))
	// Same key, other payload: 409.
	status, _, out = do(t, s, "POST", "/emails", emailtest.APIKey, "k1", strings.Replace(body, `"T"`, `"U"`, 1))
	equal(t, "conflict status", status, 409)
	equal(t, "conflict name", out["name"], any("invalid_idempotent_request"))
	// No key: always sent.
	do(t, s, "POST", "/emails", emailtest.APIKey, "", `{"from":"a@x.org","to":["c@y.org","d@y.org"],"subject":"S","html":"<p>H</p>"}`)

	sent := s.WaitSent(t, 2)
	if len(sent) != 2 {
		t.Fatalf("sent = %d, want 2", len(sent))
	}
	want := emailtest.Sent{ID: id, From: "a@x.org", To: []string{"b@y.org"}, Subject: "S", Text: "T",
		Headers: map[string]string{"In-Reply-To": "<m@x>"}, IdempotencyKey: "k1", Body: json.RawMessage(body)}
	if !reflect.DeepEqual(sent[0], want) {
		t.Errorf("sent[0] = %#v, want %#v", sent[0], want)
	}
	equal(t, "to", strings.Join(sent[1].To, ","), "c@y.org,d@y.org")
	equal(t, "html", sent[1].HTML, "<p>H</p>")
	equal(t, "calls", s.Calls("/emails"), 4)
}

func TestSendEmailValidation(t *testing.T) {
	s := emailtest.New(t)
	for _, body := range []string{
		`{`, `{"to":"b@y.org","subject":"S","text":"T"}`, `{"from":"a@x.org","subject":"S","text":"T"}`,
		`{"from":"a@x.org","to":[],"subject":"S","text":"T"}`, `{"from":"a@x.org","to":"b@y.org","text":"T"}`,
		`{"from":"a@x.org","to":"b@y.org","subject":"S"}`,
	} {
		status, _, out := do(t, s, "POST", "/emails", emailtest.APIKey, "", body)
		equal(t, "status of "+body, status, 422)
		if _, ok := out["message"].(string); !ok {
			t.Errorf("%s: answer %v has no message", body, out)
		}
	}
	equal(t, "sent", len(s.Sent()), 0)
}

func TestAuth(t *testing.T) {
	s := emailtest.New(t)
	for _, key := range []string{"", "re_wrong"} {
		status, _, out := do(t, s, "POST", "/emails", key, "", `{}`)
		equal(t, "status", status, 401)
		equal(t, "statusCode", out["statusCode"], any(float64(401)))
	}
}

func TestReceiving(t *testing.T) {
	s := emailtest.New(t)
	s.AddReceived("obj", emailtest.ReceivedJSON{From: "a@x.org", To: []string{"b@y.org"}, Subject: "S", HTML: "<p>h</p>",
		Headers: []emailtest.Header{{Name: "Z", Value: "1"}, {Name: "A", Value: "2"}}})
	s.AddReceived("arr", emailtest.ReceivedJSON{Text: "t", HeadersArray: true,
		Headers: []emailtest.Header{{Name: "Message-ID", Value: "<m@x>"}}})

	status, _, out := do(t, s, "GET", "/emails/receiving/obj", emailtest.APIKey, "", "")
	equal(t, "status", status, 200)
	equal(t, "object", out["object"], any("email"))
	equal(t, "id", out["id"], any("obj"))
	equal(t, "text", out["text"], nil)
	equal(t, "html", out["html"], any("<p>h</p>"))
	h, ok := out["headers"].(map[string]any)
	if !ok || h["Z"] != "1" || h["A"] != "2" {
		t.Errorf("headers = %#v, want an object", out["headers"])
	}

	_, _, out = do(t, s, "GET", "/emails/receiving/arr", emailtest.APIKey, "", "")
	arr, ok := out["headers"].([]any)
	if !ok || len(arr) != 1 {
		t.Fatalf("headers = %#v, want an array", out["headers"])
	}
	equal(t, "header name", arr[0].(map[string]any)["name"], any("Message-ID"))

	status, _, out = do(t, s, "GET", "/emails/receiving/nope", emailtest.APIKey, "", "")
	equal(t, "status", status, 404)
	equal(t, "message", out["message"], any("Email not found"))
	equal(t, "name", out["name"], any("not_found"))
}

func TestFailNext(t *testing.T) {
	s := emailtest.New(t)
	s.AddReceived("e", emailtest.ReceivedJSON{Text: "t"})
	s.FailNext("/emails/receiving/", 1, 429, "")
	s.FailNext("/emails/receiving/e", 1, 500, `{"message":"boom"}`)

	// The exact path's failure is served first, then the prefix's, then the real answer.
	status, _, out := do(t, s, "GET", "/emails/receiving/e", "", "", "")
	equal(t, "first", status, 500)
	equal(t, "message", out["message"], any("boom"))
	status, h, out := do(t, s, "GET", "/emails/receiving/e", "", "", "")
	equal(t, "second", status, 429)
	equal(t, "Retry-After", h.Get("Retry-After"), "1")
	equal(t, "name", out["name"], any("rate_limit_exceeded"))
	status, _, _ = do(t, s, "GET", "/emails/receiving/e", emailtest.APIKey, "", "")
	equal(t, "third", status, 200)

	s.FailNext("/emails", 1, 0, "")
	req, _ := http.NewRequest("POST", s.URL+"/emails", strings.NewReader("{}"))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped connection answered %d", resp.StatusCode)
	}
}
