package server

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-relay/relay/admin"
	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/server/mcp"
)

// Cluster is what the nodes of one relay share (server/cluster, over NATS,
// assembled by cmd/relay/app). A relay of one node has none, and then every
// part of it is local to the process.
type Cluster interface {
	// Node is this node's id, shown beside its sockets, polls and leases.
	Node() string
	// Joined reports whether the node has joined the others: until then
	// it answers /health with 503, as when its store cannot be reached.
	Joined() bool
	// UseNonce records a signed request's nonce for every node: false when
	// some node has seen it within the nonces' lifetime (a replay).
	UseNonce(ctx context.Context, userID string, key [16]byte) (fresh bool, err error)
	// SocketOpened and SocketClosed keep the registry of every node's
	// sockets; they must not block.
	SocketOpened(userID, connID string, opened time.Time)
	SocketClosed(userID, connID string)
	// OnExcess asks to be told which of this node's sockets are beyond the
	// per-user cap counted on every node, the oldest anywhere first.
	OnExcess(limit int, fn func(userID string, connIDs []string))
	// Forwarder reaches a user's extension on whichever node holds its
	// sockets; local is this node's.
	Forwarder(local mcp.Forwarder, localCount func(userID string) int) mcp.Forwarder
	// MCPSessions are the MCP bridge's sessions, shared by every node (cfg
	// gives their lifetime and cap), and the way its notifications/cancelled
	// reach the node that forwarded the request they name.
	MCPSessions(cfg mcp.Config) (mcp.Sessions, mcp.Cancels)
	// Lease is a named lease, held by one node at a time.
	Lease(name string) channels.Lease
	// OnLeaseFreed asks to be told the name of every lease starting with
	// prefix that a node gives up or lets expire (it died); fn must not
	// block.
	OnLeaseFreed(prefix string, fn func(name string))
	// Nodes are the live nodes, for the dashboard.
	Nodes() []admin.Node
}

// Lease names. Each is held by one node of a relay at a time. They are
// the admin's, which reads them in the dashboard's cluster view.
const (
	leaseSweep        = admin.LeaseSweep        // the retention sweep and the purge of deleted channels
	leaseOutboxPrefix = admin.LeaseOutboxPrefix // + channel id: the node delivering the channel's replies
)

// connID names a socket of this node in the cluster's registry.
func connID(id uint64) string { return strconv.FormatUint(id, 10) }

// joinCluster wires the hub's sockets to the cluster's registry, so that
// the per-user cap counts the sockets of every node: the ones beyond it
// here are closed with 4001, as on one node; and the outbox to the
// channels' claims, so that it takes over those another node gave up.
func (s *Server) joinCluster(c Cluster) {
	c.OnExcess(s.cfg.WS.MaxConnPerUser, func(userID string, ids []string) {
		seqs := make([]uint64, 0, len(ids))
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 64); err == nil {
				seqs = append(seqs, n)
			}
		}
		s.hub.CloseIDs(userID, seqs, live.CloseTooMany, live.ReasonTooMany)
	})
	// A channel whose node died mid-delivery is taken up as soon as its
	// claim expires: no other node may know it has replies pending.
	c.OnLeaseFreed(leaseOutboxPrefix, func(name string) {
		s.outbox.Kick(strings.TrimPrefix(name, leaseOutboxPrefix))
	})
}

// CutOff closes every socket of this node with 1001, so that their clients
// reconnect through the load balancer to a node that still reaches the
// store (this one answers 503 meanwhile, /health included). The relay calls
// it once the node has been cut off from the other nodes for a while, if it
// knows of another node to go to.
func (s *Server) CutOff() {
	s.log.Warn("cut off from the store: closing this node's sockets", "sockets", s.hub.Count())
	s.hub.CloseAll(live.CloseGoingAway, live.ReasonCutOff)
}

// Sockets is how many WebSockets this node holds open.
func (s *Server) Sockets() int { return s.hub.Count() }

// outboxClaims lets the outboxes of several nodes share the channels: a
// node delivers a channel's replies while it holds the channel's lease.
type outboxClaims struct{ c Cluster }

func (o outboxClaims) Claim(ctx context.Context, channelID string) (bool, error) {
	l := o.c.Lease(leaseOutboxPrefix + channelID)
	if l.Held() {
		return true, nil
	}
	return l.TryAcquire(ctx)
}

func (o outboxClaims) Release(ctx context.Context, channelID string) {
	if l := o.c.Lease(leaseOutboxPrefix + channelID); l.Held() {
		_ = l.Release(ctx)
	}
}
