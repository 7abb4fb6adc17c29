// Package telegramtest is a fake Telegram Bot API server for tests of the telegram adapter and of
// the relay end to end. It speaks Telegram's formats: routes /bot<token>/<method>, accepts
// multipart/form-data (what go-telegram/bot sends), JSON, form and query parameters, and answers
// {"ok":true,"result":…} or {"ok":false,"error_code":N,"description":"…"} with the matching HTTP
// status. Failures can be programmed per method.
package telegramtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// BotFirstName is the first_name getMe reports for every bot.
const BotFirstName = "Relay Test Bot"

// MaxTextUnits is the longest sendMessage text the fake accepts, in UTF-16 units, as Telegram.
const MaxTextUnits = 4096

// maxRequestBytes bounds a request body.
const maxRequestBytes = 10 << 20

// Call is one request the fake received on a /bot<token>/<method> route.
type Call struct {
	Method string            // as in the URL, e.g. "sendMessage"
	Token  string            // the token in the URL
	Params map[string]string // query, form, multipart or JSON parameters; non-strings as compact JSON
	Status int               // the HTTP status the fake answered
}

// SentMessage is a sendMessage call the fake accepted.
type SentMessage struct {
	ChatID    string
	Text      string
	ParseMode string // "" when absent
}

// Server is the fake Bot API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base to configure as RELAY_TELEGRAM_API_URL (no trailing slash).
	URL string

	srv *httptest.Server

	mu             sync.Mutex
	bots           map[string]string // token → username
	calls          []Call
	sent           []SentMessage
	webhooks       map[string]webhook
	queued         map[string][]answer // lower-case method → programmed answers
	rejectMarkdown bool
	nextMessageID  int64
}

type webhook struct{ url, secret string }

// answer is a programmed response.
type answer struct {
	status      int
	contentType string
	body        string
}

// New starts a fake Bot API server that knows no bot yet; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		bots:     make(map[string]string),
		webhooks: make(map[string]webhook),
		queued:   make(map[string][]answer),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close shuts the server down; later calls fail with a network error.
func (s *Server) Close() { s.srv.Close() }

// AddBot makes token valid. getMe reports username (omitted when "") and BotFirstName.
func (s *Server) AddBot(token, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bots[token] = username
}

// Calls returns every request received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}

// CallsTo returns the requests to method (case-insensitive), in order.
func (s *Server) CallsTo(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if strings.EqualFold(c.Method, method) {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the messages accepted by sendMessage, in order.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMessage, len(s.sent))
	copy(out, s.sent)
	return out
}

// Webhook returns the webhook currently set for token.
func (s *Server) Webhook(token string) (url, secret string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.webhooks[token]
	return w.url, w.secret, ok
}

// FailNext makes the next n calls of method (case-insensitive, any token) answer HTTP status with
// {"ok":false,…}. error_code is status when status ≥ 400 and omitted otherwise, so a 200 gives the
// "2xx with ok:false" case. An empty description becomes Telegram's usual text for the status
// ("Too Many Requests: retry after N", "Internal Server Error"); for a 2xx it is left out.
// retryAfter > 0 adds "parameters":{"retry_after":retryAfter}. Programmed answers come before the
// token check and are used in the order they were programmed.
func (s *Server) FailNext(method string, n, status int, description string, retryAfter int) {
	body := map[string]any{"ok": false}
	if status >= 400 {
		body["error_code"] = status
		if description == "" {
			description = http.StatusText(status)
			if status == http.StatusTooManyRequests {
				description = fmt.Sprintf("Too Many Requests: retry after %d", retryAfter)
			}
		}
	}
	if description != "" {
		body["description"] = description
	}
	if retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // cannot happen: the map holds strings and ints
	}
	s.ReplyNext(method, n, status, "application/json", string(b))
}

// ReplyNext makes the next n calls of method answer exactly status, contentType and body: an HTML
// 502 from a proxy, or {"ok":true} without a result.
func (s *Server) ReplyNext(method string, n, status int, contentType, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(method)
	for range n {
		s.queued[key] = append(s.queued[key], answer{status: status, contentType: contentType, body: body})
	}
}

// RejectMarkdown makes sendMessage with any parse_mode answer 400 "Bad Request: can't parse
// entities: …", as Telegram does for malformed Markdown.
func (s *Server) RejectMarkdown(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectMarkdown = on
}

// serve routes /bot<token>/<method>.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// The escaped path keeps an escaped "/" inside a token apart from the separator.
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/bot")
	rawToken, rawMethod, ok2 := strings.Cut(rest, "/")
	token, err1 := url.PathUnescape(rawToken)
	method, err2 := url.PathUnescape(rawMethod)
	if !ok || !ok2 || err1 != nil || err2 != nil || token == "" || method == "" || strings.Contains(rawMethod, "/") {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	params, err := readParams(w, r)
	call := Call{Method: method, Token: token, Params: params}

	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(method)
	var status int
	switch {
	case len(s.queued[key]) > 0:
		a := s.queued[key][0]
		s.queued[key] = s.queued[key][1:]
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
		status = a.status
	case !s.known(token):
		status = writeError(w, http.StatusUnauthorized, "Unauthorized")
	case err != nil:
		status = writeError(w, http.StatusBadRequest, "Bad Request: "+err.Error())
	default:
		status = s.dispatch(w, token, key, params)
	}
	call.Status = status
	s.calls = append(s.calls, call)
}

func (s *Server) known(token string) bool {
	_, ok := s.bots[token]
	return ok
}

// dispatch answers a call with a valid token; s.mu is held.
func (s *Server) dispatch(w http.ResponseWriter, token, method string, p map[string]string) int {
	switch method {
	case "getme":
		return writeResult(w, s.botUser(token))
	case "setwebhook":
		return s.setWebhook(w, token, p)
	case "deletewebhook":
		if _, ok := s.webhooks[token]; !ok {
			return writeResultDescription(w, true, "Webhook is already deleted")
		}
		delete(s.webhooks, token)
		return writeResultDescription(w, true, "Webhook was deleted")
	case "sendmessage":
		return s.sendMessage(w, token, p)
	case "sendchataction":
		if status, msg := checkChat(p["chat_id"]); status != 0 {
			return writeError(w, status, msg)
		}
		if !chatActions[p["action"]] {
			return writeError(w, http.StatusBadRequest, "Bad Request: wrong parameter action in request")
		}
		return writeResult(w, true)
	}
	return writeError(w, http.StatusNotFound, "Not Found")
}

// chatActions are the actions sendChatAction accepts.
var chatActions = map[string]bool{
	"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true,
}

// secretToken is Telegram's rule for secret_token.
var secretToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) setWebhook(w http.ResponseWriter, token string, p map[string]string) int {
	raw := p["url"]
	if raw == "" { // an empty url removes the webhook, as in Telegram
		_, had := s.webhooks[token]
		delete(s.webhooks, token)
		if !had {
			return writeResultDescription(w, true, "Webhook is already deleted")
		}
		return writeResultDescription(w, true, "Webhook was deleted")
	}
	if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
		return writeError(w, http.StatusBadRequest, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
	}
	secret, hasSecret := p["secret_token"]
	if hasSecret && !secretToken.MatchString(secret) {
		return writeError(w, http.StatusBadRequest, "Bad Request: secret token contains unallowed characters")
	}
	if au, ok := p["allowed_updates"]; ok {
		var list []string
		if err := json.Unmarshal([]byte(au), &list); err != nil {
			return writeError(w, http.StatusBadRequest, "Bad Request: can't parse allowed updates JSON object")
		}
	}
	s.webhooks[token] = webhook{url: raw, secret: secret}
	return writeResultDescription(w, true, "Webhook was set")
}

func (s *Server) sendMessage(w http.ResponseWriter, token string, p map[string]string) int {
	chatID := p["chat_id"]
	if status, msg := checkChat(chatID); status != 0 {
		return writeError(w, status, msg)
	}
	text := p["text"]
	if strings.TrimSpace(text) == "" {
		return writeError(w, http.StatusBadRequest, "Bad Request: message text is empty")
	}
	if len(utf16.Encode([]rune(text))) > MaxTextUnits {
		return writeError(w, http.StatusBadRequest, "Bad Request: message is too long")
	}
	mode := p["parse_mode"]
	switch strings.ToLower(mode) {
	case "", "markdown", "markdownv2", "html":
	default:
		return writeError(w, http.StatusBadRequest, "Bad Request: unsupported parse_mode")
	}
	if mode != "" && s.rejectMarkdown {
		return writeError(w, http.StatusBadRequest,
			"Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 0")
	}
	s.nextMessageID++
	s.sent = append(s.sent, SentMessage{ChatID: chatID, Text: text, ParseMode: mode})
	chat := map[string]any{"id": json.Number(chatID), "type": "private"}
	if strings.HasPrefix(chatID, "@") {
		chat = map[string]any{"id": int64(-1001000000001), "type": "channel", "username": chatID[1:]}
	}
	return writeResult(w, map[string]any{
		"message_id": s.nextMessageID,
		"from":       s.botUser(token),
		"chat":       chat,
		"date":       time.Now().Unix(),
		"text":       text,
	})
}

// checkChat validates a chat_id: an integer or an @username.
func checkChat(id string) (int, string) {
	if id == "" {
		return http.StatusBadRequest, "Bad Request: chat_id is empty"
	}
	if _, err := strconv.ParseInt(id, 10, 64); err != nil && !strings.HasPrefix(id, "@") {
		return http.StatusBadRequest, "Bad Request: chat not found"
	}
	return 0, ""
}

// botUser is getMe's result for token.
func (s *Server) botUser(token string) map[string]any {
	id, err := strconv.ParseInt(strings.SplitN(token, ":", 2)[0], 10, 64)
	if err != nil {
		id = 1
	}
	u := map[string]any{"id": id, "is_bot": true, "first_name": BotFirstName}
	if name := s.bots[token]; name != "" {
		u["username"] = name
	}
	return u
}

func writeResult(w http.ResponseWriter, result any) int {
	return writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

func writeResultDescription(w http.ResponseWriter, result any, description string) int {
	return writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result, "description": description})
}

func writeError(w http.ResponseWriter, status int, description string) int {
	return writeJSON(w, status, map[string]any{"ok": false, "error_code": status, "description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// readParams collects a call's parameters from the query string and a multipart, form or JSON body.
// For JSON bodies, non-string values are kept as compact JSON text, as the multipart form carries them.
func readParams(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	p := make(map[string]string)
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		return p, fmt.Errorf("request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseMultipartForm(maxRequestBytes); err != nil {
			return p, fmt.Errorf("multipart body (boundary %q): %w", ctParams["boundary"], err)
		}
		for k, v := range r.MultipartForm.Value {
			p[k] = v[0]
		}
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return p, fmt.Errorf("form body: %w", err)
		}
		for k, v := range form {
			p[k] = v[0]
		}
	case "application/json":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return p, fmt.Errorf("JSON body: %w", err)
		}
		for k, raw := range obj {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				p[k] = s
				continue
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return p, fmt.Errorf("JSON body: %w", err)
			}
			p[k] = buf.String()
		}
	}
	return p, nil
}

// PostUpdate POSTs update as Telegram does to a webhook url: JSON, with secret (if not "") in
// X-Telegram-Bot-Api-Secret-Token. The response body is closed when the test ends.
func PostUpdate(t testing.TB, url, secret string, update []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(update))
	if err != nil {
		t.Fatalf("telegramtest: post update: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("telegramtest: post update: %v", err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// TextMessage returns a private-chat text message update as Telegram sends it, for a sender whose
// user id is also the chat id.
func TextMessage(updateID, senderID int64, username, text string) []byte {
	from := map[string]any{"id": senderID, "is_bot": false, "first_name": "Test", "language_code": "en"}
	if username != "" {
		from["username"] = username
	}
	chat := map[string]any{"id": senderID, "first_name": "Test", "type": "private"}
	if username != "" {
		chat["username"] = username
	}
	b, err := json.Marshal(map[string]any{
		"update_id": updateID,
		"message": map[string]any{
			"message_id": updateID % 100000,
			"from":       from,
			"chat":       chat,
			"date":       time.Now().Unix(),
			"text":       text,
		},
	})
	if err != nil {
		panic(err) // cannot happen: the maps hold strings, ints and bools
	}
	return b
}
