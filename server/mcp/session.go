package mcp

import (
	"container/list"
	"sync"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// session is an MCP session (PROTOCOL §13.5): bound to one user and agent,
// in memory only, expiring after SessionTTL without a request.
type session struct {
	id, userID, agentID string
	version             string // negotiated protocol version
	client              string // clientInfo name/version, for logs
	created             time.Time
	lastUsed            time.Time
	elem                *list.Element // in its user's LRU list

	// inflight are the session's forwarded requests by request id (idKey),
	// for notifications/cancelled. Guarded by sessions.mu.
	inflight map[string]*tracked
}

// tracked is a forwarded request that notifications/cancelled may cancel.
type tracked struct{ cancel func(error) }

// sessions holds every live session. Each user's sessions are in a list,
// most recently used first, so that the oldest is evicted beyond the cap.
type sessions struct {
	ttl     time.Duration
	perUser int
	now     func() time.Time

	mu     sync.Mutex
	byID   map[string]*session
	byUser map[string]*list.List // of *session
}

func newSessions(ttl time.Duration, perUser int, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, perUser: perUser, now: now, byID: map[string]*session{}, byUser: map[string]*list.List{}}
}

// create starts a session of user and agent, evicting the user's least
// recently used session beyond the cap.
func (s *sessions) create(userID, agentID, version, client string) *session {
	now := s.now()
	ss := &session{id: storage.NewID(), userID: userID, agentID: agentID, version: version, client: client,
		created: now, lastUsed: now, inflight: map[string]*tracked{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.byUser[userID]
	if l == nil {
		l = list.New()
		s.byUser[userID] = l
	}
	for l.Len() >= s.perUser {
		s.removeLocked(l.Back().Value.(*session))
	}
	ss.elem = l.PushFront(ss)
	s.byID[ss.id] = ss
	return ss
}

// use returns the live session id of user and agent and restarts its TTL;
// ok is false when there is none (unknown, expired, deleted, or another
// user's or agent's: the caller cannot tell which).
func (s *sessions) use(id, userID, agentID string) (*session, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[id]
	if ss == nil || ss.userID != userID || ss.agentID != agentID {
		return nil, false
	}
	if now.Sub(ss.lastUsed) >= s.ttl {
		s.removeLocked(ss)
		return nil, false
	}
	ss.lastUsed = now
	s.byUser[userID].MoveToFront(ss.elem)
	return ss, true
}

// remove deletes a session (DELETE /mcp/:agentId).
func (s *sessions) remove(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(ss)
}

// removeUser deletes every session of a user (the admin deleted it).
func (s *sessions) removeUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.byUser[userID]; l != nil {
		for e := l.Front(); e != nil; {
			next := e.Next()
			s.removeLocked(e.Value.(*session))
			e = next
		}
	}
}

// removeLocked forgets ss (idempotent). Lock must be held.
func (s *sessions) removeLocked(ss *session) {
	if s.byID[ss.id] != ss {
		return
	}
	delete(s.byID, ss.id)
	l := s.byUser[ss.userID]
	l.Remove(ss.elem)
	if l.Len() == 0 {
		delete(s.byUser, ss.userID)
	}
}

// prune forgets the expired sessions and returns how many.
func (s *sessions) prune() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.byUser {
		// Least recently used last: stop at the first live one.
		for e := l.Back(); e != nil; {
			ss := e.Value.(*session)
			if now.Sub(ss.lastUsed) < s.ttl {
				break
			}
			e = e.Prev()
			s.removeLocked(ss)
			n++
		}
	}
	return n
}

// count is the number of live sessions of a user ("" : of everyone),
// expired ones not yet pruned excluded.
func (s *sessions) count(userID string) int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var lists []*list.List
	if userID == "" {
		for _, l := range s.byUser {
			lists = append(lists, l)
		}
	} else if l := s.byUser[userID]; l != nil {
		lists = append(lists, l)
	}
	n := 0
	for _, l := range lists {
		for e := l.Front(); e != nil; e = e.Next() {
			if now.Sub(e.Value.(*session).lastUsed) >= s.ttl {
				break
			}
			n++
		}
	}
	return n
}

// track registers a forwarded request of the session under its request id
// key, with the function that cancels it; the returned func forgets it.
func (s *sessions) track(ss *session, key string, cancel func(error)) (untrack func()) {
	t := &tracked{cancel: cancel}
	s.mu.Lock()
	ss.inflight[key] = t
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if ss.inflight[key] == t { // a later request may reuse the id
			delete(ss.inflight, key)
		}
	}
}

// cancel cancels the session's forwarded request of that id key, if one is
// in flight, and reports whether there was one.
func (s *sessions) cancel(ss *session, key string, cause error) bool {
	s.mu.Lock()
	t := ss.inflight[key]
	s.mu.Unlock()
	if t == nil {
		return false
	}
	t.cancel(cause)
	return true
}

// shortID is the first 8 characters of a session id: enough for logs, not
// enough to use (PROTOCOL §13.9).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
