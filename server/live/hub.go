// Package live delivers stored messages to WebSocket clients (PROTOCOL §6).
//
// A commit only wakes the user's sockets (Notify); each socket's writer then
// reads what is new from the store after its own cursor, so replay and live
// delivery are one path, a notification can never be lost or duplicated, and
// a publisher never waits for a socket. The Hub knows every open socket by
// user; the caller authenticates the handshake, encodes message frames
// (Options.Encode) and handles the frames clients send (Options.Handler).
package live

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
)

// Close codes and reasons (PROTOCOL §6.9).
const (
	CloseGoingAway      = websocket.CloseGoingAway       // 1001
	CloseSessionDeleted = websocket.ClosePolicyViolation // 1008: the extension stops reconnecting
	CloseTooBig         = websocket.CloseMessageTooBig   // 1009
	CloseSlow           = websocket.CloseTryAgainLater   // 1013
	CloseTooMany        = 4001

	ReasonShutdown       = "Server shutting down"
	ReasonSessionDeleted = "Session deleted"
	ReasonTooBig         = "Message too big"
	ReasonSlow           = "Slow consumer: reconnect with since"
	ReasonTooMany        = "Too many connections for this session"
	ReasonCutOff         = "This node lost its store: reconnect"
)

// Messages reads a user's stored messages after a cursor; the store
// implements it.
type Messages interface {
	MessagesAfter(ctx context.Context, userID string, after time.Time, limit int) ([]storage.Message, bool, error)
}

// Handler handles the text frames clients send. It runs on the socket's
// reader goroutine, so a slow handler delays that socket's reads only.
type Handler interface {
	HandleFrame(c *Conn, data []byte)
}

// Options are the hub's collaborators besides its store.
type Options struct {
	Log *slog.Logger // required
	// Registry receives the WebSocket metrics (nil: not registered).
	Registry prometheus.Registerer
	// Encode renders a message frame; the wire format is the caller's.
	Encode func(storage.Message) ([]byte, error)
	// Handler handles client frames (nil: they are ignored).
	Handler Handler
	// LastClosed, when set, is called after a user's last open socket was
	// unregistered (on that socket's reader goroutine, without the hub's
	// locks held): a caller waiting for an answer from the user's sockets
	// learns that none is left.
	LastClosed func(userID string)
	// Node names this relay in the admin's records of sockets ("" on a
	// single relay).
	Node string
	// Opened and Closed, when set, hear every socket registered and
	// unregistered (its user, its id in this hub, when it opened): the
	// registry of the sockets of every node of a relay, which counts the
	// per-user cap across nodes (CloseIDs closes the ones beyond it here).
	Opened func(userID string, id uint64, at time.Time)
	Closed func(userID string, id uint64)
}

// Hub knows every open WebSocket by user.
//
// Lock order: Hub.mu before Conn.mu. Neither is held while writing to a
// socket. closedConns.mu and gmu are leaves.
type Hub struct {
	cfg      Config
	msgs     Messages
	log      *slog.Logger
	handler  Handler
	gone     func(userID string) // Options.LastClosed
	frames   *frameCache
	upgrader *websocket.Upgrader
	metrics  *metrics

	mu     sync.Mutex
	users  map[string][]*Conn // oldest first
	closed bool               // shutting down: no new connections
	count  atomic.Int64       // registered connections
	seq    atomic.Uint64      // orders connections by when their upgrade began

	// commits counts notifications, each after its message is in the store;
	// pages holds each user's newest shared read (see sharedPage).
	commits atomic.Uint64
	pages   map[string]*sharedPage

	// wg counts every connection goroutine (readers, writers, closers), so
	// shutdown can wait for all of them before the store closes.
	wg sync.WaitGroup

	// grants are the larger frame sizes some users' sockets may read (see
	// Grant); a leaf lock, never held with mu.
	gmu    sync.Mutex
	grants map[string]map[string]*grant // user → frame type → grant

	// What the admin sees of sockets (state.go, writelog.go).
	node        string
	opened      func(userID string, id uint64, at time.Time) // Options.Opened
	closedHook  func(userID string, id uint64)               // Options.Closed
	now         func() time.Time
	closedConns closedConns
	writes      *writeLog
}

// New builds a hub reading messages from msgs.
func New(cfg Config, msgs Messages, opts Options) *Hub {
	h := &Hub{cfg: cfg, msgs: msgs, log: opts.Log, handler: opts.Handler, gone: opts.LastClosed,
		frames: newFrameCache(opts.Encode), upgrader: newUpgrader(),
		users: map[string][]*Conn{}, pages: map[string]*sharedPage{}, grants: map[string]map[string]*grant{},
		node: opts.Node, opened: opts.Opened, closedHook: opts.Closed, now: time.Now, closedConns: closedConns{byUser: map[string][]ConnState{}}, writes: &writeLog{}}
	h.metrics = newMetrics(opts.Registry, h)
	return h
}

// newUpgrader accepts every Origin: the extension connects from a
// chrome-extension:// origin, and the token, not the origin, authenticates.
// Write buffers come from a pool, so an idle socket holds none. The read
// buffer is the hijacker's (ReadBufferSize 0 makes gorilla adopt it).
func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true },
	}
}

// Serve upgrades an authenticated request and serves the socket: the first
// frames given, then messages of user after cursor, then every message as it
// commits. The caller answers refused handshakes itself; once Serve is called
// the upgrader answers. client is what the admin is shown of the socket's
// client.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, user storage.User, cursor time.Time, client ClientInfo, first ...[]byte) {
	hj := &hijacker{ResponseWriter: w}
	// Both before the 101: the order clients see (add), and across the
	// nodes of a relay, whose registry orders sockets by opening time.
	seq, at := h.seq.Add(1), h.now().UTC()
	ws, err := h.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := &Conn{h: h, ws: ws, br: hj.br, conn: hj.conn, user: user, cursor: cursor, seq: seq,
		id: &identity{seq: seq, userID: user.ID, node: h.node, client: client, connectedAt: at}}
	c.shown.Store(cursor.UnixMilli())
	evicted, ok := h.add(c)
	if !ok {
		c.close(CloseGoingAway, ReasonShutdown)
		return
	}
	for _, old := range evicted {
		h.notifyClosed(old)
		h.closeAsync(old, CloseTooMany, ReasonTooMany)
	}
	if h.opened != nil { // before the reader starts, which may unregister c
		h.opened(user.ID, seq, c.id.connectedAt)
	}
	go c.readLoop()
	for _, f := range first {
		c.Send(f) // written before any message: the writer sends queued frames first
	}
	c.wake() // replay
}

// add registers c and counts its reader, which the caller starts. It returns
// the connections that exceed the per-user cap, oldest first, for the caller
// to close; ok is false when the hub is shutting down. Age is c.seq, taken
// before the handshake's answer: a client that opens a connection after
// another one's handshake completed has the newer one, even if the older one
// registers last (then it is the one evicted).
func (h *Hub) add(c *Conn) (evicted []*Conn, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	conns := h.users[c.user.ID]
	i := slices.IndexFunc(conns, func(o *Conn) bool { return o.seq > c.seq })
	if i < 0 {
		i = len(conns)
	}
	conns = slices.Insert(conns, i, c)
	if n := len(conns) - h.cfg.MaxConnPerUser; n > 0 {
		evicted = slices.Clone(conns[:n])
		conns = slices.Delete(conns, 0, n)
	}
	h.users[c.user.ID] = conns
	h.count.Add(1 - int64(len(evicted))) // evicted ones are no longer registered
	h.wg.Add(1)
	return evicted, true
}

// remove forgets c (idempotent), and reports a user's last socket to
// Options.LastClosed.
func (h *Hub) remove(c *Conn) {
	last, found := h.unregister(c)
	if found {
		h.notifyClosed(c)
	}
	h.retire(c)
	if last && h.gone != nil {
		h.gone(c.user.ID)
	}
}

// notifyClosed tells Options.Closed that c is no longer registered.
func (h *Hub) notifyClosed(c *Conn) {
	if h.closedHook != nil {
		h.closedHook(c.user.ID, c.seq)
	}
}

// unregister forgets c; found is false when it was not registered (evicted
// already), last true when it was the user's last socket.
func (h *Hub) unregister(c *Conn) (last, found bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	conns := h.users[c.user.ID]
	i := slices.Index(conns, c)
	if i < 0 {
		return false, false
	}
	conns = slices.Delete(conns, i, i+1)
	if len(conns) == 0 {
		delete(h.users, c.user.ID)
		delete(h.pages, c.user.ID)
	} else {
		h.users[c.user.ID] = conns
	}
	h.count.Add(-1)
	return len(conns) == 0, true
}

// Notify wakes the user's sockets after a message of theirs committed.
func (h *Hub) Notify(userID string) {
	h.commits.Add(1) // before any wake: see sharedPage
	for _, c := range h.userConns(userID) {
		c.committed()
	}
}

// Send queues a text frame on every socket of the user and returns how many
// sockets it was queued on.
func (h *Hub) Send(userID string, frame []byte) int {
	conns := h.userConns(userID)
	for _, c := range conns {
		c.Send(frame)
	}
	return len(conns)
}

// CloseUser closes every socket of a user with code (a deleted session gets
// CloseSessionDeleted, so the extension stops reconnecting).
func (h *Hub) CloseUser(userID string, code int, reason string) {
	for _, c := range h.userConns(userID) {
		h.closeAsync(c, code, reason)
	}
}

// CloseIDs closes the user's sockets with the given ids (those beyond the
// per-user cap counted on every node of a relay).
func (h *Hub) CloseIDs(userID string, ids []uint64, code int, reason string) {
	for _, c := range h.userConns(userID) {
		if slices.Contains(ids, c.seq) {
			h.closeAsync(c, code, reason)
		}
	}
}

// CloseAll closes every open socket with code, and goes on accepting new
// ones (a node of a relay cut off from its store sends its clients to the
// other nodes; Shutdown is the final close).
func (h *Hub) CloseAll(code int, reason string) {
	for _, c := range h.all() {
		h.closeAsync(c, code, reason)
	}
}

// Count is how many sockets are open.
func (h *Hub) Count() int { return int(h.count.Load()) }

// UserCount is how many sockets a user has open.
func (h *Hub) UserCount(userID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.users[userID])
}

// Run pings every socket each PingInterval until ctx is done.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			conns := h.all()
			for _, c := range conns {
				c.sendPing()
			}
			h.observeLag(conns)
		}
	}
}

// Shutdown refuses new connections and closes the open ones with code; Wait
// then waits for every socket goroutine.
func (h *Hub) Shutdown(code int, reason string) {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	for _, c := range h.all() {
		h.closeAsync(c, code, reason)
	}
}

// Wait returns once every socket goroutine has returned.
func (h *Hub) Wait() { h.wg.Wait() }

func (h *Hub) userConns(userID string) []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.users[userID])
}

// all returns every open connection.
func (h *Hub) all() []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Conn
	for _, conns := range h.users {
		out = append(out, conns...)
	}
	return out
}

// closeAsync closes c with a close frame without making the caller wait for
// c's socket.
func (h *Hub) closeAsync(c *Conn, code int, reason string) {
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
// commits is read before the store read, and Notify counts a commit only after
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
func (h *Hub) sharedRead(userID string, cursor time.Time, gen uint64) ([]storage.Message, bool) {
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
func (h *Hub) share(userID string, cursor time.Time, gen uint64, msgs []storage.Message) {
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
