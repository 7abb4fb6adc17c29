package admin

import (
	"context"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// Operations is what the operator views need from the running relay besides
// the store: its sockets and pollers, what it remembers of recent
// deliveries, its traffic per minute, when channels last received a message,
// and retrying a channel's failed deliveries. The records are in memory and
// bounded; a restart empties them.
type Operations interface {
	// Connections returns a user's ("" for every user) open WebSockets and
	// those closed within the last hour, newest first.
	Connections(userID string) []Connection
	// Pollers returns the sessions that polled GET /messages, of one user or
	// of all (""), newest poll first.
	Pollers(userID string) []Poller
	// Trace returns what the relay remembers of a stored message beyond the
	// store: its ingest, the sockets it was written to and the polls that
	// fetched it.
	Trace(m storage.Message) Trace
	// Traffic returns the last 24 hours minute by minute, oldest first; the
	// last entry is the current minute so far.
	Traffic() []Minute
	// LastInbound is when the channel last stored an inbound message since
	// the relay started (zero: not since then).
	LastInbound(channelID string) time.Time
	// RetryChannel makes every failed delivery of a channel pending again
	// and returns how many; storage.ErrNotFound when the channel is gone.
	RetryChannel(ctx context.Context, channelID string) (int, error)
}

// Connection is a WebSocket, open or closed within the last hour.
type Connection struct {
	ID          uint64 // orders the relay's sockets by when they connected
	UserID      string
	Node        string // the relay node holding it ("" on a single relay)
	RemoteAddr  string // the client IP (PROTOCOL §1.9)
	UserAgent   string
	ConnectedAt time.Time
	// Cursor is the timestamp of the last message written to the socket
	// (where it started, before the first).
	Cursor time.Time
	// Lag is how many messages were committed for the socket and not yet
	// written to it; Replaying while its replay is not complete (no lag
	// counted yet).
	Lag       int64
	Replaying bool
	// Closed sockets: when, with which close code and reason, and by whom
	// ("relay", "client", or "" when the connection dropped).
	Closed      bool
	ClosedAt    time.Time
	CloseCode   int
	CloseReason string
	ClosedBy    string
}

// Poller is a session that polls GET /messages, as its last poll left it.
type Poller struct {
	UserID     string
	Node       string
	RemoteAddr string
	UserAgent  string
	LastPoll   time.Time
	Cursor     time.Time // the since its last poll answered
	Polls      int       // since the relay started
}

// Trace is what the relay remembers of a message's way through it.
type Trace struct {
	// Received and Stored: when ingest took the message and when its commit
	// returned (zero when no longer remembered).
	Received, Stored time.Time
	Writes           []Write // oldest first
	Fetches          []Fetch // oldest first
}

// Write is a message written to a socket.
type Write struct {
	At   time.Time
	Conn Connection // the socket as it opened (its ID, node, client)
}

// Fetch is a poll that returned a message.
type Fetch struct {
	At         time.Time
	Node       string
	RemoteAddr string
	UserAgent  string
}

// Minute is the relay's traffic in one minute.
type Minute struct {
	Start       time.Time
	In          int           // inbound messages stored
	Out         int           // replies accepted
	Failures    int           // failed delivery attempts
	Sockets     int           // open WebSockets, sampled
	LatencyMean time.Duration // ingest latency of the minute's messages
	LatencyMax  time.Duration
}
