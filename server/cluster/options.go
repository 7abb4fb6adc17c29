package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults of Options.
const (
	// DefaultPrefix names the buckets and subjects when Options.Prefix is
	// empty, the same default as the JetStream store's stream.
	DefaultPrefix = "relay"
	// DefaultHeartbeat is how often a node writes its heartbeat.
	DefaultHeartbeat = 2 * time.Second
	// DefaultDeadAfter is how long a node is alive after its last
	// heartbeat: five missed beats, so that a slow write is no death.
	DefaultDeadAfter = 10 * time.Second
	// DefaultLeaseTTL is how long a lease outlives its last renewal. With
	// the retry of TTL/3, a dead holder's lease is taken over within 20 s.
	DefaultLeaseTTL = 15 * time.Second
)

// Options configure a Cluster. Conn is required; the rest have defaults.
type Options struct {
	// Conn is the connection to NATS, shared with the JetStream store. The
	// Cluster never closes it and never replaces its handlers.
	Conn *nats.Conn
	// Prefix names the KV buckets "<prefix>_nodes", "<prefix>_leases",
	// "<prefix>_nonces", "<prefix>_rates", "<prefix>_sockets" and
	// "<prefix>_mcp", and the subjects "<prefix>_cluster.node.<id>.<kind>"
	// and "<prefix>_cluster.mcp.cancel" (the JetStream store's stream
	// takes "<prefix>.>"). Only [A-Za-z0-9_-].
	Prefix string
	// Replicas of every bucket: 1, or 3 on a cluster of NATS servers.
	Replicas int
	// Node describes this node. An empty ID gets a random one, stable for
	// the life of the Cluster; a zero Started gets the time of Join.
	Node Info
	// Logger receives warnings (a lost lease, failed writes); nil discards.
	Logger *slog.Logger
	// Now is the wall clock of heartbeats, socket times and rate limits
	// (nil: time.Now). Timers and lease deadlines use the real clock.
	Now func() time.Time
	// Heartbeat is how often the node writes its heartbeat.
	Heartbeat time.Duration
	// DeadAfter is how long after its last heartbeat a node is dead: its
	// heartbeat expires from the bucket. At least twice Heartbeat.
	DeadAfter time.Duration
	// LeaseTTL is how long a lease outlives its last renewal. Holders renew
	// every LeaseTTL/3; campaigns retry as often.
	LeaseTTL time.Duration
}

// Info describes a node, as it announces itself in its heartbeat.
type Info struct {
	ID      string    // random if empty; only [A-Za-z0-9_-]
	Version string    // the relay's version, for the admin dashboard
	Addr    string    // the URL the node serves
	Started time.Time // when the process started
}

// withDefaults fills in the defaults and checks o.
func (o Options) withDefaults() (Options, error) {
	if o.Conn == nil {
		return o, errors.New("cluster: Options.Conn is required")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !isToken(o.Prefix) {
		return o, fmt.Errorf("cluster: prefix %q: only letters, digits, - and _", o.Prefix)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		return o, fmt.Errorf("cluster: %d replicas: want 1 to 5", o.Replicas)
	}
	if o.Node.ID == "" {
		o.Node.ID = newID(5)
	}
	if !isToken(o.Node.ID) || len(o.Node.ID) > maxRawToken {
		return o, fmt.Errorf("cluster: node id %q: only letters, digits, - and _, at most %d", o.Node.ID, maxRawToken)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Node.Started.IsZero() {
		o.Node.Started = o.Now()
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.DeadAfter == 0 {
		o.DeadAfter = DefaultDeadAfter
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Heartbeat < 0 || o.DeadAfter < 2*o.Heartbeat {
		return o, fmt.Errorf("cluster: heartbeat %s, dead after %s: want a positive heartbeat and dead after at least twice it", o.Heartbeat, o.DeadAfter)
	}
	if o.LeaseTTL < 10*time.Millisecond {
		return o, fmt.Errorf("cluster: lease TTL %s is too short", o.LeaseTTL)
	}
	return o, nil
}
