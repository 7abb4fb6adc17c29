package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/chaos-relay/relay/channels/rawjson"
)

// Why a forwarded request ended without an answer. The bridge turns each
// into its -32000 error (PROTOCOL §13.7).
var (
	ErrOffline      = errors.New("mcp: agent offline")
	ErrTimeout      = errors.New("mcp: request timed out")
	ErrDisconnected = errors.New("mcp: agent disconnected before answering")
	ErrCancelled    = errors.New("mcp: request cancelled")
	ErrShutdown     = errors.New("mcp: server shutting down")
)

// Call is a request forwarded to a user's extension.
type Call struct {
	ID      string          // correlation id: a fresh UUIDv4
	UserID  string          // whose sockets may answer
	AgentID string          // the path segment of /mcp/:agentId, as received
	Method  string          // for logs
	Request json.RawMessage // the client's JSON-RPC request object, as received
}

// Forwarder reaches a user's browser extension: it sends an mcp-request
// frame for a call and waits for the first valid mcp-response of the user.
//
// Forward returns that frame's jsonrpc member, or ErrOffline (no socket),
// ErrTimeout, ErrDisconnected, or context.Cause(ctx) once ctx ends (the
// bridge cancels with ErrCancelled or ErrShutdown). It must not re-send a
// call to a socket that opens later: the tool may already be running.
//
// Local is the implementation for sockets of this process; a relay of
// several nodes can send the frame to the node holding the user's sockets.
type Forwarder interface {
	Forward(ctx context.Context, call Call) (json.RawMessage, error)
}

// Sockets are a user's open WebSockets, as Local needs them (live.Hub).
type Sockets interface {
	// Send queues a text frame on every socket of the user and returns how
	// many sockets it was queued on.
	Send(userID string, frame []byte) int
	// UserCount is how many sockets the user has open.
	UserCount(userID string) int
	// Grant lets the user's sockets read frames of one type up to maxBytes
	// until release is called.
	Grant(userID, frameType string, maxBytes int64) (release func())
}

// Local forwards calls to the sockets of this process. The server hands it
// every mcp-response frame (Resolve) and every user whose last socket
// closed (LastClosed).
type Local struct {
	sockets     Sockets
	timeout     time.Duration
	grace       time.Duration
	maxResponse int64
	log         *slog.Logger
	// afterFunc starts a grace timer (time.AfterFunc; tests fire it by hand).
	afterFunc func(time.Duration, func()) stopper

	mu      sync.Mutex
	pending map[string]*pending              // by correlation id
	byUser  map[string]map[*pending]struct{} // the same, by user
}

// pending is a forwarded call waiting for its answer.
type pending struct {
	id, userID string
	done       chan answer // receives exactly one answer (finish)
	release    func()      // the frame-size grant
	grace      stopper     // runs while the user has no socket; guarded by Local.mu
}

// stopper is a timer as Local uses it.
type stopper interface{ Stop() bool }

type answer struct {
	jsonrpc json.RawMessage
	err     error
}

// NewLocal returns a Forwarder over sockets, with the bridge's timeouts
// and response size (cfg).
func NewLocal(cfg Config, sockets Sockets, log *slog.Logger) *Local {
	return &Local{sockets: sockets, timeout: cfg.RequestTimeout, grace: cfg.DisconnectGrace,
		maxResponse: cfg.MaxResponseBytes, log: log,
		afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		pending:   map[string]*pending{}, byUser: map[string]map[*pending]struct{}{}}
}

var _ Forwarder = (*Local)(nil)

// requestFrame is the mcp-request frame (PROTOCOL §13.8.1), members in order.
type requestFrame struct {
	Type          string          `json:"type"`
	CorrelationID string          `json:"correlationId"`
	AgentID       string          `json:"agentId"`
	JSONRPC       json.RawMessage `json:"jsonrpc"`
}

// Forward sends the call to every socket of the user and waits for the
// first answer, the timeout, the disconnect grace or the end of ctx.
func (l *Local) Forward(ctx context.Context, call Call) (json.RawMessage, error) {
	frame, err := rawjson.Marshal(requestFrame{Type: "mcp-request", CorrelationID: call.ID, AgentID: call.AgentID, JSONRPC: call.Request})
	if err != nil {
		return nil, err
	}
	p := &pending{id: call.ID, userID: call.UserID, done: make(chan answer, 1)}
	// The grant opens before the frame goes out: the answer may be quick.
	p.release = l.sockets.Grant(call.UserID, "mcp-response", l.maxResponse)
	l.mu.Lock()
	l.pending[p.id] = p
	users := l.byUser[p.userID]
	if users == nil {
		users = map[*pending]struct{}{}
		l.byUser[p.userID] = users
	}
	users[p] = struct{}{}
	l.mu.Unlock()
	// Registered before sending: a socket closing now reaches LastClosed,
	// which sees p.
	if l.sockets.Send(call.UserID, frame) == 0 {
		l.finish(p, answer{err: ErrOffline})
	}
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	select {
	case a := <-p.done:
		return a.jsonrpc, a.err
	case <-t.C:
		l.finish(p, answer{err: ErrTimeout})
	case <-ctx.Done():
		l.finish(p, answer{err: context.Cause(ctx)})
	}
	a := <-p.done // ours, or an answer that won the race
	return a.jsonrpc, a.err
}

// finish completes p with a unless it is already complete.
func (l *Local) finish(p *pending, a answer) bool {
	l.mu.Lock()
	if l.pending[p.id] != p {
		l.mu.Unlock()
		return false
	}
	delete(l.pending, p.id)
	users := l.byUser[p.userID]
	delete(users, p)
	if len(users) == 0 {
		delete(l.byUser, p.userID)
	}
	if p.grace != nil {
		p.grace.Stop()
	}
	l.mu.Unlock()
	p.release()
	p.done <- a
	return true
}

// responseFrame is an mcp-response frame (PROTOCOL §13.8.2).
type responseFrame struct {
	CorrelationID json.RawMessage `json:"correlationId"`
	JSONRPC       json.RawMessage `json:"jsonrpc"`
}

// Resolve completes the pending call an mcp-response frame from a socket of
// userID names. Frames naming no pending call of that user (unknown, late,
// duplicate, another user's) or without a string correlationId or a
// jsonrpc member are ignored; it reports whether the frame was used.
func (l *Local) Resolve(userID string, frame []byte) bool {
	var f responseFrame
	var id string
	if json.Unmarshal(frame, &f) != nil || firstByte(f.CorrelationID) != '"' ||
		json.Unmarshal(f.CorrelationID, &id) != nil || id == "" || len(f.JSONRPC) == 0 || string(f.JSONRPC) == "null" {
		l.log.Debug("mcp-response ignored: malformed")
		return false
	}
	l.mu.Lock()
	p := l.pending[id]
	l.mu.Unlock()
	if p == nil || p.userID != userID {
		// Never issued, already answered, timed out, cancelled, or
		// another user's: the same log line for all of them.
		l.log.Debug("mcp-response ignored: no such pending request", "correlation_id", id)
		return false
	}
	return l.finish(p, answer{jsonrpc: f.JSONRPC})
}

// LastClosed starts the disconnect grace of every pending call of a user
// whose last socket closed (restarting it if it ran). When it fires and the
// user still has no socket, the call fails with ErrDisconnected; if a
// socket is open again, the call keeps waiting, and the next last close
// starts a new grace.
func (l *Local) LastClosed(userID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.byUser[userID] {
		if p.grace != nil {
			p.grace.Stop()
		}
		p.grace = l.afterFunc(l.grace, func() {
			if l.sockets.UserCount(userID) == 0 {
				l.finish(p, answer{err: ErrDisconnected})
			}
		})
	}
}

// Pending is how many calls wait for an answer.
func (l *Local) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}
