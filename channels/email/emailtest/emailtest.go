// Package emailtest is a fake Resend API and a Svix webhook signer for tests of the email channel
// and of the relay end to end.
//
// The fake speaks Resend's JSON shapes: POST /emails records the email and answers {"id":…},
// de-duplicating by Idempotency-Key as Resend does; GET /emails/receiving/{id} serves emails
// registered with AddReceived; errors are {"statusCode","message","name"} objects. Requests must
// carry "Authorization: Bearer " + APIKey. Failures can be programmed per path with FailNext.
//
// The package does not import the email package, so that package's own tests can use it.
package emailtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIKey is the only key the fake accepts.
const APIKey = "re_test_4bJv9x2KqT7mN3pL"

// WebhookSecret is a Svix signing secret for tests: the one of PROTOCOL §4.5's test vector (key
// bytes 01…18).
const WebhookSecret = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"

// waitTimeout bounds WaitSent.
const waitTimeout = 10 * time.Second

// Sent is an email received by POST /emails.
type Sent struct {
	ID             string // the id the fake answered
	From           string
	To             []string // a string or an array in the request
	Subject        string
	Text           string
	HTML           string
	Headers        map[string]string
	IdempotencyKey string          // the Idempotency-Key header, "" if absent
	Body           json.RawMessage // the request body as sent
}

// Header is one header of a received email.
type Header struct{ Name, Value string }

// ReceivedJSON describes a received email served by GET /emails/receiving/{id}.
type ReceivedJSON struct {
	From    string
	To      []string
	Subject string
	Text    string // "" is served as null, as Resend does for a missing part
	HTML    string // "" is served as null
	Headers []Header
	// HeadersArray serves the headers as [{"name","value"},…] instead of Resend's object.
	HeadersArray bool
	MessageID    string    // message_id; "" gives "<id@fake.resend.test>"
	CreatedAt    time.Time // zero gives the time of AddReceived
}

// failure is one programmed answer.
type failure struct {
	status int // 0 drops the connection without an answer
	body   string
	header http.Header
}

// idempotent is what the fake remembers of an Idempotency-Key.
type idempotent struct {
	id   string
	hash [32]byte // of the request body
}

// Server is a fake Resend API. It is safe for concurrent use.
type Server struct {
	URL string // base URL, without a trailing slash; use it as RELAY_RESEND_API_URL

	srv *httptest.Server

	mu       sync.Mutex
	sent     []Sent
	keys     map[string]idempotent
	received map[string][]byte // id → JSON
	fail     map[string][]failure
	calls    map[string]int
	changed  chan struct{} // closed and replaced whenever an email is recorded
}

// New starts a fake Resend API, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		keys:     make(map[string]idempotent),
		received: make(map[string][]byte),
		fail:     make(map[string][]failure),
		calls:    make(map[string]int),
		changed:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /emails", s.sendEmail)
	mux.HandleFunc("GET /emails/receiving/{id}", s.getReceived)
	s.srv = httptest.NewServer(s.front(mux))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close shuts the server down; requests then fail with a network error. New registers it with
// t.Cleanup, so calling it is only needed to simulate an outage.
func (s *Server) Close() { s.srv.Close() }

// Sent returns the emails recorded so far, in order. A request repeated with the same
// Idempotency-Key is recorded once.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// WaitSent waits until at least n emails are recorded and returns them; it fails the test after
// 10 s. It waits on a signal from the handler, not by polling.
func (s *Server) WaitSent(t testing.TB, n int) []Sent {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		sent, changed := slices.Clone(s.sent), s.changed
		s.mu.Unlock()
		if len(sent) >= n {
			return sent
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("emailtest: %d emails sent after %s, want %d", len(sent), waitTimeout, n)
			return nil
		}
	}
}

// Calls returns how many requests reached path (failed and unauthorised ones included).
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// AddReceived registers a received email under id for GET /emails/receiving/{id}, in Resend's
// JSON shape.
func (s *Server) AddReceived(id string, r ReceivedJSON) {
	body := receivedBody(id, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received[id] = body
}

// FailNext makes the next n requests to path answer status with body (a Resend-shaped error when
// body is ""). A path ending in "/" matches every path under it ("/emails/receiving/"). Status 0
// drops the connection without an answer (a network error). A 429 carries "Retry-After: 1", as
// Resend's do. Failures are served before the API key is checked.
func (s *Server) FailNext(path string, n, status int, body string) {
	s.FailNextHeader(path, n, status, body, nil)
}

// FailNextHeader is FailNext with extra answer headers (a Retry-After of your choice).
func (s *Server) FailNextHeader(path string, n, status int, body string, h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail[path] = append(s.fail[path], failure{status: status, body: body, header: h.Clone()})
	}
}

// front counts calls, serves programmed failures and checks the API key before the routes.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, failing := s.nextFailure(r.URL.Path)
		if failing {
			if f.status == 0 {
				panic(http.ErrAbortHandler) // closes the connection; the server does not log it
			}
			for k, v := range f.header {
				w.Header()[k] = v
			}
			if f.status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", "1")
			}
			if f.body == "" {
				writeError(w, f.status, defaultMessage(f.status), defaultName(f.status))
				return
			}
			if strings.HasPrefix(strings.TrimSpace(f.body), "{") {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(f.status)
			_, _ = io.WriteString(w, f.body)
			return
		}
		auth := r.Header.Get("Authorization")
		switch {
		case auth == "" || auth == "Bearer" || auth == "Bearer ":
			writeError(w, http.StatusUnauthorized, "Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY", "missing_api_key")
			return
		case auth != "Bearer "+APIKey:
			// Resend itself answers 403 invalid_api_key; 401 keeps the fake's auth failures on one
			// status. Both are permanent 4xx for the relay.
			writeError(w, http.StatusUnauthorized, "API key is invalid", "invalid_api_key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// nextFailure counts a call to path and pops its next programmed failure, if any.
func (s *Server) nextFailure(path string) (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[path]++
	key := path
	if len(s.fail[key]) == 0 {
		key = ""
		for k, queue := range s.fail { // prefix entries; the longest matching one wins
			if len(queue) > 0 && strings.HasSuffix(k, "/") && strings.HasPrefix(path, k) && len(k) > len(key) {
				key = k
			}
		}
		if key == "" {
			return failure{}, false
		}
	}
	queue := s.fail[key]
	if len(queue) == 1 {
		delete(s.fail, key)
	} else {
		s.fail[key] = queue[1:]
	}
	return queue[0], true
}

// sendEmail handles POST /emails.
func (s *Server) sendEmail(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 40<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Could not read the request body.", "validation_error")
		return
	}
	var req struct {
		From    string            `json:"from"`
		To      json.RawMessage   `json:"to"`
		Subject string            `json:"subject"`
		Text    string            `json:"text"`
		HTML    string            `json:"html"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Invalid JSON body: "+err.Error(), "validation_error")
		return
	}
	to, ok := stringOrArray(req.To)
	switch {
	case req.From == "":
		writeError(w, http.StatusUnprocessableEntity, "Missing `from` field.", "missing_required_field")
		return
	case !ok || len(to) == 0:
		writeError(w, http.StatusUnprocessableEntity, "Missing `to` field.", "missing_required_field")
		return
	case req.Subject == "":
		writeError(w, http.StatusUnprocessableEntity, "Missing `subject` field.", "missing_required_field")
		return
	case req.Text == "" && req.HTML == "":
		writeError(w, http.StatusUnprocessableEntity, "Missing `html` or `text` field.", "missing_required_field")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	hash := sha256.Sum256(bytes.TrimSpace(body))

	s.mu.Lock()
	if prev, seen := s.keys[key]; key != "" && seen {
		s.mu.Unlock()
		if prev.hash != hash {
			writeError(w, http.StatusConflict, "Same idempotency key used with a different request payload. Change your idempotency key or payload.", "invalid_idempotent_request")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": prev.id})
		return
	}
	id := newUUID()
	if key != "" {
		s.keys[key] = idempotent{id: id, hash: hash}
	}
	s.sent = append(s.sent, Sent{
		ID: id, From: req.From, To: to, Subject: req.Subject, Text: req.Text, HTML: req.HTML,
		Headers: req.Headers, IdempotencyKey: key, Body: json.RawMessage(body),
	})
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// getReceived handles GET /emails/receiving/{id}.
func (s *Server) getReceived(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.received[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Email not found", "not_found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// receivedBody renders r as Resend's received-email object.
func receivedBody(id string, r ReceivedJSON) []byte {
	created := r.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	msgID := r.MessageID
	if msgID == "" {
		msgID = "<" + id + "@fake.resend.test>"
	}
	var b bytes.Buffer
	b.WriteString(`{"object":"email","id":`)
	b.Write(marshal(id))
	b.WriteString(`,"to":`)
	b.Write(marshal(nonNil(r.To)))
	b.WriteString(`,"from":`)
	b.Write(marshal(r.From))
	b.WriteString(`,"created_at":`)
	b.Write(marshal(created.UTC().Format("2006-01-02T15:04:05.000Z07:00")))
	b.WriteString(`,"subject":`)
	b.Write(marshal(r.Subject))
	b.WriteString(`,"html":`)
	b.Write(nullable(r.HTML))
	b.WriteString(`,"text":`)
	b.Write(nullable(r.Text))
	b.WriteString(`,"headers":`)
	if r.HeadersArray {
		b.WriteByte('[')
		for i, h := range r.Headers {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"name":`)
			b.Write(marshal(h.Name))
			b.WriteString(`,"value":`)
			b.Write(marshal(h.Value))
			b.WriteByte('}')
		}
		b.WriteByte(']')
	} else {
		b.WriteByte('{')
		for i, h := range r.Headers {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(marshal(h.Name))
			b.WriteByte(':')
			b.Write(marshal(h.Value))
		}
		b.WriteByte('}')
	}
	b.WriteString(`,"bcc":[],"cc":[],"reply_to":[],"message_id":`)
	b.Write(marshal(msgID))
	b.WriteString(`,"attachments":[],"raw":null}`)
	return b.Bytes()
}

// stringOrArray decodes Resend's "to": a string or an array of strings.
func stringOrArray(raw json.RawMessage) ([]string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, one != ""
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many, true
	}
	return nil, false
}

// writeError writes Resend's error object.
func writeError(w http.ResponseWriter, status int, message, name string) {
	writeJSON(w, status, struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
		Name       string `json:"name"`
	}{status, message, name})
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(marshal(v))
}

// defaultMessage and defaultName give a programmed failure without a body Resend's texts.
func defaultMessage(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Too many requests. You can only make 2 requests per second. See rate limit response headers for more information. Or contact support to increase rate limit."
	case http.StatusInternalServerError:
		return "An unexpected error occurred."
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return fmt.Sprintf("Status %d", status)
}

func defaultName(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "validation_error"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case http.StatusInternalServerError:
		return "internal_server_error"
	}
	return "application_error"
}

// marshal encodes v without HTML escaping, as Resend's JSON is written.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only plain values are encoded here
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// nullable encodes s, or null when it is empty.
func nullable(s string) []byte {
	if s == "" {
		return []byte("null")
	}
	return marshal(s)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// newUUID returns a random (version 4) UUID, the shape of Resend's ids.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
