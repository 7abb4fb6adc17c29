package server

import (
	"slices"
	"sync"
	"sync/atomic"
)

// hub knows every open WebSocket by user. A commit only wakes the user's
// connections (notify); each connection's writer then reads what is new from
// the store, so a notification can never be lost or duplicated, and a
// publisher never waits for a socket.
//
// Lock order: hub.mu before wsConn.mu. Neither is held while writing to a
// socket.
type hub struct {
	mu     sync.Mutex
	users  map[string][]*wsConn // oldest first
	closed bool                 // shutting down: no new connections
	count  atomic.Int64         // registered connections
	seq    atomic.Uint64        // orders connections by when their upgrade began
	frames *frameCache

	// wg counts every connection goroutine (readers, writers, closers), so
	// shutdown can wait for all of them before the store closes.
	wg sync.WaitGroup
}

func newHub() *hub { return &hub{users: map[string][]*wsConn{}, frames: newFrameCache()} }

// add registers c and counts its reader, which the caller starts. It returns
// the connections that exceed the per-user cap, oldest first, for the caller
// to close; ok is false when the hub is shutting down. Age is c.seq, taken
// before the handshake's answer: a client that opens a connection after
// another one's handshake completed has the newer one, even if the older one
// registers last (then it is the one evicted).
func (h *hub) add(c *wsConn, max int) (evicted []*wsConn, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	conns := h.users[c.user.ID]
	i := slices.IndexFunc(conns, func(o *wsConn) bool { return o.seq > c.seq })
	if i < 0 {
		i = len(conns)
	}
	conns = slices.Insert(conns, i, c)
	if n := len(conns) - max; n > 0 {
		evicted = slices.Clone(conns[:n])
		conns = slices.Delete(conns, 0, n)
	}
	h.users[c.user.ID] = conns
	h.count.Add(1 - int64(len(evicted))) // evicted ones are no longer registered
	h.wg.Add(1)
	return evicted, true
}

// remove forgets c (idempotent).
func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	conns := h.users[c.user.ID]
	i := slices.Index(conns, c)
	if i < 0 {
		return
	}
	conns = slices.Delete(conns, i, i+1)
	if len(conns) == 0 {
		delete(h.users, c.user.ID)
	} else {
		h.users[c.user.ID] = conns
	}
	h.count.Add(-1)
}

// notify wakes the user's connections after a message of theirs committed.
func (h *hub) notify(userID string) {
	h.mu.Lock()
	conns := slices.Clone(h.users[userID])
	h.mu.Unlock()
	for _, c := range conns {
		c.committed()
	}
}

// all returns every open connection.
func (h *hub) all() []*wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*wsConn
	for _, conns := range h.users {
		out = append(out, conns...)
	}
	return out
}

// closeUser closes every connection of a user with code (a deleted session
// gets 1008, so the extension stops reconnecting).
func (h *hub) closeUser(userID string, code int, reason string) {
	h.mu.Lock()
	conns := slices.Clone(h.users[userID])
	h.mu.Unlock()
	for _, c := range conns {
		h.closeAsync(c, code, reason)
	}
}

// userCount is how many connections a user has open.
func (h *hub) userCount(userID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.users[userID])
}

// shutdown refuses new connections and closes the open ones with code.
func (h *hub) shutdown(code int, reason string) {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	for _, c := range h.all() {
		h.closeAsync(c, code, reason)
	}
}

// closeAsync closes c with a close frame without making the caller wait for
// c's socket.
func (h *hub) closeAsync(c *wsConn, code int, reason string) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		c.close(code, reason)
	}()
}
