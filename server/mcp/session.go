package mcp

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// ErrNoSession is what Sessions.Use returns for an id that names no live
// session of that user and agent: unknown, expired, deleted, or another
// user's or agent's. The bridge answers 404 without saying which.
var ErrNoSession = errors.New("mcp: no such session")

// Session is an MCP session (PROTOCOL §13.5): bound to one user and agent,
// expiring after SessionTTL without a request. Its id opens nothing
// without the user's apiKey; a table keeps the rest, which is not secret.
type Session struct {
	ID      string // a UUIDv4
	UserID  string
	AgentID string    // the path segment of /mcp/:agentId, as received
	Version string    // the negotiated protocol version
	Client  string    // clientInfo name and version, for logs
	Created time.Time // by the table's clock
}

// Sessions is the bridge's table of sessions: in this process
// (MemorySessions, the default), or shared by the nodes of a relay
// (server/cluster), where a client's requests may reach any node. Its
// methods are safe for concurrent use; errors other than ErrNoSession mean
// the table could not be reached, and the bridge answers 503.
type Sessions interface {
	// Create adds s, first evicting its user's least recently used
	// sessions beyond the table's cap.
	Create(ctx context.Context, s Session) error
	// Use returns the live session id of user and agent and restarts its
	// idle time, or ErrNoSession.
	Use(ctx context.Context, id, userID, agentID string) (Session, error)
	// Remove deletes s; removing a session that is gone is no error.
	Remove(ctx context.Context, s Session) error
	// RemoveUser deletes every session of a user.
	RemoveUser(ctx context.Context, userID string) error
	// Count is how many live sessions a user has, or everyone for "".
	Count(userID string) int
}

// Cancels carries notifications/cancelled between the bridges of a relay's
// nodes: the request it names waits on the node its POST reached, which
// need not be the node the notification reaches.
type Cancels interface {
	// Publish tells the other nodes that the client cancelled its request
	// requestID (raw JSON) of the session sessionID.
	Publish(sessionID string, requestID json.RawMessage)
	// Subscribe has fn called for each cancellation another node
	// publishes. The bridge subscribes once, in New.
	Subscribe(fn func(sessionID string, requestID json.RawMessage))
}

// MemorySessions is the table of one process: exact TTLs and LRU order.
// Expired sessions are forgotten when used, and by Prune.
type MemorySessions struct {
	ttl     time.Duration
	perUser int
	now     func() time.Time

	mu     sync.Mutex
	byID   map[string]*memSession
	byUser map[string]*list.List // of *memSession, most recently used first
}

type memSession struct {
	Session
	lastUsed time.Time
	elem     *list.Element // in its user's list
}

var _ Sessions = (*MemorySessions)(nil)

// NewMemorySessions returns an empty table of sessions living ttl after
// their last use, at most perUser per user; now is its clock (nil:
// time.Now).
func NewMemorySessions(ttl time.Duration, perUser int, now func() time.Time) *MemorySessions {
	if now == nil {
		now = time.Now
	}
	return &MemorySessions{ttl: ttl, perUser: perUser, now: now, byID: map[string]*memSession{}, byUser: map[string]*list.List{}}
}

// Create implements Sessions.
func (m *MemorySessions) Create(_ context.Context, s Session) error {
	ms := &memSession{Session: s, lastUsed: m.now()}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byUser[s.UserID]
	if l == nil {
		l = list.New()
		m.byUser[s.UserID] = l
	}
	for l.Len() >= m.perUser {
		m.removeLocked(l.Back().Value.(*memSession))
	}
	ms.elem = l.PushFront(ms)
	m.byID[s.ID] = ms
	return nil
}

// Use implements Sessions.
func (m *MemorySessions) Use(_ context.Context, id, userID, agentID string) (Session, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.byID[id]
	if ms == nil || ms.UserID != userID || ms.AgentID != agentID {
		return Session{}, ErrNoSession
	}
	if now.Sub(ms.lastUsed) >= m.ttl {
		m.removeLocked(ms)
		return Session{}, ErrNoSession
	}
	ms.lastUsed = now
	m.byUser[userID].MoveToFront(ms.elem)
	return ms.Session, nil
}

// Remove implements Sessions.
func (m *MemorySessions) Remove(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms := m.byID[s.ID]; ms != nil && ms.UserID == s.UserID {
		m.removeLocked(ms)
	}
	return nil
}

// RemoveUser implements Sessions.
func (m *MemorySessions) RemoveUser(_ context.Context, userID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.byUser[userID]; l != nil {
		for e := l.Front(); e != nil; {
			next := e.Next()
			m.removeLocked(e.Value.(*memSession))
			e = next
		}
	}
	return nil
}

// removeLocked forgets ms. Lock must be held.
func (m *MemorySessions) removeLocked(ms *memSession) {
	delete(m.byID, ms.ID)
	l := m.byUser[ms.UserID]
	l.Remove(ms.elem)
	if l.Len() == 0 {
		delete(m.byUser, ms.UserID)
	}
}

// Prune forgets the expired sessions and returns how many.
func (m *MemorySessions) Prune() int {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, l := range m.byUser {
		// Least recently used last: stop at the first live one.
		for e := l.Back(); e != nil; {
			ms := e.Value.(*memSession)
			if now.Sub(ms.lastUsed) < m.ttl {
				break
			}
			e = e.Prev()
			m.removeLocked(ms)
			n++
		}
	}
	return n
}

// Count implements Sessions; expired sessions not yet pruned are not
// counted.
func (m *MemorySessions) Count(userID string) int {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var lists []*list.List
	if userID == "" {
		for _, l := range m.byUser {
			lists = append(lists, l)
		}
	} else if l := m.byUser[userID]; l != nil {
		lists = append(lists, l)
	}
	n := 0
	for _, l := range lists {
		for e := l.Front(); e != nil; e = e.Next() {
			if now.Sub(e.Value.(*memSession).lastUsed) >= m.ttl {
				break
			}
			n++
		}
	}
	return n
}

// shortID is the first 8 characters of a session id: enough for logs, not
// enough to use (PROTOCOL §13.9).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
