package server_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/chaos-relay/relay/cmd/relay/app"

	"github.com/chaos-relay/relay/ratelimit"
)

// Each limit of §8 answers 429 with its text and Retry-After; malformed
// requests count (limits come before validation) and refused ones store
// nothing. Routes without a limit keep working.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	two := func(per time.Duration) ratelimit.Rate { return ratelimit.Rate{N: 2, Per: per} }

	t.Run("register", func(t *testing.T) {
		t.Parallel()
		r := newRelay(t, func(c *app.Config) { c.RateLimits.Register = two(time.Hour) })
		checkRegistered(t, send(t, http.MethodPost, r.URL+"/auth/register", []byte("not json"), nil))
		key := r.register(t, true).Key
		for _, body := range [][]byte{nil, []byte(`{"publicKey":"bad"}`)} {
			expectRateLimited(t, send(t, http.MethodPost, r.URL+"/auth/register", body, nil), "Too many registration attempts. Try again later.", 1800)
		}
		// Reclaim is a registration too.
		expectRateLimited(t, registerBody(t, r, map[string]any{"publicKey": jwkOf(t, key)}), "Too many registration attempts. Try again later.", 1800)
	})

	// The register bucket is the client IP: the TCP peer, unless the peer is
	// a trusted proxy; then X-Forwarded-For right to left, else X-Real-IP (§1.9).
	t.Run("client IP", func(t *testing.T) {
		t.Parallel()
		one := func(c *app.Config) { c.RateLimits.Register = ratelimit.Rate{N: 1, Per: time.Hour} }
		reg := func(r *relay, h map[string]string) answer {
			return send(t, http.MethodPost, r.URL+"/auth/register", nil, h)
		}
		const text = "Too many registration attempts. Try again later."

		direct := newRelay(t, one)
		checkRegistered(t, reg(direct, map[string]string{"X-Forwarded-For": "203.0.113.1"}))
		expectRateLimited(t, reg(direct, map[string]string{"X-Forwarded-For": "203.0.113.2", "X-Real-IP": "203.0.113.3"}), text, 3600)

		proxied := newRelay(t, one, func(c *app.Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
		})
		checkRegistered(t, reg(proxied, map[string]string{"X-Forwarded-For": "203.0.113.1"}))
		checkRegistered(t, reg(proxied, map[string]string{"X-Forwarded-For": "203.0.113.1, 203.0.113.2, 10.1.2.3"}))
		expectRateLimited(t, reg(proxied, map[string]string{"X-Forwarded-For": "198.51.100.9, 203.0.113.2"}), text, 3600)
		checkRegistered(t, reg(proxied, map[string]string{"X-Real-IP": "203.0.113.4"}))
		expectRateLimited(t, reg(proxied, map[string]string{"X-Real-IP": "203.0.113.4"}), text, 3600)
		// No header, or an unparseable one: the peer (127.0.0.1).
		checkRegistered(t, reg(proxied, nil))
		expectRateLimited(t, reg(proxied, map[string]string{"X-Forwarded-For": "unknown"}), text, 3600)
	})

	t.Run("messages", func(t *testing.T) {
		t.Parallel()
		r := newRelay(t, func(c *app.Config) { c.RateLimits.Messages = two(time.Minute) })
		h, other := newHook(t, r, `{}`), newHook(t, r, `{}`)
		poll(t, h, "")
		expectError(t, signedSend(t, h.c, http.MethodGet, "/messages?since=bad", nil), http.StatusBadRequest, "Invalid since parameter")
		expectRateLimited(t, signedSend(t, h.c, http.MethodGet, "/messages", nil), "Too many poll requests. Try again later.", 30)
		// Per user; and an unauthenticated poll takes nothing from anyone.
		expectUnauthorized(t, send(t, http.MethodGet, r.URL+"/messages", nil, map[string]string{"Authorization": "Bearer " + other.c.APIKey}))
		poll(t, other, "")
		poll(t, other, "")
		// Unlimited routes still answer.
		if n := len(channelList(t, h.c)); n != 1 {
			t.Errorf("%d channels", n)
		}
		accepted(t, hook(t, h.url, "text/plain", []byte("hi"), nil))
	})

	t.Run("reply", func(t *testing.T) {
		t.Parallel()
		r := newRelay(t, func(c *app.Config) { c.RateLimits.Reply = two(time.Minute) })
		h := newHook(t, r, `{}`)
		expectError(t, replyRaw(t, h.c, `{`), http.StatusBadRequest, "Invalid JSON body")
		replied(t, replyRaw(t, h.c, `{"channelId":"`+h.id+`","content":"one"}`))
		expectRateLimited(t, replyRaw(t, h.c, `{"channelId":"`+h.id+`","content":"two"}`), "Too many reply requests. Try again later.", 30)
		if p, _ := responsesOf(t, r, h.id, ""); len(p.Responses) != 1 {
			t.Errorf("%d responses, want 1", len(p.Responses))
		}
		expect(t, signedSend(t, h.c, http.MethodPost, "/typing", []byte(`{"channelId":"`+h.id+`"}`)), http.StatusOK, `{"ok":true}`)
	})

	t.Run("channels", func(t *testing.T) {
		t.Parallel()
		r := newRelay(t, func(c *app.Config) { c.RateLimits.Channels = two(time.Hour) })
		c := r.register(t, true)
		expectError(t, createChannel(t, c, `{"type":"sms"}`), http.StatusBadRequest, "Invalid channel type")
		id := mustCreate(t, c, `{}`).id
		for _, body := range []string{`{}`, `{`} {
			expectRateLimited(t, createChannel(t, c, body), "Too many channel registration requests. Try again later.", 1800)
		}
		if n := len(channelList(t, c)); n != 1 {
			t.Errorf("%d channels, want 1", n)
		}
		expect(t, patchChannel(t, c, id, `{}`), http.StatusOK, `{"ok":true,"channel":`+string(channelList(t, c)[0])+`}`)
		expect(t, signedSend(t, c, http.MethodDelete, "/channels/"+id, nil), http.StatusOK, `{"ok":true}`)
		// Another user has a bucket of its own.
		mustCreate(t, r.register(t, false), `{}`)
	})
}

// expectRateLimited checks a 429 with the route's text and a Retry-After of
// whole seconds between 1 and max (§8).
func expectRateLimited(t *testing.T, a answer, text string, max int) {
	t.Helper()
	expectError(t, a, http.StatusTooManyRequests, text)
	if n, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || n < 1 || n > max {
		t.Errorf("Retry-After %q, want 1..%d", a.header.Get("Retry-After"), max)
	}
}
