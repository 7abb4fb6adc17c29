package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

// relay is a relay under test: started in-process on a temporary database, or
// the one at RELAY_URL (black-box runs against any relay). In-process relays
// keep their records in bbolt, or with RELAY_TEST_STORE=nats in JetStream
// on an in-process nats-server of their own (make test runs both).
type relay struct {
	URL string
	key *seal.RootKey
	cfg app.Config

	stop func() // stops an in-process relay and closes its store; nil for RELAY_URL

	store   storage.Store              // the in-process relay's store, for white-box setup
	app     *app.Relay                 // the in-process relay
	senders map[string]channels.Sender // reply senders by channel type, replacing the platforms'
	now     func() time.Time           // the relay's clock (nil: time.Now)
}

// newRelay returns the relay under test. Tests that need their own
// configuration (mutate) run only in-process and skip under RELAY_URL.
func newRelay(t *testing.T, mutate ...func(*app.Config)) *relay {
	t.Helper()
	if u := os.Getenv("RELAY_URL"); u != "" {
		if len(mutate) > 0 {
			t.Skip("needs its own relay configuration; skipped under RELAY_URL")
		}
		return &relay{URL: strings.TrimRight(u, "/")}
	}
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.Store.DataDir = t.TempDir()
	if testStore() == "nats" {
		cfg.Store.NATS.URL = natstest.Start(t).URL()
	}
	for _, m := range mutate {
		m(&cfg)
	}
	r := &relay{key: key, cfg: cfg}
	r.start(t)
	return r
}

// start runs the relay on its data directory and key, as cmd/relay does.
func (r *relay) start(t *testing.T) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	addr := "127.0.0.1:0"
	if r.URL != "" {
		addr = strings.TrimPrefix(r.URL, "http://") // a restart keeps the address
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rl, err := app.New(ctx, r.cfg, app.Options{Log: log, Version: "test", Listener: ln, RootKey: r.key, Senders: r.senders, Now: r.now})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r.store, r.app = rl.Store(), rl
	r.URL = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- rl.Run(ctx) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay run: %v", err)
		}
	}
	t.Cleanup(r.stop)
}

// testStore is the store engine of this run's in-process relays, as /health
// names it.
func testStore() string {
	if os.Getenv("RELAY_TEST_STORE") == "nats" {
		return "nats"
	}
	return "bolt"
}

// restart stops the relay and starts it again on the same file and key.
func (r *relay) restart(t *testing.T) {
	t.Helper()
	r.stop()
	// Pooled keep-alive connections to the old process are dead; a POST over
	// one would fail rather than be retried.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	r.start(t)
}

var bg = context.Background()

// register creates a session: signed when signed is true.
func (r *relay) register(t *testing.T, signed bool) *client.Client {
	t.Helper()
	var key *ecdsa.PrivateKey
	if signed {
		k, err := client.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	c, err := client.Register(bg, r.URL, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// webhookChannel creates a webhook channel for c and returns its id and URL.
func webhookChannel(t *testing.T, c *client.Client, nc client.NewChannel) (client.Channel, string) {
	t.Helper()
	ch, url, err := c.CreateChannel(bg, nc)
	if err != nil {
		t.Fatal(err)
	}
	return ch, url
}

// answer is a raw HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
}

// send performs a raw request (no client library), for exact status and body checks.
func send(t *testing.T, method, url string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(bg, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// signedSend sends a request through the client's signer.
func signedSend(t *testing.T, c *client.Client, method, path string, body []byte) answer {
	t.Helper()
	req, err := c.NewRequest(bg, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// expect checks an answer's status and exact body (a trailing newline is
// allowed), and the headers every answer carries.
func expect(t *testing.T, a answer, status int, body string) {
	t.Helper()
	if a.status != status || strings.TrimSuffix(a.body, "\n") != body {
		t.Fatalf("got %d %s, want %d %s", a.status, strings.TrimSpace(a.body), status, body)
	}
	checkCommon(t, a)
}

// checkCommon checks the headers of every HTTP answer (PROTOCOL §1.7, §1.10)
// and, for a JSON body, its exact Content-Type (§1.3).
func checkCommon(t *testing.T, a answer) {
	t.Helper()
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type, Authorization, X-Timestamp, X-Nonce, X-Signature, X-Webhook-Token, X-Webhook-Source, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID",
		"X-Content-Type-Options":       "nosniff",
	} {
		if got := a.header.Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	if v, ok := a.header["Access-Control-Allow-Credentials"]; ok {
		t.Errorf("Access-Control-Allow-Credentials: %q, want none", v)
	}
	if strings.HasPrefix(a.body, "{") {
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
	}
}

// expectError checks a status and an {"error":…} body.
func expectError(t *testing.T, a answer, status int, msg string) {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the relay does not escape <, > or & (§1.3)
	_ = enc.Encode(map[string]string{"error": msg})
	expect(t, a, status, strings.TrimSuffix(b.String(), "\n"))
}

// decode parses an answer's JSON body into v.
func decode(t *testing.T, a answer, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(a.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", a.body, err)
	}
}

// messages polls every message of c from the beginning.
func messages(t *testing.T, c *client.Client) []client.Message {
	t.Helper()
	all, err := allMessages(c)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// allMessages is messages, which may fail.
func allMessages(c *client.Client) ([]client.Message, error) {
	var all []client.Message
	for since := ""; ; {
		page, err := c.Messages(bg, since, 500)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Messages...)
		since = page.Since
		if !page.HasMore {
			return all, nil
		}
	}
}

// apiError returns err as a *client.Error or fails.
func apiError(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a relay error, got %v", err)
	}
	return e
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 10*time.Second, what, cond)
}

// waitWithin polls cond until it holds or d passes.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// uniqueID is a caller-chosen channel id that no other test (or earlier run
// against the same RELAY_URL) uses.
func uniqueID(prefix string) string { return prefix + "-" + rand.Text() }

// members returns the member names of a JSON object in the order sent.
func members(t *testing.T, raw string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("members of %s: %v", raw, err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("members of %s: %v", raw, err)
		}
	}
	return names
}

// rawPage is a page of /messages or /responses with its items kept raw, for
// exact comparisons of bytes and member order.
type rawPage struct {
	Messages  []json.RawMessage `json:"messages"`
	Responses []json.RawMessage `json:"responses"`
	Since     string            `json:"since"`
	HasMore   bool              `json:"hasMore"`
}

// rawMessages polls every message of c from the beginning, each as sent.
func rawMessages(t *testing.T, c *client.Client) []json.RawMessage {
	t.Helper()
	var all []json.RawMessage
	path := "/messages?limit=500"
	for {
		a := signedSend(t, c, http.MethodGet, path, nil)
		if a.status != http.StatusOK {
			t.Fatalf("poll: %d %s", a.status, a.body)
		}
		var p rawPage
		decode(t, a, &p)
		all = append(all, p.Messages...)
		if !p.HasMore {
			return all
		}
		path = "/messages?limit=500&since=" + url.QueryEscape(p.Since)
	}
}

// noMessages checks that c has no stored message.
func noMessages(t *testing.T, c *client.Client) {
	t.Helper()
	if n := len(rawMessages(t, c)); n != 0 {
		t.Fatalf("%d messages stored, want none", n)
	}
}

// hook posts a webhook body with a content type ("" sends none) and extra headers.
func hook(t *testing.T, target, contentType string, body []byte, header map[string]string) answer {
	t.Helper()
	h := map[string]string{}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	for k, v := range header {
		h[k] = v
	}
	return send(t, http.MethodPost, target, body, h)
}
