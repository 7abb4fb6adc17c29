package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
)

// Headers of the Streamable HTTP transport.
const (
	HeaderSessionID       = "Mcp-Session-Id"
	HeaderProtocolVersion = "MCP-Protocol-Version"
)

// supportedVersions are the protocol revisions the bridge speaks, newest
// first; the first is what initialize answers to any other.
var supportedVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

const (
	// maxBatch bounds a batch's members (PROTOCOL §13.4.4).
	maxBatch = 32
	// writeSlack is added to the request timeout for the HTTP response's
	// write deadline (PROTOCOL §13.7 step 4).
	writeSlack = 10 * time.Second
	// maxClientBytes bounds the client name and version a session keeps.
	maxClientBytes = 128
)

// Options are the bridge's collaborators besides its forwarder.
type Options struct {
	Log      *slog.Logger          // required
	Registry prometheus.Registerer // nil: metrics not registered
	Version  string                // serverInfo.version
	Now      func() time.Time      // default time.Now
	// Sessions is the table of sessions; nil: a MemorySessions with the
	// configuration's TTL and cap, which Run prunes.
	Sessions Sessions
	// Cancels carries notifications/cancelled to and from the other nodes
	// of a relay; nil on a relay of one node.
	Cancels Cancels
}

// Bridge serves /mcp/:agentId for authenticated users.
//
// Lock order: Bridge.mu is a leaf, never held while forwarding or while
// calling the session table.
type Bridge struct {
	cfg      Config
	fwd      Forwarder
	log      *slog.Logger
	version  string
	now      func() time.Time
	sessions Sessions
	mem      *MemorySessions // the default table, pruned by Run; nil when given one
	cancels  Cancels         // nil on one node
	usage    *usage
	metrics  *metrics

	// base ends (with ErrShutdown) when the relay shuts down.
	base     context.Context
	shutdown context.CancelCauseFunc

	mu       sync.Mutex
	inflight map[string]int         // forwarded requests by user
	tracked  map[trackKey]*tracking // forwarded requests of sessions, for notifications/cancelled
}

// New returns a bridge forwarding through fwd.
func New(cfg Config, fwd Forwarder, opts Options) *Bridge {
	b := &Bridge{cfg: cfg, fwd: fwd, log: opts.Log, version: opts.Version, now: opts.Now,
		sessions: opts.Sessions, cancels: opts.Cancels,
		usage: newUsage(), inflight: map[string]int{}, tracked: map[trackKey]*tracking{}}
	if b.now == nil {
		b.now = time.Now
	}
	if b.sessions == nil {
		b.mem = NewMemorySessions(cfg.SessionTTL, cfg.MaxSessionsPerUser, b.now)
		b.sessions = b.mem
	}
	if b.cancels != nil {
		b.cancels.Subscribe(b.cancelled)
	}
	b.base, b.shutdown = context.WithCancelCause(context.Background())
	b.metrics = newMetrics(opts.Registry, b)
	return b
}

// Shutdown answers every forwarded request "Server shutting down" at once,
// and every later one too. Call it before the HTTP server waits for its
// requests.
func (b *Bridge) Shutdown() { b.shutdown(ErrShutdown) }

// Run forgets expired sessions and old call counts every minute until ctx
// is done.
func (b *Bridge) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if b.mem != nil {
				b.mem.Prune()
			}
			b.usage.prune(b.now())
		}
	}
}

// DeleteUser forgets a deleted user's sessions. A table that cannot be
// reached keeps them until they expire: without the user's apiKey nobody
// can use them.
func (b *Bridge) DeleteUser(ctx context.Context, userID string) {
	if err := b.sessions.RemoveUser(ctx, userID); err != nil {
		b.log.Warn("mcp: forget a deleted user's sessions", "err", err)
	}
	b.usage.removeUser(userID)
}

// Stats are a user's live MCP sessions and forwarded calls in the last hour
// (the dashboard's line per session).
func (b *Bridge) Stats(userID string) (sessions, callsLastHour int) {
	return b.sessions.Count(userID), b.usage.lastHour(userID, b.now())
}

// OriginAllowed applies RELAY_MCP_ALLOWED_ORIGINS (PROTOCOL §13.2 step 2):
// without a list, or without an Origin header, every request passes.
func (b *Bridge) OriginAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return len(b.cfg.AllowedOrigins) == 0 || o == "" || slices.Contains(b.cfg.AllowedOrigins, o)
}

// DenyOrigin answers a request whose Origin is not allowed.
func DenyOrigin(w http.ResponseWriter) {
	writeJSON(w, http.StatusForbidden, encode(errorResponse(nil, codeServer, msgOriginNotAllowed)))
}

// Serve answers a POST or DELETE of /mcp/<agentID> that passed routing, the
// Origin check, authentication and the rate limit (PROTOCOL §13.2 steps
// 1–4); body is the request body, within the size limit. It returns an
// error, having written nothing, when the session table cannot be reached:
// the caller answers 503.
func (b *Bridge) Serve(w http.ResponseWriter, r *http.Request, userID, agentID string, body []byte) error {
	if r.Method == http.MethodDelete {
		return b.delete(w, r, userID, agentID)
	}
	return b.post(w, r, userID, agentID, body)
}

// request is one POST being answered.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	userID  string
	agentID string
	sess    *Session // named by the header, or created by initialize
}

func (b *Bridge) post(w http.ResponseWriter, r *http.Request, userID, agentID string, body []byte) error {
	if !json.Valid(body) {
		writeJSON(w, http.StatusBadRequest, encode(errorResponse(nil, codeParse, msgParse)))
		return nil
	}
	first := firstByte(body)
	var single message
	if first == '{' {
		single = parseMessage(body)
	}
	if v := r.Header.Get(HeaderProtocolVersion); v != "" && !slices.Contains(supportedVersions, v) {
		msg := "Unsupported MCP-Protocol-Version: " + v + " (supported: " + strings.Join(supportedVersions, ", ") + ")"
		writeJSON(w, http.StatusBadRequest, encode(errorResponse(single.id, codeInvalidRequest, msg)))
		return nil
	}
	q := &request{w: w, r: r, userID: userID, agentID: agentID}
	isInit := single.kind == kindRequest && single.method == "initialize"
	if id := r.Header.Get(HeaderSessionID); id != "" && !isInit {
		ss, err := b.sessions.Use(r.Context(), id, userID, agentID)
		if errors.Is(err, ErrNoSession) {
			writeJSON(w, http.StatusNotFound, encode(errorResponse(nil, codeServer, msgSessionNotFound)))
			return nil
		}
		if err != nil {
			return fmt.Errorf("mcp: use session: %w", err)
		}
		q.sess = &ss
	}
	// An answer may wait for the extension for up to the request timeout,
	// past the server's usual write timeout.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(b.cfg.RequestTimeout + writeSlack)); err != nil {
		b.log.Debug("extend the write deadline", "err", err)
	}
	switch first {
	case '{':
		return b.one(q, single)
	case '[':
		b.batch(q, body)
	default:
		writeJSON(w, http.StatusBadRequest, encode(errorResponse(nil, codeInvalidRequest, msgInvalidRequest)))
	}
	return nil
}

// one answers a body holding one message (PROTOCOL §13.4.1).
func (b *Bridge) one(q *request, m message) error {
	switch m.kind {
	case kindNotification:
		b.notify(q, m)
		q.accepted()
	case kindResponse:
		q.accepted()
	case kindRequest:
		if m.method == "initialize" {
			resp, err := b.initialize(q, m)
			if err != nil {
				return err
			}
			q.answer(encode(resp))
			return nil
		}
		resp, limited := b.call(q, m)
		if limited {
			q.w.Header().Set("Retry-After", "1")
			writeJSON(q.w, http.StatusTooManyRequests, encode(struct {
				Error string `json:"error"`
			}{msgTooManyRequests}))
			return nil
		}
		q.answer(encode(resp))
	default:
		writeJSON(q.w, http.StatusBadRequest, encode(errorResponse(m.id, codeInvalidRequest, msgInvalidRequest)))
	}
	return nil
}

// batch answers a JSON array (PROTOCOL §13.4.4): members run concurrently,
// and the answer lists the responses in request order.
func (b *Bridge) batch(q *request, body []byte) {
	var raws []json.RawMessage
	if json.Unmarshal(body, &raws) != nil || len(raws) == 0 {
		writeJSON(q.w, http.StatusBadRequest, encode(errorResponse(nil, codeInvalidRequest, msgInvalidRequest)))
		return
	}
	if len(raws) > maxBatch {
		writeJSON(q.w, http.StatusBadRequest, encode(errorResponse(nil, codeInvalidRequest, msgBatchTooLarge)))
		return
	}
	out := make([]*response, len(raws))
	var wg sync.WaitGroup
	for i, raw := range raws {
		m := parseMessage(raw)
		switch {
		case m.kind == kindNotification:
			b.notify(q, m)
		case m.kind == kindResponse:
		case m.kind == kindInvalid:
			out[i] = new(errorResponse(m.id, codeInvalidRequest, msgInvalidRequest))
		case m.method == "initialize":
			out[i] = new(errorResponse(m.id, codeInvalidRequest, msgInitBatched))
		default:
			wg.Go(func() {
				resp, limited := b.call(q, m)
				if limited {
					resp = errorResponse(m.id, codeServer, msgTooManyRequests)
				}
				out[i] = &resp
			})
		}
	}
	wg.Wait()
	var answers []response
	for _, r := range out {
		if r != nil {
			answers = append(answers, *r)
		}
	}
	if len(answers) == 0 {
		q.accepted()
		return
	}
	q.answer(encode(answers))
}

// notify handles a notification: notifications/cancelled cancels a
// forwarded request of the same session (PROTOCOL §13.7 step 7), here or,
// when this node did not forward it, on the node that did; every other one
// is ignored.
func (b *Bridge) notify(q *request, m message) {
	if m.method != "notifications/cancelled" || q.sess == nil {
		return
	}
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(m.params, &p) != nil || !validID(p.RequestID) {
		return
	}
	if !b.cancel(q.sess.ID, idKey(p.RequestID)) && b.cancels != nil {
		b.cancels.Publish(q.sess.ID, p.RequestID)
	}
}

// call answers one request other than initialize; limited is true when it
// was to be forwarded and the user is at the in-flight cap.
func (b *Bridge) call(q *request, m message) (resp response, limited bool) {
	switch m.method {
	case "ping":
		return result(m.id, json.RawMessage(`{}`)), false
	case "tools/list":
		return result(m.id, tools(q.agentID)), false
	case "resources/list":
		return result(m.id, resources(q.agentID)), false
	case "resources/templates/list":
		return result(m.id, resourceTemplates), false
	case "prompts/list":
		return result(m.id, prompts(q.agentID)), false
	case "tools/call":
		var p struct {
			Name json.RawMessage `json:"name"`
		}
		var name string
		if json.Unmarshal(m.params, &p) != nil || firstByte(p.Name) != '"' || json.Unmarshal(p.Name, &name) != nil || name == "" {
			return errorResponse(m.id, codeInvalidParams, msgMissingTool), false
		}
		return b.forward(q, m)
	case "resources/read", "prompts/get":
		return b.forward(q, m)
	}
	return errorResponse(m.id, codeMethodNotFound, msgMethodNotFoundFmt+m.method), false
}

// initialize creates a session and negotiates the version (PROTOCOL
// §13.4.2); it fails when the session table cannot be reached.
func (b *Bridge) initialize(q *request, m message) (response, error) {
	var p struct {
		ProtocolVersion string `json:"protocolVersion"`
		ClientInfo      struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"clientInfo"`
	}
	_ = json.Unmarshal(m.params, &p)
	version := supportedVersions[0]
	if slices.Contains(supportedVersions, p.ProtocolVersion) {
		version = p.ProtocolVersion
	}
	client := strings.TrimSpace(p.ClientInfo.Name + " " + p.ClientInfo.Version)
	ss := Session{ID: storage.NewID(), UserID: q.userID, AgentID: q.agentID, Version: version,
		Client: truncate(client, maxClientBytes), Created: b.now()}
	if err := b.sessions.Create(q.r.Context(), ss); err != nil {
		return response{}, fmt.Errorf("mcp: create session: %w", err)
	}
	q.sess = &ss
	b.log.Info("mcp session created", "agent", q.agentID, "session", shortID(ss.ID),
		"protocol_version", version, "client", truncate(client, 64))
	return result(m.id, encode(struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ServerInfo      struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"serverInfo"`
	}{version, capabilities, struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}{"chaos-agent-" + q.agentID, b.version}})), nil
}

// forward sends a request to the user's extension and maps its answer.
func (b *Bridge) forward(q *request, m message) (response, bool) {
	if !b.acquire(q.userID) {
		b.metrics.observe(m.method, outcomeLimited, 0)
		b.log.Warn("mcp call refused: in-flight cap", "method", m.method, "agent", q.agentID)
		return response{}, true
	}
	defer b.releaseSlot(q.userID)
	ctx, cancel := context.WithCancelCause(q.r.Context())
	defer cancel(nil)
	stop := context.AfterFunc(b.base, func() { cancel(ErrShutdown) })
	defer stop()
	if q.sess != nil {
		defer b.track(q.sess.ID, idKey(m.id), cancel)()
	}
	call := Call{ID: storage.NewID(), UserID: q.userID, AgentID: q.agentID, Method: m.method, Request: m.raw}
	start := time.Now()
	jsonrpc, err := b.fwd.Forward(ctx, call)
	d := time.Since(start)
	b.usage.add(q.userID, b.now())

	var resp response
	outcome := outcomeOK
	switch {
	case err == nil:
		if resp = mapAnswer(m.method, m.id, jsonrpc); resp.Error != nil {
			outcome = outcomeError
		}
	case errors.Is(err, ErrOffline):
		resp, outcome = errorResponse(m.id, codeServer, msgOffline), outcomeOffline
	case errors.Is(err, ErrTimeout):
		resp, outcome = errorResponse(m.id, codeServer, msgTimeout), outcomeTimeout
	case errors.Is(err, ErrDisconnected):
		resp, outcome = errorResponse(m.id, codeServer, msgDisconnected), outcomeDisconnected
	case errors.Is(err, ErrShutdown):
		resp, outcome = errorResponse(m.id, codeServer, msgShutdown), outcomeError
	case errors.Is(err, ErrCancelled), q.r.Context().Err() != nil:
		// Cancelled by the client, or the client went away (then nobody
		// reads the answer).
		resp, outcome = errorResponse(m.id, codeServer, msgCancelled), outcomeCancelled
	default:
		b.log.Error("mcp forward", "method", m.method, "agent", q.agentID, "correlation_id", call.ID, "err", err)
		resp, outcome = errorResponse(m.id, codeInternal, "Internal error"), outcomeError
	}
	b.metrics.observe(m.method, outcome, d)
	args := []any{"method", m.method, "agent", q.agentID, "correlation_id", call.ID, "duration", d, "outcome", outcome}
	if q.sess != nil {
		args = append(args, "session", shortID(q.sess.ID))
	}
	b.log.Info("mcp call", args...)
	return resp, false
}

// acquire takes one of the user's in-flight slots.
func (b *Bridge) acquire(userID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inflight[userID] >= b.cfg.MaxInflight {
		return false
	}
	b.inflight[userID]++
	return true
}

func (b *Bridge) releaseSlot(userID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inflight[userID]--; b.inflight[userID] <= 0 {
		delete(b.inflight, userID)
	}
}

// Inflight is how many forwarded requests a user has waiting.
func (b *Bridge) Inflight(userID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inflight[userID]
}

func (b *Bridge) inflightTotal() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, v := range b.inflight {
		n += v
	}
	return n
}

// delete is DELETE /mcp/:agentId (PROTOCOL §13.5).
func (b *Bridge) delete(w http.ResponseWriter, r *http.Request, userID, agentID string) error {
	if v := r.Header.Get(HeaderProtocolVersion); v != "" && !slices.Contains(supportedVersions, v) {
		msg := "Unsupported MCP-Protocol-Version: " + v + " (supported: " + strings.Join(supportedVersions, ", ") + ")"
		writeJSON(w, http.StatusBadRequest, encode(errorResponse(nil, codeInvalidRequest, msg)))
		return nil
	}
	id := r.Header.Get(HeaderSessionID)
	if id == "" {
		writeJSON(w, http.StatusBadRequest, encode(errorResponse(nil, codeInvalidRequest, msgSessionRequired)))
		return nil
	}
	ss, err := b.sessions.Use(r.Context(), id, userID, agentID)
	if errors.Is(err, ErrNoSession) {
		writeJSON(w, http.StatusNotFound, encode(errorResponse(nil, codeServer, msgSessionNotFound)))
		return nil
	}
	if err == nil {
		err = b.sessions.Remove(r.Context(), ss)
	}
	if err != nil {
		return fmt.Errorf("mcp: delete session: %w", err)
	}
	b.log.Info("mcp session deleted", "agent", agentID, "session", shortID(id))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// answer writes a 200 JSON answer, with the session header when the
// request named a live session or created one.
func (q *request) answer(body []byte) {
	if q.sess != nil {
		q.w.Header().Set(HeaderSessionID, q.sess.ID)
	}
	writeJSON(q.w, http.StatusOK, body)
}

// accepted writes 202 with an empty body.
func (q *request) accepted() {
	if q.sess != nil {
		q.w.Header().Set(HeaderSessionID, q.sess.ID)
	}
	q.w.WriteHeader(http.StatusAccepted)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
