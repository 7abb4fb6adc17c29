package live

import (
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// What the hub remembers of closed sockets, for the admin: every record for
// an hour, at most closedPerUser of a user and closedUsers users, so that a
// reconnect storm cannot grow it.
const (
	closedKeep    = time.Hour
	closedPerUser = 10
	closedUsers   = 1000
)

// ClientInfo is what the caller knows of a socket's client at the handshake.
type ClientInfo struct {
	RemoteAddr string // the client IP (PROTOCOL §1.9)
	UserAgent  string
}

// identity is what never changes about a socket; records of its writes
// (writeLog) and of its close keep it after the socket is gone.
type identity struct {
	seq         uint64
	userID      string
	node        string
	client      ClientInfo
	connectedAt time.Time
}

// ConnState is a socket as the admin sees it: an open one, or one closed
// within the last hour.
type ConnState struct {
	ID          uint64 // orders the relay's sockets by when their upgrade began
	UserID      string
	Node        string // the relay node that holds the socket ("" on a single relay)
	RemoteAddr  string
	UserAgent   string
	ConnectedAt time.Time
	// Cursor is the timestamp of the last message written to the socket, or
	// where it started (its since, or the replay window) before the first.
	Cursor time.Time
	// Lag is how many messages were committed for the socket and not yet
	// written to it, counted once its replay is complete (Replaying false).
	Lag       int64
	Replaying bool
	// Closed is set once the socket is closed, with the close code the relay
	// counted (relay_websocket_closed_total) and its reason.
	Closed      bool
	ClosedAt    time.Time
	CloseCode   int
	CloseReason string
	ClosedBy    string // "relay", "client", or "" when the connection dropped (1006)
}

// closedConns holds the records of closed sockets; its lock is a leaf, never
// held with Hub.mu or a Conn's.
type closedConns struct {
	mu     sync.Mutex
	byUser map[string][]ConnState // oldest first
}

// state is c's record now. c.mu must not be held.
func (c *Conn) state() ConnState {
	id := c.id
	st := ConnState{ID: c.seq, UserID: c.user.ID, Cursor: time.UnixMilli(c.shown.Load()).UTC(),
		Lag: c.unread.Load(), Replaying: !c.caught.Load()}
	if id != nil {
		st.Node, st.RemoteAddr, st.UserAgent, st.ConnectedAt = id.node, id.client.RemoteAddr, id.client.UserAgent, id.connectedAt
	}
	if st.Lag < 0 || st.Replaying {
		st.Lag = 0 // the counter runs ahead of the cursor for a moment after a write
	}
	c.mu.Lock()
	if c.closeCode != 0 {
		st.Closed, st.ClosedAt, st.CloseCode, st.CloseReason, st.ClosedBy = true, c.closedAt, c.closeCode, c.closeReason, c.closedBy
	}
	c.mu.Unlock()
	return st
}

// retire keeps the record of a socket that has been unregistered (once).
func (h *Hub) retire(c *Conn) {
	if c.id == nil || !c.retired.CompareAndSwap(false, true) {
		return
	}
	st := c.state()
	if !st.Closed { // closed without a close frame from either side
		st.Closed, st.ClosedAt, st.CloseCode = true, h.now().UTC(), 1006
	}
	cc := &h.closedConns
	cc.mu.Lock()
	defer cc.mu.Unlock()
	now := h.now()
	list := dropExpired(cc.byUser[st.UserID], now)
	if len(list) >= closedPerUser {
		list = slices.Delete(list, 0, len(list)-closedPerUser+1)
	}
	cc.byUser[st.UserID] = append(list, st)
	if len(cc.byUser) > closedUsers {
		cc.evictOldest(now)
	}
}

// evictOldest forgets expired records and then, while there are too many
// users, the user whose newest record is the oldest. Lock must be held.
func (cc *closedConns) evictOldest(now time.Time) {
	for u, list := range cc.byUser {
		if list = dropExpired(list, now); len(list) == 0 {
			delete(cc.byUser, u)
		} else {
			cc.byUser[u] = list
		}
	}
	for len(cc.byUser) > closedUsers {
		var oldest string
		var at time.Time
		for u, list := range cc.byUser {
			if last := list[len(list)-1].ClosedAt; oldest == "" || last.Before(at) {
				oldest, at = u, last
			}
		}
		delete(cc.byUser, oldest)
	}
}

// dropExpired returns list without the records closed before closedKeep.
func dropExpired(list []ConnState, now time.Time) []ConnState {
	i := 0
	for i < len(list) && now.Sub(list[i].ClosedAt) > closedKeep {
		i++
	}
	if i == 0 {
		return list
	}
	return slices.Clone(list[i:])
}

// Connections returns the open sockets of a user ("" for every user) and
// those closed within the last hour, newest first.
func (h *Hub) Connections(userID string) []ConnState {
	var open []*Conn
	if userID == "" {
		open = h.all()
	} else {
		open = h.userConns(userID)
	}
	out := make([]ConnState, 0, len(open))
	for _, c := range open {
		out = append(out, c.state())
	}
	now := h.now()
	keep := func(list []ConnState) {
		for _, st := range list {
			if now.Sub(st.ClosedAt) <= closedKeep {
				out = append(out, st)
			}
		}
	}
	cc := &h.closedConns
	cc.mu.Lock()
	if userID != "" {
		keep(cc.byUser[userID])
	} else {
		for _, list := range cc.byUser {
			keep(list)
		}
	}
	cc.mu.Unlock()
	slices.SortFunc(out, func(a, b ConnState) int {
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	return out
}

// observeLag samples the lag of every socket whose replay is complete into
// relay_websocket_lag_messages. It runs with each ping round, off the
// delivery path.
func (h *Hub) observeLag(conns []*Conn) {
	for _, c := range conns {
		if c.caught.Load() {
			h.metrics.lag.Observe(float64(max(0, c.unread.Load())))
		}
	}
}

// closed records how the socket closed: by whom, with which code and
// reason. A connection that dropped (1006) was closed by neither side.
// c.mu must be held.
func (c *Conn) closed(code int, reason, by string) {
	if code == websocket.CloseAbnormalClosure {
		by = ""
	}
	c.closeCode, c.closeReason, c.closedBy, c.closedAt = code, reason, by, c.h.now().UTC()
}
