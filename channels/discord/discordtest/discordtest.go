// Package discordtest is a fake Discord for tests of the discord adapter and of the relay end to
// end: a REST API (users/@me, applications/@me, create message, typing, gateway lookup) and a
// gateway WebSocket that performs HELLO, IDENTIFY/READY and RESUME/RESUMED, answers heartbeats and
// dispatches MESSAGE_CREATE events on demand. Failures can be programmed per route, connections
// dropped or closed with a gateway close code.
//
// discordgo's endpoints are process-global, so a test binary should run one fake (NewServer in
// TestMain, or New in a single test) and isolate tests by bot token.
package discordtest

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/gorilla/websocket"
)

// APIPath is the path of the REST base under the fake's root, as Discord's.
const APIPath = "/api/v10"

// HeartbeatInterval is the heartbeat interval HELLO announces, in milliseconds.
const HeartbeatInterval = 41250

// MaxContent is the longest message content the fake accepts, in UTF-16 units, as Discord.
const MaxContent = 2000

// IntentMessageContent is the privileged MESSAGE_CONTENT intent bit.
const IntentMessageContent = 1 << 15

// Routes for FailNext.
const (
	RouteUser        = "GET /users/@me"
	RouteApplication = "GET /applications/@me"
	RouteMessages    = "POST /channels/{id}/messages"
	RouteTyping      = "POST /channels/{id}/typing"
	RouteGateway     = "GET /gateway"
)

// Bot is a bot the fake knows, by token.
type Bot struct {
	UserID        string
	Username      string
	ApplicationID string
	VerifyKey     string // hex; "" makes /applications/@me answer without verify_key
	// NoMessageContent makes an IDENTIFY asking for MESSAGE_CONTENT fail with 4014, as when the
	// intent is not enabled in the developer portal.
	NoMessageContent bool
}

// SentMessage is a create-message call the fake accepted.
type SentMessage struct {
	Token           string
	ChannelID       string
	Content         string
	AllowedMentions json.RawMessage // as sent; nil when absent
}

// MessageCreate describes a MESSAGE_CREATE event to dispatch.
type MessageCreate struct {
	ID, ChannelID, GuildID, Content string
	AuthorID, AuthorName            string
	AuthorBot                       bool
	Edited                          bool
	Mentions                        []string // user ids
}

// Server is the fake Discord. Its methods are safe for concurrent use.
type Server struct {
	// URL is the REST base to configure as RELAY_DISCORD_API_URL (no trailing slash).
	URL string
	// GatewayURL is the WebSocket URL GET /gateway answers.
	GatewayURL string

	srv *httptest.Server
	up  websocket.Upgrader
	wg  sync.WaitGroup // connection goroutines

	mu         sync.Mutex
	bots       map[string]Bot
	sent       []SentMessage
	typing     []string
	fail       map[string][]answer
	conns      map[*conn]bool
	sticky     map[string]int // token → close code every IDENTIFY/RESUME gets
	identifies map[string]int
	resumes    map[string]int
	intents    map[string]int
	most       map[string]int    // token → the most connections it had at once
	sessions   map[string]string // session id → token
	nextID     int64
	changed    chan struct{} // closed and replaced on every connection change
	closed     bool
}

type answer struct {
	status int
	body   string
}

// conn is one gateway connection.
type conn struct {
	ws    *websocket.Conn
	wmu   sync.Mutex
	token string // set once identified or resumed
	seq   int64
}

// New starts a fake Discord that is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake Discord; the caller must Close it (for TestMain).
func NewServer() *Server {
	s := &Server{
		bots:       make(map[string]Bot),
		fail:       make(map[string][]answer),
		conns:      make(map[*conn]bool),
		sticky:     make(map[string]int),
		identifies: make(map[string]int),
		resumes:    make(map[string]int),
		intents:    make(map[string]int),
		most:       make(map[string]int),
		sessions:   make(map[string]string),
		changed:    make(chan struct{}),
		up:         websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL + APIPath
	s.GatewayURL = "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway-ws"
	return s
}

// Close closes every gateway connection, waits for their goroutines and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		c.ws.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.srv.Close()
}

// AddBot makes token valid for b.
func (s *Server) AddBot(token string, b Bot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bots[token] = b
	delete(s.sticky, token)
}

// FailNext makes the next n requests to route (one of the Route constants) answer status with
// body. An empty body becomes {"message":"<status text>","code":0}, or for 429 Discord's
// {"message":"You are being rate limited.","retry_after":0.3,"global":false}; a 429 body's
// retry_after also sets the Retry-After header, rounded up, as Discord does.
func (s *Server) FailNext(route string, n, status int, body string) {
	if body == "" {
		body = fmt.Sprintf(`{"message":%q,"code":0}`, http.StatusText(status))
		if status == http.StatusTooManyRequests {
			body = `{"message":"You are being rate limited.","retry_after":0.3,"global":false}`
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail[route] = append(s.fail[route], answer{status, body})
	}
}

// Sent returns the accepted create-message calls, in order.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// Typings returns the channel ids of accepted typing calls, in order.
func (s *Server) Typings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.typing...)
}

// Connections returns how many gateway connections of token are identified or resumed.
func (s *Server) Connections(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.token == token {
			n++
		}
	}
	return n
}

// MostConnections returns the most gateway connections token has had
// identified or resumed at once: more than one means Discord would deliver
// each of its events twice.
func (s *Server) MostConnections(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.most[token]
}

// connected records that c is now token's. Lock must be held.
func (s *Server) connected(c *conn, token string) {
	c.token = token
	n := 0
	for other := range s.conns {
		if other.token == token {
			n++
		}
	}
	s.most[token] = max(s.most[token], n)
	s.notify()
}

// Identifies returns how many IDENTIFY frames arrived for token (valid or not).
func (s *Server) Identifies(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.identifies[token]
}

// Resumes returns how many RESUME frames arrived for token.
func (s *Server) Resumes(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumes[token]
}

// Intents returns the intents of token's latest IDENTIFY, or -1.
func (s *Server) Intents(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.intents[token]; ok {
		return v
	}
	return -1
}

// WaitFor waits until cond holds, re-checking on every gateway connection change, and fails the
// test after 10 s.
func (s *Server) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("discordtest: timed out waiting for %s", what)
		}
	}
}

// WaitConnected waits until token has an identified or resumed gateway connection.
func (s *Server) WaitConnected(t testing.TB, token string) {
	t.Helper()
	s.WaitFor(t, "a gateway connection", func() bool { return s.Connections(token) > 0 })
}

// WaitDisconnected waits until token has no gateway connection.
func (s *Server) WaitDisconnected(t testing.TB, token string) {
	t.Helper()
	s.WaitFor(t, "no gateway connection", func() bool { return s.Connections(token) == 0 })
}

// Dispatch sends a MESSAGE_CREATE for m to every gateway connection of token and returns how many
// connections it was sent to.
func (s *Server) Dispatch(token string, m MessageCreate) int {
	s.mu.Lock()
	var targets []*conn
	for c := range s.conns {
		if c.token == token {
			targets = append(targets, c)
		}
	}
	if m.ID == "" {
		s.nextID++
		m.ID = strconv.FormatInt(900000000000000000+s.nextID, 10)
	}
	s.mu.Unlock()
	d := map[string]any{
		"id":               m.ID,
		"channel_id":       m.ChannelID,
		"content":          m.Content,
		"author":           map[string]any{"id": m.AuthorID, "username": m.AuthorName, "bot": m.AuthorBot},
		"timestamp":        time.Now().UTC().Format(time.RFC3339Nano),
		"edited_timestamp": nil,
		"mentions":         []any{},
		"type":             0,
	}
	if m.GuildID != "" {
		d["guild_id"] = m.GuildID
	}
	if m.Edited {
		d["edited_timestamp"] = time.Now().UTC().Format(time.RFC3339Nano)
	}
	mentions := []any{}
	for _, id := range m.Mentions {
		mentions = append(mentions, map[string]any{"id": id, "username": "user" + id})
	}
	d["mentions"] = mentions
	n := 0
	for _, c := range targets {
		if c.dispatch("MESSAGE_CREATE", d) == nil {
			n++
		}
	}
	return n
}

// Drop closes token's gateway connections abruptly, without a close frame.
func (s *Server) Drop(token string) {
	for _, c := range s.connsOf(token) {
		c.ws.Close()
	}
}

// CloseWith closes token's gateway connections with a close frame carrying code. For the codes
// after which Discord does not allow a reconnect (4004, 4010–4014), later IDENTIFY and RESUME
// frames of token are closed with the same code, until AddBot is called again.
func (s *Server) CloseWith(token string, code int) {
	if code == 4004 || (code >= 4010 && code <= 4014) {
		s.mu.Lock()
		s.sticky[token] = code
		s.mu.Unlock()
	}
	for _, c := range s.connsOf(token) {
		c.close(code)
	}
}

func (s *Server) connsOf(token string) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for c := range s.conns {
		if c.token == token {
			out = append(out, c)
		}
	}
	return out
}

// notify wakes WaitFor callers. Lock must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serveHTTP routes REST calls and upgrades gateway connections on any path.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		s.serveGateway(w, r)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, APIPath)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
		return
	}
	switch {
	case r.Method == http.MethodGet && (path == "/gateway" || path == "/gateway/bot"):
		if s.failed(w, RouteGateway) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"url": s.GatewayURL, "shards": 1,
			"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
	case r.Method == http.MethodGet && path == "/users/@me":
		s.serveUser(w, r)
	case r.Method == http.MethodGet && path == "/applications/@me":
		s.serveApplication(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/channels/") && strings.HasSuffix(path, "/messages"):
		s.serveMessage(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/channels/"), "/messages"))
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/channels/") && strings.HasSuffix(path, "/typing"):
		s.serveTyping(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/channels/"), "/typing"))
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
	}
}

// failed answers a programmed failure of route, if one is queued.
func (s *Server) failed(w http.ResponseWriter, route string) bool {
	s.mu.Lock()
	q := s.fail[route]
	if len(q) == 0 {
		s.mu.Unlock()
		return false
	}
	a := q[0]
	s.fail[route] = q[1:]
	s.mu.Unlock()
	if a.status == http.StatusTooManyRequests {
		var v struct {
			RetryAfter float64 `json:"retry_after"`
		}
		if json.Unmarshal([]byte(a.body), &v) == nil && v.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(v.RetryAfter))))
		}
	}
	if json.Valid([]byte(a.body)) {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/html")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
	return true
}

// auth returns the bot of the request's "Authorization: Bot <token>", or answers 401.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (string, Bot, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bot ")
	s.mu.Lock()
	b, known := s.bots[token]
	s.mu.Unlock()
	if !ok || !known {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
		return "", Bot{}, false
	}
	return token, b, true
}

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request) {
	if s.failed(w, RouteUser) {
		return
	}
	_, b, ok := s.auth(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": b.UserID, "username": b.Username, "discriminator": "0", "bot": true})
}

func (s *Server) serveApplication(w http.ResponseWriter, r *http.Request) {
	if s.failed(w, RouteApplication) {
		return
	}
	_, b, ok := s.auth(w, r)
	if !ok {
		return
	}
	app := map[string]any{"id": b.ApplicationID, "name": b.Username, "bot_public": true}
	if b.VerifyKey != "" {
		app["verify_key"] = b.VerifyKey
	}
	writeJSON(w, http.StatusOK, app)
}

func (s *Server) serveMessage(w http.ResponseWriter, r *http.Request, channelID string) {
	if s.failed(w, RouteMessages) {
		return
	}
	token, b, ok := s.auth(w, r)
	if !ok {
		return
	}
	var req struct {
		Content         *string         `json:"content"`
		AllowedMentions json.RawMessage `json:"allowed_mentions"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if json.Unmarshal(raw, &req) != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "400: Bad Request", "code": 50109})
		return
	}
	switch {
	case req.Content == nil || *req.Content == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Cannot send an empty message", "code": 50006})
		return
	case len(utf16.Encode([]rune(*req.Content))) > MaxContent:
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid Form Body", "code": 50035})
		return
	}
	s.mu.Lock()
	s.sent = append(s.sent, SentMessage{Token: token, ChannelID: channelID, Content: *req.Content, AllowedMentions: req.AllowedMentions})
	s.nextID++
	id := strconv.FormatInt(800000000000000000+s.nextID, 10)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "channel_id": channelID, "content": *req.Content, "type": 0,
		"author":    map[string]any{"id": b.UserID, "username": b.Username, "bot": true},
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "edited_timestamp": nil,
		"mentions": []any{}, "attachments": []any{}, "embeds": []any{},
	})
}

func (s *Server) serveTyping(w http.ResponseWriter, r *http.Request, channelID string) {
	if s.failed(w, RouteTyping) {
		return
	}
	if _, _, ok := s.auth(w, r); !ok {
		return
	}
	s.mu.Lock()
	s.typing = append(s.typing, channelID)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveGateway runs one gateway connection until it closes.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.conns[c] = true
	s.mu.Unlock()
	defer func() {
		ws.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.notify()
		s.mu.Unlock()
	}()
	if c.write(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": HeartbeatInterval}}) != nil {
		return
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var f struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if json.Unmarshal(data, &f) != nil {
			c.close(4002) // decode error
			return
		}
		switch f.Op {
		case 1:
			if c.write(map[string]any{"op": 11}) != nil {
				return
			}
		case 2:
			if !s.identify(c, f.D) {
				return
			}
		case 6:
			if !s.resume(c, f.D) {
				return
			}
		}
	}
}

// botToken strips discordgo's "Bot " prefix from a gateway token.
func botToken(t string) string { return strings.TrimPrefix(t, "Bot ") }

// identify answers an IDENTIFY with READY, or closes the connection with 4004/4014/a sticky code.
func (s *Server) identify(c *conn, d json.RawMessage) bool {
	var id struct {
		Token   string `json:"token"`
		Intents int    `json:"intents"`
	}
	_ = json.Unmarshal(d, &id)
	token := botToken(id.Token)
	s.mu.Lock()
	s.identifies[token]++
	s.intents[token] = id.Intents
	b, known := s.bots[token]
	code := s.sticky[token]
	switch {
	case !known:
		code = 4004
	case code == 0 && b.NoMessageContent && id.Intents&IntentMessageContent != 0:
		code = 4014
	}
	if code != 0 {
		s.mu.Unlock()
		c.close(code)
		return false
	}
	s.nextID++
	session := fmt.Sprintf("session-%d", s.nextID)
	s.sessions[session] = token
	s.connected(c, token)
	s.mu.Unlock()
	return c.dispatch("READY", map[string]any{
		"v": 9, "session_id": session, "resume_gateway_url": s.GatewayURL,
		"user":   map[string]any{"id": b.UserID, "username": b.Username, "discriminator": "0", "bot": true},
		"guilds": []any{}, "application": map[string]any{"id": b.ApplicationID, "flags": 0},
	}) == nil
}

// resume answers a RESUME of a known session with RESUMED, an unknown one with op 9, and closes
// the connection for an unknown token or a sticky code.
func (s *Server) resume(c *conn, d json.RawMessage) bool {
	var rs struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(d, &rs)
	token := botToken(rs.Token)
	s.mu.Lock()
	s.resumes[token]++
	_, known := s.bots[token]
	code := s.sticky[token]
	if !known {
		code = 4004
	}
	if code != 0 {
		s.mu.Unlock()
		c.close(code)
		return false
	}
	if s.sessions[rs.SessionID] != token {
		s.mu.Unlock()
		return c.write(map[string]any{"op": 9, "d": false}) == nil
	}
	s.connected(c, token)
	s.mu.Unlock()
	return c.dispatch("RESUMED", map[string]any{}) == nil
}

func (c *conn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

// dispatch sends an op 0 event with the connection's next sequence number.
func (c *conn) dispatch(event string, d any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(map[string]any{"op": 0, "t": event, "s": c.seq, "d": d})
}

// close sends a close frame with code and closes the connection.
func (c *conn) close(code int) {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, closeText(code)), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.ws.Close()
}

func closeText(code int) string {
	switch code {
	case 4002:
		return "Error while decoding payload."
	case 4004:
		return "Authentication failed."
	case 4013:
		return "Invalid intent(s)."
	case 4014:
		return "Disallowed intent(s)."
	}
	return "closed"
}

// VerifyKey returns the hex verify_key (Ed25519 public key) of a 32-byte seed.
func VerifyKey(seed []byte) string {
	return hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
}

// SignInteraction returns the hex X-Signature-Ed25519 of timestamp+body under the key of a
// 32-byte seed, as Discord signs interactions.
func SignInteraction(seed []byte, timestamp string, body []byte) string {
	msg := append([]byte(timestamp), body...)
	return hex.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(seed), msg))
}

// TestSeed is the seed of PROTOCOL §4.4's test vector: the bytes 00 01 … 1f.
func TestSeed() []byte {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return seed
}
