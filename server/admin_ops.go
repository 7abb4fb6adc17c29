package server

import (
	"context"
	"time"

	"github.com/chaos-relay/relay/admin"
	"github.com/chaos-relay/relay/server/activity"
	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/storage"
)

// The operator views (admin.Operations), from the hub's records of its
// sockets and the server's (ops.go).

func (a adminRelay) Connections(userID string) []admin.Connection {
	states := a.s.hub.Connections(userID)
	out := make([]admin.Connection, len(states))
	for i, st := range states {
		out[i] = toAdminConn(st)
	}
	return out
}

func toAdminConn(st live.ConnState) admin.Connection {
	return admin.Connection{ID: st.ID, UserID: st.UserID, Node: st.Node, RemoteAddr: st.RemoteAddr, UserAgent: st.UserAgent,
		ConnectedAt: st.ConnectedAt, Cursor: st.Cursor, Lag: st.Lag, Replaying: st.Replaying, Closed: st.Closed,
		ClosedAt: st.ClosedAt, CloseCode: st.CloseCode, CloseReason: st.CloseReason, ClosedBy: st.ClosedBy}
}

func (a adminRelay) Pollers(userID string) []admin.Poller {
	list := a.s.ops.polls.Pollers(userID)
	out := make([]admin.Poller, len(list))
	for i, p := range list {
		out[i] = admin.Poller{UserID: p.UserID, Node: p.Node, RemoteAddr: p.RemoteAddr, UserAgent: p.UserAgent,
			LastPoll: p.LastPoll, Cursor: p.Cursor, Polls: p.Polls}
	}
	return out
}

func (a adminRelay) Trace(m storage.Message) admin.Trace {
	var tr admin.Trace
	if in, ok := a.s.ops.ingests.Find(m.ID); ok {
		tr.Received, tr.Stored = in.Received, in.Stored
	}
	for _, w := range a.s.hub.Writes(m.UserID, m.Timestamp) {
		tr.Writes = append(tr.Writes, admin.Write{At: w.At, Conn: toAdminConn(w.Conn)})
	}
	for _, p := range a.s.ops.polls.Fetches(m.UserID, m.Timestamp) {
		tr.Fetches = append(tr.Fetches, admin.Fetch{At: p.At, Node: p.Node, RemoteAddr: p.RemoteAddr, UserAgent: p.UserAgent})
	}
	return tr
}

func (a adminRelay) Traffic() []admin.Minute {
	a.s.sampleSockets() // the current minute shows the sockets open now
	series := a.s.ops.minutes.Series()
	out := make([]admin.Minute, len(series))
	for i, m := range series {
		out[i] = toAdminMinute(m)
	}
	return out
}

func toAdminMinute(m activity.Minute) admin.Minute {
	return admin.Minute{Start: m.Start, In: m.In, Out: m.Out, Failures: m.Failures, Sockets: m.Sockets,
		LatencyMean: m.LatencyMean(), LatencyMax: m.LatencyMax}
}

func (a adminRelay) LastInbound(channelID string) time.Time { return a.s.ops.inbound.Get(channelID) }

// RetryChannel puts a channel's failed deliveries back in the queue
// (outbox.RetryChannel).
func (a adminRelay) RetryChannel(ctx context.Context, channelID string) (int, error) {
	return a.s.outbox.RetryChannel(ctx, channelID)
}
