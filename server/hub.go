package server

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// hub knows every open WebSocket by user. A commit only wakes the user's
// connections (notify); each connection's writer then reads what is new from
// the store (or takes another socket's read, see sharedPage), so a
// notification can never be lost or duplicated, and a publisher never waits
// for a socket.
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

	// commits counts notifications, each after its message is in the store;
	// pages holds each user's newest shared read (see sharedPage).
	commits atomic.Uint64
	pages   map[string]*sharedPage

	// wg counts every connection goroutine (readers, writers, closers), so
	// shutdown can wait for all of them before the store closes.
	wg sync.WaitGroup
}

func newHub() *hub {
	return &hub{users: map[string][]*wsConn{}, frames: newFrameCache(), pages: map[string]*sharedPage{}}
}

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
		delete(h.pages, c.user.ID)
	} else {
		h.users[c.user.ID] = conns
	}
	h.count.Add(-1)
}

// notify wakes the user's connections after a message of theirs committed.
func (h *hub) notify(userID string) {
	h.commits.Add(1) // before any wake: see sharedPage
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

// sharedPageMax is the longest read shared between a user's sockets: live
// delivery reads a few messages at a time, and a bound keeps what a user's
// last read holds small.
const sharedPageMax = 16

// sharedPage is a read of a user's messages that the user's other sockets may
// reuse: a commit wakes every socket of the user, and under fan-out they would
// each read the same messages from the store.
//
// commits is read before the store read, and notify counts a commit only after
// its message is in the store, so the page holds every message committed after
// cursor up to the count gen. A socket reads the count after clearing its dirty
// flag; any commit counted later wakes it again. So the page serves a socket
// whose count is at most gen: every commit the socket must see is in it.
type sharedPage struct {
	cursor time.Time
	gen    uint64
	msgs   []storage.Message // read-only: the sockets share it
	left   int               // other sockets that may still use it
}

// sharedRead returns the page of the user's messages after cursor that
// another socket read, if it holds every commit counted up to gen.
func (h *hub) sharedRead(userID string, cursor time.Time, gen uint64) ([]storage.Message, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pages[userID]
	if p == nil || p.gen < gen || !p.cursor.Equal(cursor) {
		return nil, false
	}
	if p.left--; p.left <= 0 {
		delete(h.pages, userID)
	}
	return p.msgs, true
}

// share offers a complete read (no more messages after msgs) to the user's
// other sockets; gen is the count of commits read before the store read.
func (h *hub) share(userID string, cursor time.Time, gen uint64, msgs []storage.Message) {
	if len(msgs) > sharedPageMax {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	others := len(h.users[userID]) - 1
	if others <= 0 {
		return // no other socket, or the user is gone: nobody to share with
	}
	if p := h.pages[userID]; p != nil && p.gen > gen {
		return // a newer read is already shared
	}
	h.pages[userID] = &sharedPage{cursor: cursor, gen: gen, msgs: msgs, left: others}
}
