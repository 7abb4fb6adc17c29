package server_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

// onNATS runs a relay on the given nats-server, whatever RELAY_TEST_STORE says.
func onNATS(srv *natstest.Server) func(*app.Config) {
	return func(c *app.Config) { c.Store.NATS.URL = srv.URL() }
}

// health reads /health: its status code and "status" member.
func health(t *testing.T, r *relay) (int, string) {
	t.Helper()
	a := send(t, http.MethodGet, r.URL+"/health", nil, nil)
	var h struct{ Status, Storage string }
	decode(t, a, &h)
	if h.Storage != "nats" {
		t.Fatalf("health %s: want storage nats", a.body)
	}
	return a.status, h.Status
}

// waitHealth waits until /health answers code.
func waitHealth(t *testing.T, r *relay, code int) {
	t.Helper()
	waitFor(t, "/health "+http.StatusText(code), func() bool {
		got, _ := health(t, r)
		return got == code
	})
}

// A relay whose NATS is not reachable at start starts all the same, answers
// 503 on /health and on writes, and serves once NATS is up.
func TestNATSUnreachableAtStart(t *testing.T) {
	srv := natstest.NotStarted(t)
	r := newRelay(t, onNATS(srv))
	if code, status := health(t, r); code != http.StatusServiceUnavailable || status != "unavailable" {
		t.Fatalf("health before NATS: %d %q, want 503 unavailable", code, status)
	}
	a := send(t, http.MethodPost, r.URL+"/auth/register", []byte(`{}`), map[string]string{"Content-Type": "application/json"})
	expectError(t, a, http.StatusServiceUnavailable, "Registration temporarily unavailable (storage error). Please retry.")

	srv.Restart()
	waitHealth(t, r, http.StatusOK)
	c := r.register(t, false)
	_, hookURL := webhookChannel(t, c, client.NewChannel{Type: "webhook"})
	postN(t, hookURL, 1, "after start ")
	if got := messages(t, c); len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
}

// While NATS is down, writes answer 503 and store nothing; an open socket
// stays open and, once NATS is back, receives what arrives after.
func TestNATSOutageKeepsSocketsAndLosesNothing(t *testing.T) {
	srv := natstest.Start(t)
	r := newRelay(t, onNATS(srv))
	c := r.register(t, false)
	_, hookURL := webhookChannel(t, c, client.NewChannel{Type: "webhook"})
	conn := r.dialWS(t, c, "", nil)
	before := postN(t, hookURL, 2, "before ")
	got := readMessages(t, conn, 2)

	srv.Stop()
	waitHealth(t, r, http.StatusServiceUnavailable)
	a := hook(t, hookURL, "text/plain", []byte("during the outage"), nil)
	expectError(t, a, http.StatusServiceUnavailable, "Storage unavailable. Please retry.")

	srv.Restart()
	waitHealth(t, r, http.StatusOK)
	after := postN(t, hookURL, 2, "after ")
	got = append(got, readMessages(t, conn, 2)...)
	want := append(before, after...)
	for i, m := range got {
		if m.ID != want[i] || strings.Contains(m.Content, "during") {
			t.Fatalf("socket message %d: %s %q, want %s", i, m.ID, m.Content, want[i])
		}
	}
	stored := messages(t, c)
	if len(stored) != 4 {
		t.Fatalf("%d messages stored, want 4 (none of the refused one)", len(stored))
	}
}

// Every body the relay accepts on bbolt it accepts on JetStream: the
// largest webhook (the default body limit, stored with its metadata) fits a
// nats-server with the documented max_payload of 2 MB.
func TestNATSLargestBody(t *testing.T) {
	srv := natstest.Start(t, natstest.MaxPayload(2<<20))
	r := newRelay(t, onNATS(srv))
	c := r.register(t, false)
	_, hookURL := webhookChannel(t, c, client.NewChannel{Type: "webhook"})
	limit := int(app.DefaultConfig().MaxBodyBytes)
	text := bytes.Repeat([]byte("a"), limit)
	object := []byte(`{"k":"` + strings.Repeat("b", limit-8) + `"}`)
	for _, body := range []struct{ typ, content string }{{"text/plain", string(text)}, {"application/json", string(object)}} {
		if _, err := client.PostWebhook(bg, nil, hookURL, body.typ, []byte(body.content)); err != nil {
			t.Fatalf("a %s webhook of the largest body: %v", body.typ, err)
		}
	}
	if got := messages(t, c); len(got) != 2 || !strings.HasPrefix(got[0].Content, "aaaa") || !strings.HasPrefix(got[1].Content, `{"k":"bbbb`) {
		t.Fatalf("stored %d messages: %.40q, %.40q", len(got), got[0].Content, got[len(got)-1].Content)
	}
}

// A nats-server whose max_payload is below the largest record (NATS's
// default of 1 MB) is refused at start, with what to set.
func TestNATSSmallMaxPayloadIsRefused(t *testing.T) {
	srv := natstest.Start(t, natstest.MaxPayload(1<<20))
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.Store.DataDir = t.TempDir()
	onNATS(srv)(&cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(bg, cfg, app.Options{Log: slog.New(slog.DiscardHandler), Listener: ln, RootKey: key})
	if err == nil || !strings.Contains(err.Error(), "max_payload") || !strings.Contains(err.Error(), "2MB") {
		t.Fatalf("app.New on a server with max_payload 1 MB: %v, want a refusal naming max_payload", err)
	}
}
