package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/channels/discord"
	"github.com/chaos-relay/relay/channels/email"
	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/bolt"
	"github.com/chaos-relay/relay/storage/seal"
)

const testKey = "correct horse battery staple"

// t0 is the tests' start time: the store stamps messages with it, and the
// handler measures sessions and queries with it.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// clock is a settable time source shared by the store and the handler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeRelay is the running relay as the admin sees it. Its actions work on
// the real store, as the relay's do.
type fakeRelay struct {
	store  storage.Store
	now    func() time.Time
	origin string // "" = http://<Host of the request>

	mu         sync.Mutex
	ws         map[string]int
	mcp        map[string][2]int // user → MCP sessions, calls in the last hour
	gateways   map[string]string
	loginLimit time.Duration // > 0: AllowLogin refuses with this wait
	logins     []string      // client IPs that AllowLogin saw
	deleted    []string
	retried    []string
	ops        fakeOps // the operator views (ops_helpers_test.go)
	nodes      []Node  // nil: a single relay
}

var _ Relay = (*fakeRelay)(nil)

func (f *fakeRelay) Version() string       { return "1.0.0" }
func (f *fakeRelay) Uptime() time.Duration { return 123*time.Second + 400*time.Millisecond }

func (f *fakeRelay) WebSockets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.ws {
		n += c
	}
	return n
}

func (f *fakeRelay) UserWebSockets(userID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ws[userID]
}

func (f *fakeRelay) UserMCP(userID string) (sessions, callsLastHour int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.mcp[userID]
	return m[0], m[1]
}

// SessionState and Badge answer as the relay does, with the real platforms'
// descriptions and the gateway states a test sets.
func (f *fakeRelay) SessionState(ch storage.Channel) (string, bool) {
	if ch.Type != storage.TypeDiscord {
		return "", false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gateways[ch.ID], true
}

func (f *fakeRelay) Badge(ch storage.Channel) (string, []string) {
	switch ch.Type {
	case storage.TypeTelegram:
		return channels.BotDescription(ch)
	case storage.TypeDiscord:
		label, details := channels.BotDescription(ch)
		state, _ := f.SessionState(ch)
		if state == "" {
			state = "disconnected"
		}
		return label, append(details, "gateway "+state)
	case storage.TypeEmail:
		return emailPlatform.Badge(ch)
	}
	return "", nil
}

// emailPlatform describes email channels for the fake relay, and
// discordPlatform names its channels' gateway leases.
var (
	emailPlatform   = email.New(email.Config{}, nil)
	discordPlatform = discord.New(discord.Config{}, nil)
)

func (f *fakeRelay) Nodes() []Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.nodes)
}

// SessionLeases answers as the relay does: Discord's leases for the
// Discord channels in the store.
func (f *fakeRelay) SessionLeases(ctx context.Context) (map[string]storage.Channel, error) {
	chans, err := f.store.ChannelsOfType(ctx, storage.TypeDiscord)
	if err != nil {
		return nil, err
	}
	out := map[string]storage.Channel{}
	for lease, id := range discordPlatform.SessionLeases(chans) {
		for _, ch := range chans {
			if ch.ID == id {
				out[lease] = ch
			}
		}
	}
	return out, nil
}

func (f *fakeRelay) DeleteSession(ctx context.Context, userID string) error {
	if _, err := f.store.DeleteUser(ctx, userID); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, userID)
	delete(f.ws, userID)
	return nil
}

func (f *fakeRelay) RetryDelivery(ctx context.Context, responseID string) error {
	_, err := f.store.UpdateDelivery(ctx, responseID, func(d *storage.Delivery) error {
		if d.Status != storage.StatusFailed {
			return errors.New("not failed")
		}
		d.Status, d.LastError, d.NextAttemptAt, d.UpdatedAt = storage.StatusPending, "", f.now(), f.now()
		return nil
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retried = append(f.retried, responseID)
	return nil
}

// calls returns a copy of one of the recorded lists, under the lock (the
// server side records them on its own goroutines).
func (f *fakeRelay) calls(list *[]string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), (*list)...)
}

func (f *fakeRelay) AllowLogin(clientIP string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins = append(f.logins, clientIP)
	if f.loginLimit > 0 {
		return f.loginLimit, false
	}
	return 0, true
}

func (f *fakeRelay) ClientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return host
}

func (f *fakeRelay) PublicOrigin(r *http.Request) string {
	if f.origin != "" {
		return f.origin
	}
	return "http://" + r.Host
}

// env is a handler on a real bbolt store, mounted on a real Echo.
type env struct {
	store *bolt.Store
	clock *clock
	relay *fakeRelay
	h     *Handler
	e     *echo.Echo
}

type envOption func(*Config, *fakeRelay)

func withKey(key string) envOption { return func(c *Config, _ *fakeRelay) { c.Key = key } }

func withOrigin(origin string) envOption {
	return func(_ *Config, r *fakeRelay) { r.origin = origin }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	key, err := seal.GenerateRootKey()
	must(t, err)
	clk := &clock{t: t0}
	st, err := bolt.Open(t.TempDir(), bolt.Options{RootKey: key, Now: clk.Now})
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	relay := &fakeRelay{store: st, now: clk.Now, ws: map[string]int{}, gateways: map[string]string{}}
	cfg := Config{Key: testKey, Now: clk.Now}
	for _, o := range opts {
		o(&cfg, relay)
	}
	h := New(cfg, st, relay, slog.New(slog.DiscardHandler))
	return &env{store: st, clock: clk, relay: relay, h: h, e: newEcho(h)}
}

// newEcho mounts h as the server does, with an error handler equivalent to
// the server's for what the admin returns.
func newEcho(h *Handler) *echo.Echo {
	e := echo.NewWithConfig(echo.Config{
		Logger:           slog.New(slog.DiscardHandler),
		HTTPErrorHandler: testErrorHandler,
		Router:           echo.NewRouter(echo.RouterConfig{AutoHandleHEAD: true}),
	})
	h.Register(e)
	return e
}

func testErrorHandler(c *echo.Context, err error) {
	if resp, uerr := echo.UnwrapResponse(c.Response()); uerr == nil && resp.Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Internal server error"
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he) && he.Code < 500:
		status, msg = he.Code, he.Message
	case echo.StatusCode(err) == http.StatusNotFound:
		status, msg = http.StatusNotFound, "Not found"
	case echo.StatusCode(err) == http.StatusMethodNotAllowed:
		status, msg = http.StatusMethodNotAllowed, "Method not allowed"
	}
	b, _ := rawjson.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	c.Response().Header().Set("Content-Type", "application/json")
	c.Response().WriteHeader(status)
	_, _ = c.Response().Write(b)
}

// req is one request: method, path, body, and headers as "Name: value".
func (v *env) req(method, path, body string, headers ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		r.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return r
}

func (v *env) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	v.e.ServeHTTP(rec, r)
	return rec
}

// do serves one request without a session.
func (v *env) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	return v.serve(v.req(method, path, body, headers...))
}

// as serves one request with the session cookie.
func (v *env) as(cookie, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	return v.serve(v.req(method, path, body, append(headers, "Cookie: "+cookieName+"="+cookie)...))
}

// login logs in with JSON and returns the session token.
func (v *env) login(t *testing.T) string {
	t.Helper()
	rec := v.do("POST", "/admin/login", `{"password":"`+testKey+`"}`, "Content-Type: application/json")
	equal(t, "login status", rec.Code, http.StatusOK)
	ck := findCookie(rec, cookieName)
	if ck == nil || ck.Value == "" {
		t.Fatalf("login set no session cookie: %q", rec.Header().Values("Set-Cookie"))
	}
	return ck.Value
}

func findCookie(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// wantError checks a JSON error answer.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	equal(t, "status", rec.Code, status)
	equal(t, "content type", rec.Header().Get("Content-Type"), "application/json")
	equal(t, "body", rec.Body.String(), `{"error":"`+msg+`"}`)
}

// decode parses a JSON answer into v.
func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	equal(t, "content type", rec.Header().Get("Content-Type"), "application/json")
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func contains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%s: %q does not contain %q", what, s, sub)
	}
}

func notContains(t *testing.T, what, s, sub string) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Fatalf("%s: %q contains %q", what, s, sub)
	}
}

// ---- seeding through the store's own methods ----

var ctx = context.Background()

func addUser(t *testing.T, s storage.Store, id string, created time.Time, key *storage.PublicKey) storage.User {
	t.Helper()
	u := storage.User{ID: id, CreatedAt: created, PublicKey: key}
	_, _, err := s.RegisterUser(ctx, u, []byte("apikey-hash-"+id))
	must(t, err)
	return u
}

func addChannel(t *testing.T, s storage.Store, c storage.Channel, secrets map[string][]byte) storage.Channel {
	t.Helper()
	if c.Direction == "" {
		c.Direction = storage.DirectionBidirectional
	}
	if c.Metadata == nil {
		c.Metadata = json.RawMessage(`{}`)
	}
	must(t, s.CreateChannel(ctx, &c, secrets))
	return c
}

func addMessage(t *testing.T, s storage.Store, userID, channelID, channelType, from, content string) storage.Message {
	t.Helper()
	m := storage.Message{UserID: userID, ChannelType: channelType, ChannelID: channelID, From: from, Content: content,
		Metadata: json.RawMessage(`{}`)}
	must(t, s.AppendMessage(ctx, &m, storage.AppendOptions{}))
	return m
}

func addResponse(t *testing.T, s storage.Store, userID, channelID, content string, d storage.Delivery) storage.Response {
	t.Helper()
	r := storage.Response{UserID: userID, ChannelID: channelID, From: "agent", Content: content, Metadata: json.RawMessage(`{}`)}
	_, err := s.AppendResponse(ctx, &r, func(v storage.ChannelView) (storage.Delivery, error) {
		d.UserID, d.ChannelID, d.ChannelType = v.Channel.UserID, v.Channel.ID, v.Channel.Type
		return d, nil
	})
	must(t, err)
	return r
}
