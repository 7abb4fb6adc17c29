package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/chaos-relay/relay/admin"
	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server"
	"github.com/chaos-relay/relay/server/cluster"
	"github.com/chaos-relay/relay/server/mcp"
)

// cutOffAfter is how long a node may be cut off from NATS before it closes
// its sockets, so that their clients move to a node that still serves: a
// blip of the connection costs them nothing.
const cutOffAfter = 5 * time.Second

// node is this process as a node of a relay on NATS: server.Cluster over a
// cluster.Cluster that joins in the background, since NATS may not be
// reachable when the relay starts. Until it has joined, the node has no
// store either (the store shares its connection), so requests that need
// the cluster fail as those that need the store do.
type node struct {
	id    string
	local *ratelimit.Limiters // the rate limits until joined, and when NATS is down
	root  *slog.Logger        // for the cluster, which names its component
	log   *slog.Logger        // the node's own lines

	c      atomic.Pointer[cluster.Cluster]
	limits atomic.Pointer[cluster.Limiters]
	joined chan struct{} // closed once c is set

	mu      sync.Mutex
	excess  func(*cluster.Cluster)  // OnExcess, to register once joined
	freed   func(*cluster.Cluster)  // OnLeaseFreed, to register once joined
	cutoff  func(*cluster.Cluster)  // OnCutOff, to register once joined
	forward func(*cluster.Cluster)  // the MCP forwarder, to build once joined
	early   map[[2]string]time.Time // sockets opened before the join: user, conn → opened
	stats   func() cluster.Stats    // SetStats, to register once joined
	limCfg  ratelimit.Config        // of the shared rate limits

	// The MCP sessions, to build once joined, and the bridge's function
	// for other nodes' cancellations, to subscribe then.
	mcpSessions  func(*cluster.Cluster)
	mcpCancelled func(sessionID string, requestID json.RawMessage)

	fwd atomic.Pointer[cluster.Forwarder]

	sessions atomic.Pointer[cluster.MCPSessions]
}

var errNotJoined = errors.New("not connected to the other nodes yet")

// newNode returns this process's node, not joined yet; log is the root
// logger.
func newNode(limits ratelimit.Config, log *slog.Logger) *node {
	return &node{id: newNodeID(), local: ratelimit.New(limits, nil), limCfg: limits, root: log,
		log:    log.With("component", "cluster"),
		joined: make(chan struct{}), early: map[[2]string]time.Time{}}
}

// join joins the cluster over nc, retrying with back-off until it has or
// ctx ends, and then registers what was asked of the node meanwhile.
func (n *node) join(ctx context.Context, nc *nats.Conn, cfg NATSConfig, info cluster.Info) {
	info.ID = n.id
	delay := 100 * time.Millisecond
	for {
		c, err := cluster.Join(ctx, cluster.Options{Conn: nc, Prefix: cfg.Prefix, Replicas: cfg.Replicas, Node: info,
			Logger: n.root})
		if err == nil {
			n.adopt(c)
			return
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("join the relay's other nodes: retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// adopt makes c the node's cluster.
func (n *node) adopt(c *cluster.Cluster) {
	n.limits.Store(c.Limiters(n.limCfg))
	n.mu.Lock()
	defer n.mu.Unlock()
	n.c.Store(c)
	close(n.joined)
	for _, f := range []func(*cluster.Cluster){n.excess, n.freed, n.cutoff, n.forward, n.mcpSessions} {
		if f != nil {
			f(c)
		}
	}
	if n.stats != nil {
		c.SetStats(n.stats)
	}
	for k, at := range n.early {
		c.SocketOpened(k[0], k[1], at)
	}
	n.early = nil
}

// cluster is the joined cluster, or nil.
func (n *node) cluster() *cluster.Cluster { return n.c.Load() }

// leave leaves the cluster gracefully, if joined: its leases go to other
// nodes at once.
func (n *node) leave(ctx context.Context) error {
	if c := n.cluster(); c != nil {
		return c.Close(ctx)
	}
	return nil
}

// whenJoined runs f with the cluster now if joined, or once it is.
func (n *node) whenJoined(f func(*cluster.Cluster), slot *func(*cluster.Cluster)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.c.Load(); c != nil {
		f(c)
		return
	}
	*slot = f
}

var _ server.Cluster = (*node)(nil)

func (n *node) Node() string { return n.id }

func (n *node) Joined() bool { return n.cluster() != nil }

func (n *node) UseNonce(ctx context.Context, userID string, key [16]byte) (bool, error) {
	c := n.cluster()
	if c == nil {
		return false, errNotJoined
	}
	return c.UseNonce(ctx, userID, key)
}

func (n *node) SocketOpened(userID, connID string, opened time.Time) {
	n.mu.Lock()
	if n.early != nil {
		n.early[[2]string{userID, connID}] = opened
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.cluster().SocketOpened(userID, connID, opened)
}

func (n *node) SocketClosed(userID, connID string) {
	n.mu.Lock()
	if n.early != nil {
		delete(n.early, [2]string{userID, connID})
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.cluster().SocketClosed(userID, connID)
}

func (n *node) OnExcess(limit int, fn func(userID string, connIDs []string)) {
	n.whenJoined(func(c *cluster.Cluster) { c.OnExcess(limit, fn) }, &n.excess)
}

func (n *node) OnLeaseFreed(prefix string, fn func(name string)) {
	n.whenJoined(func(c *cluster.Cluster) { c.OnLeaseFreed(prefix, fn) }, &n.freed)
}

// Forwarder forwards to this node's sockets until the node has joined, and
// through the cluster after. The cluster's forwarder also answers the
// other nodes' calls for this node's sockets, so it is built at the join.
func (n *node) Forwarder(local mcp.Forwarder, localCount func(userID string) int) mcp.Forwarder {
	n.whenJoined(func(c *cluster.Cluster) { n.fwd.Store(cluster.NewForwarder(c, local, localCount)) }, &n.forward)
	return &lateForwarder{n: n, local: local}
}

// MCPSessions are the cluster's once the node has joined. Before, requests
// that name or create a session are answered 503 (errNotJoined), as signed
// requests are (their nonces are the cluster's too), and nothing is
// published: the join follows the store's connection to NATS closely.
func (n *node) MCPSessions(cfg mcp.Config) (mcp.Sessions, mcp.Cancels) {
	n.whenJoined(func(c *cluster.Cluster) {
		s := c.MCPSessions(cfg.SessionTTL, cfg.MaxSessionsPerUser)
		if n.mcpCancelled != nil {
			s.Subscribe(n.mcpCancelled)
		}
		n.sessions.Store(s)
	}, &n.mcpSessions)
	l := &lateSessions{n: n}
	return l, l
}

func (n *node) Lease(name string) channels.Lease { return &lateLease{n: n, name: name} }

func (n *node) Nodes() []admin.Node {
	c := n.cluster()
	if c == nil {
		return nil
	}
	held := map[string][]string{}
	for lease, holder := range c.Holders() {
		held[holder] = append(held[holder], lease)
	}
	var out []admin.Node
	for _, m := range c.Nodes() {
		out = append(out, admin.Node{ID: m.ID, Version: m.Version, Addr: m.Addr, Started: m.Started, Beat: m.Beat,
			Sockets: m.Sockets, Self: m.Self, Leases: held[m.ID]})
	}
	return out
}

// Allow implements server.Limiter: shared by every node once joined.
func (n *node) Allow(name ratelimit.Name, key string) (time.Duration, bool) {
	if l := n.limits.Load(); l != nil {
		return l.Allow(name, key)
	}
	return n.local.Allow(name, key)
}

func (n *node) Prune() int {
	pruned := n.local.Prune()
	if l := n.limits.Load(); l != nil {
		pruned += l.Prune()
	}
	return pruned
}

// onCutOff closes the node's sockets (cut) once it has been cut off from
// NATS for cutOffAfter, if another node is alive to take its clients.
func (n *node) onCutOff(cut func()) {
	n.whenJoined(func(c *cluster.Cluster) {
		c.OnCutOff(cutOffAfter, func() {
			if c.Others() > 0 {
				go cut()
			}
		}, func() { n.log.Info("reconnected to the other nodes") })
	}, &n.cutoff)
}

// setStats publishes the node's figures with its heartbeats.
func (n *node) setStats(f func() cluster.Stats) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.c.Load(); c != nil {
		c.SetStats(f)
		return
	}
	n.stats = f
}

// lateLease is a lease of a node that may not have joined yet: never held
// before the join.
type lateLease struct {
	n    *node
	name string
}

func (l *lateLease) TryAcquire(ctx context.Context) (bool, error) {
	if c := l.n.cluster(); c != nil {
		return c.Lease(l.name).TryAcquire(ctx)
	}
	return false, nil
}

func (l *lateLease) Held() bool {
	c := l.n.cluster()
	return c != nil && c.Lease(l.name).Held()
}

func (l *lateLease) Release(ctx context.Context) error {
	if c := l.n.cluster(); c != nil {
		return c.Lease(l.name).Release(ctx)
	}
	return nil
}

func (l *lateLease) Run(ctx context.Context, fn func(ctx context.Context)) {
	select {
	case <-l.n.joined:
		l.n.cluster().Lease(l.name).Run(ctx, fn)
	case <-ctx.Done():
	}
}

// lateForwarder forwards through the cluster once joined, and to this
// node's sockets before.
type lateForwarder struct {
	n     *node
	local mcp.Forwarder
}

func (f *lateForwarder) Forward(ctx context.Context, call mcp.Call) (json.RawMessage, error) {
	if fwd := f.n.fwd.Load(); fwd != nil {
		return fwd.Forward(ctx, call)
	}
	return f.local.Forward(ctx, call)
}

// lateSessions are the MCP sessions of a node that may not have joined
// yet: none before the join.
type lateSessions struct{ n *node }

var (
	_ mcp.Sessions = (*lateSessions)(nil)
	_ mcp.Cancels  = (*lateSessions)(nil)
)

func (l *lateSessions) Create(ctx context.Context, s mcp.Session) error {
	if t := l.n.sessions.Load(); t != nil {
		return t.Create(ctx, s)
	}
	return errNotJoined
}

func (l *lateSessions) Use(ctx context.Context, id, userID, agentID string) (mcp.Session, error) {
	if t := l.n.sessions.Load(); t != nil {
		return t.Use(ctx, id, userID, agentID)
	}
	return mcp.Session{}, errNotJoined
}

func (l *lateSessions) Remove(ctx context.Context, s mcp.Session) error {
	if t := l.n.sessions.Load(); t != nil {
		return t.Remove(ctx, s)
	}
	return errNotJoined
}

func (l *lateSessions) RemoveUser(ctx context.Context, userID string) error {
	if t := l.n.sessions.Load(); t != nil {
		return t.RemoveUser(ctx, userID)
	}
	return errNotJoined
}

func (l *lateSessions) Count(userID string) int {
	if t := l.n.sessions.Load(); t != nil {
		return t.Count(userID)
	}
	return 0
}

func (l *lateSessions) Publish(sessionID string, requestID json.RawMessage) {
	if t := l.n.sessions.Load(); t != nil {
		t.Publish(sessionID, requestID)
	}
}

// Subscribe keeps fn for the cluster's sessions, now if joined, or once
// they are built.
func (l *lateSessions) Subscribe(fn func(sessionID string, requestID json.RawMessage)) {
	l.n.mu.Lock()
	defer l.n.mu.Unlock()
	l.n.mcpCancelled = fn
	if t := l.n.sessions.Load(); t != nil {
		t.Subscribe(fn)
	}
}

// newNodeID names this process among the relay's nodes: its host name, for
// the operator, and a random suffix, since a restarted process is a new
// node (its sockets and leases are gone).
func newNodeID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-') {
			return r
		}
		return '-'
	}, host)
	if len(host) > 24 {
		host = host[:24]
	}
	suffix := strings.ToLower(rand.Text()[:6])
	if host == "" {
		return "node-" + suffix
	}
	return host + "-" + suffix
}
