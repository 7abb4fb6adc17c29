package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/client"
)

// webhookUrl uses RELAY_BASE_URL, else the request's origin, where forwarded
// headers count only from a trusted proxy (PROTOCOL §1.1).
func TestWebhookURLOrigin(t *testing.T) {
	t.Parallel()
	forwarded := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "relay.example.org"}
	createWith := func(r *relay, header map[string]string) created {
		t.Helper()
		c := r.register(t, false)
		h := map[string]string{"Authorization": "Bearer " + c.APIKey}
		for k, v := range header {
			h[k] = v
		}
		a := send(t, http.MethodPost, r.URL+"/channels", []byte(`{}`), h)
		if a.status != http.StatusCreated {
			t.Fatalf("create: %d %s", a.status, a.body)
		}
		var cr created
		decode(t, a, &cr)
		var ch struct {
			ID       string
			Metadata struct{ WebhookSecret string }
		}
		_ = json.Unmarshal(cr.Channel, &ch)
		cr.id, cr.secret = ch.ID, ch.Metadata.WebhookSecret
		return cr
	}
	check := func(name string, cr created, origin string) {
		t.Helper()
		if want := origin + "/webhook/" + cr.id + "?token=" + cr.secret; cr.WebhookURL == nil || *cr.WebhookURL != want {
			t.Errorf("%s: webhookUrl %v, want %s", name, cr.WebhookURL, want)
		}
	}

	base := newRelay(t, func(c *app.Config) { c.BaseURL = "https://relay.example.com" })
	check("base URL", createWith(base, forwarded), "https://relay.example.com")

	untrusted := newRelay(t, func(*app.Config) {})
	check("untrusted peer", createWith(untrusted, forwarded), untrusted.URL)

	trusted := newRelay(t, func(c *app.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	check("trusted proxy", createWith(trusted, forwarded), "https://relay.example.org")
	check("trusted proxy without headers", createWith(trusted, nil), trusted.URL)
}

// JSON routes parse their body whatever the Content-Type, and the last of
// duplicate keys wins (PROTOCOL §1.3).
func TestJSONBodiesIgnoreContentType(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	auth := func(ct string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + c.APIKey}
		if ct != "" {
			h["Content-Type"] = ct
		}
		return h
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		a := send(t, http.MethodPost, r.URL+"/channels", []byte(`{"type":"sms","type":"slack","name":"a","name":"b"}`), auth(ct))
		if a.status != http.StatusCreated || !strings.Contains(a.body, `"type":"slack"`) || !strings.Contains(a.body, `"name":"b"`) {
			t.Errorf("Content-Type %q: %d %s", ct, a.status, a.body)
		}
	}
	id := mustCreate(t, c, `{}`).id
	a := send(t, http.MethodPost, r.URL+"/reply", []byte(`{"channelId":"none","content":"x","channelId":"`+id+`"}`), auth("text/plain"))
	replied(t, a)
	key, err := client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"publicKey": jwkOf(t, key)})
	reg := checkRegistered(t, send(t, http.MethodPost, r.URL+"/auth/register", body, map[string]string{"Content-Type": "text/plain"}))
	expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/channels", nil, map[string]string{"Authorization": "Bearer " + reg.APIKey}))
}

// Bodies over RELAY_MAX_BODY_BYTES are refused with 413 on every route,
// before the channel is even looked up (§4.1 step 2).
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 256
	r := newRelay(t, func(c *app.Config) { c.MaxBodyBytes = limit })
	h := newHook(t, r, `{}`)
	legacy := r.register(t, false)
	over, at := bytes.Repeat([]byte("a"), limit+1), bytes.Repeat([]byte("a"), limit)

	tooLarge := func(a answer) {
		t.Helper()
		expectError(t, a, http.StatusRequestEntityTooLarge, "Request body too large")
	}
	tooLarge(hook(t, h.url, "text/plain", over, nil))
	tooLarge(hook(t, r.URL+"/webhook/"+uniqueID("none"), "text/plain", over, nil))
	// Without Content-Length (chunked), the limit holds while reading.
	req, err := http.NewRequestWithContext(bg, http.MethodPost, h.url, io.MultiReader(bytes.NewReader(over)))
	if err != nil {
		t.Fatal(err)
	}
	tooLarge(do(t, req))
	tooLarge(send(t, http.MethodPost, r.URL+"/auth/register", over, nil))
	tooLarge(signedSend(t, h.c, http.MethodPost, "/channels", over))
	tooLarge(signedSend(t, h.c, http.MethodPost, "/reply", over))
	tooLarge(send(t, http.MethodPost, r.URL+"/channels", over, map[string]string{"Authorization": "Bearer " + legacy.APIKey}))
	tooLarge(signedSend(t, h.c, http.MethodPatch, "/channels/"+h.id, over))
	noMessages(t, h.c)
	if n := len(channelList(t, h.c)); n != 1 {
		t.Errorf("%d channels", n)
	}
	noChannels(t, legacy)
	accepted(t, hook(t, h.url, "text/plain", at, nil))
}
