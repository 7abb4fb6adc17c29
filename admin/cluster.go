package admin

import (
	"context"
	"strings"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// Node is a node of a relay of several, as the dashboard shows it.
type Node struct {
	ID      string
	Version string
	Addr    string    // the URL it serves, as it announces it
	Started time.Time // when its process started
	Beat    time.Time // its last heartbeat
	Sockets int       // its open WebSockets
	Self    bool      // the node that answered
	Leases  []string  // what it holds: "discord.<bot>" gateway sessions, "sweep", outbox channels
}

// Lease names of the server's own work, which the dashboard reads in
// Node.Leases; the server takes its leases under these names. The
// platforms' sessions have theirs (Relay.SessionLeases); any other lease
// (server/cluster's "janitor") is shown by its name.
const (
	// LeaseSweep is held by the node that runs the retention sweep.
	LeaseSweep = "sweep"
	// LeaseOutboxPrefix + a channel id is held by the node delivering the
	// channel's replies.
	LeaseOutboxPrefix = "outbox."
)

// clusterJSON is this relay's addition to /admin/status on a relay of
// several nodes (absent on one): the nodes alive, sorted by id, and the
// WebSockets open on all of them ("websockets" is the answering node's).
type clusterJSON struct {
	WebSockets int        `json:"websockets"`
	Nodes      []nodeJSON `json:"nodes"`
}

// nodeJSON is a node as its last heartbeat describes it, with what it holds.
// Uptime and beatAgeMs are measured by the answering node's clock; an age
// below zero (clocks apart) is 0.
type nodeJSON struct {
	ID        string        `json:"id"`
	Self      bool          `json:"self"`
	Version   string        `json:"version"`
	Addr      string        `json:"addr"`
	Started   string        `json:"started"`
	Uptime    int64         `json:"uptime"` // seconds
	Sockets   int           `json:"sockets"`
	LastBeat  string        `json:"lastBeat"`
	BeatAgeMs int64         `json:"beatAgeMs"`
	Gateways  []gatewayJSON `json:"gateways"`
	Sweep     bool          `json:"sweep"`
	Outboxes  int           `json:"outboxes"`    // channels whose replies it delivers
	Other     []string      `json:"otherLeases"` // by name
}

// gatewayJSON is a platform session a node holds (a Discord bot's gateway):
// its lease, and the channel it runs for with the channel's label ("@bot",
// absent when the platform shows none).
type gatewayJSON struct {
	Lease       string `json:"lease"`
	ChannelType string `json:"channelType"`
	ChannelID   string `json:"channelId"`
	Label       string `json:"label,omitempty"`
}

// clusterState is what one status answer knows of the cluster: its nodes
// and, for the channels with a platform session, which node holds it.
type clusterState struct {
	self     string
	nodes    []Node
	sessions map[string]storage.Channel // lease → the channel its session runs for
	holders  map[string]string          // channel id → the node holding its session
}

// loadCluster reads the nodes and the platform sessions' channels; nil on a
// single relay.
func (h *Handler) loadCluster(ctx context.Context) (*clusterState, error) {
	nodes := h.relay.Nodes()
	if len(nodes) == 0 {
		return nil, nil
	}
	sessions, err := h.relay.SessionLeases(ctx)
	if err != nil {
		return nil, err
	}
	cs := &clusterState{nodes: nodes, sessions: sessions, holders: map[string]string{}}
	for _, n := range nodes {
		if n.Self {
			cs.self = n.ID
		}
		for _, l := range n.Leases {
			if ch, ok := sessions[l]; ok {
				cs.holders[ch.ID] = n.ID
			}
		}
	}
	return cs, nil
}

// holder is the node holding a channel's platform session: "" when none
// does, or on a single relay (cs nil).
func (cs *clusterState) holder(channelID string) string {
	if cs == nil {
		return ""
	}
	return cs.holders[channelID]
}

// clusterEntry is the status's cluster member.
func (h *Handler) clusterEntry(cs *clusterState, now time.Time) *clusterJSON {
	out := &clusterJSON{Nodes: make([]nodeJSON, 0, len(cs.nodes))}
	for _, n := range cs.nodes {
		out.WebSockets += n.Sockets
		e := nodeJSON{
			ID: n.ID, Self: n.Self, Version: n.Version, Addr: n.Addr,
			Started: formatTime(n.Started), Uptime: int64(max(0, now.Sub(n.Started)) / time.Second),
			Sockets:  n.Sockets,
			LastBeat: formatTime(n.Beat), BeatAgeMs: max(0, now.Sub(n.Beat).Milliseconds()),
			Gateways: []gatewayJSON{}, Other: []string{},
		}
		for _, l := range n.Leases {
			switch {
			case l == LeaseSweep:
				e.Sweep = true
			case strings.HasPrefix(l, LeaseOutboxPrefix):
				e.Outboxes++
			default:
				ch, ok := cs.sessions[l]
				if !ok { // not a session of a channel in the store (any more)
					e.Other = append(e.Other, l)
					continue
				}
				g := gatewayJSON{Lease: l, ChannelType: ch.Type, ChannelID: ch.ID}
				g.Label, _ = h.relay.Badge(ch)
				e.Gateways = append(e.Gateways, g)
			}
		}
		out.Nodes = append(out.Nodes, e)
	}
	return out
}

// gatewayDetail is a channel badge's detail about its session on a relay of
// several nodes: which node holds it ("gateway on relay-b-x1y2z3"), with its
// state when that is the answering node ("gateway connected on …"), the
// only one that knows it. It stands in for the platform's "gateway <state>"
// detail, which on the other nodes would read "disconnected".
func gatewayDetail(state, node string, self bool) string {
	if self {
		return "gateway " + state + " on " + node
	}
	return "gateway on " + node
}
