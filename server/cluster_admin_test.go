package server_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chaos-relay/relay/channels/discord/discordtest"
	"github.com/chaos-relay/relay/cmd/relay/app"
)

// adminKey configures the admin of every node of a relay alike.
func adminKey(c *app.Config) { c.AdminKey = "correct horse" }

// selfID is the id of node r among the relay's nodes.
func selfID(t *testing.T, r *relay) string {
	t.Helper()
	for _, n := range r.app.Nodes() {
		if n.Self {
			return n.ID
		}
	}
	t.Fatal("the node is not among its own nodes")
	return ""
}

// clusterStatus is what these tests read of /admin/status.
type clusterStatus struct {
	Storage    string
	Version    string
	WebSockets int `json:"websockets"`
	Sessions   []struct {
		Channels []struct {
			ID, Gateway, GatewayNode string
			Details                  []string
		}
	}
	Cluster *struct {
		WebSockets int `json:"websockets"`
		Nodes      []clusterNode
	}
}

type clusterNode struct {
	ID, Version, Addr, Started, LastBeat string
	Self                                 bool
	Uptime, BeatAgeMs                    int64
	Sockets, Outboxes                    int
	Sweep                                bool
	Gateways                             []struct{ Lease, ChannelType, ChannelID, Label string }
	OtherLeases                          []string
}

// node is the status's entry of node id, or nil.
func (s clusterStatus) node(id string) *clusterNode {
	if s.Cluster == nil {
		return nil
	}
	for i := range s.Cluster.Nodes {
		if s.Cluster.Nodes[i].ID == id {
			return &s.Cluster.Nodes[i]
		}
	}
	return nil
}

// The admin of either node shows both: a socket open on node b is counted
// in b's entry and in the cluster's total, not in node a's own websockets;
// one node holds the sweep, one the cluster's janitor (shown by name).
func TestClusterAdminStatus(t *testing.T) {
	rc := newRelayCluster(t, 2, adminKey, func(c *app.Config) { c.SweepInterval = 50 * time.Millisecond })
	a, b := rc.nodes[0], rc.nodes[1]
	idA, idB := selfID(t, a), selfID(t, b)
	h := adminLogin(t, a)
	b.dialWS(t, a.register(t, false), "", nil)

	var st clusterStatus
	waitFor(t, "node b's socket and the sweep in node a's status", func() bool {
		adminGet(t, a, h, "/admin/status", &st)
		nb, na := st.node(idB), st.node(idA)
		return na != nil && nb != nil && len(st.Cluster.Nodes) == 2 && nb.Sockets == 1 && na.Sockets == 0 &&
			st.Cluster.WebSockets == 1 && na.Sweep != nb.Sweep && len(na.OtherLeases)+len(nb.OtherLeases) == 1
	})
	if others := append(st.node(idA).OtherLeases, st.node(idB).OtherLeases...); others[0] != "janitor" {
		t.Fatalf("other leases %q, want the janitor", others)
	}
	if st.Storage != "nats" || st.WebSockets != 0 {
		t.Fatalf("node a: storage %q, %d websockets of its own; want nats, 0", st.Storage, st.WebSockets)
	}
	for _, tc := range []struct {
		r    *relay
		id   string
		self bool
	}{{a, idA, true}, {b, idB, false}} {
		n := st.node(tc.id)
		if n.Self != tc.self || n.Version != "test" || n.Addr != tc.r.URL || n.Started == "" || n.LastBeat == "" ||
			n.Uptime < 0 || n.BeatAgeMs < 0 || n.BeatAgeMs > 10_000 || n.Gateways == nil {
			t.Errorf("node %s as node a sees it: %+v", tc.id, *n)
		}
	}

	// Node b answers alike, from its side.
	adminGet(t, b, h, "/admin/status", &st)
	if st.WebSockets != 1 || st.Cluster == nil || st.Cluster.WebSockets != 1 || !st.node(idB).Self || st.node(idA).Self {
		t.Fatalf("node b's status: %d websockets, cluster %+v", st.WebSockets, st.Cluster)
	}
}

// An admin login is valid on every node at once, and a logout on any node
// ends it on all: the admin's sessions are in the shared store.
func TestClusterAdminLogin(t *testing.T) {
	rc := newRelayCluster(t, 2, adminKey)
	a, b := rc.nodes[0], rc.nodes[1]
	h := adminLogin(t, a)
	adminGet(t, b, h, "/admin/status", nil)
	if page := send(t, http.MethodGet, b.URL+"/admin", nil, h); page.status != http.StatusOK {
		t.Fatalf("node b's dashboard with node a's login: %d", page.status)
	}

	req, err := http.NewRequestWithContext(bg, http.MethodPost, b.URL+"/admin/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", h["Cookie"])
	req.Header.Set("Origin", b.URL)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("logout on node b: %d", resp.StatusCode)
	}
	// Node b applied its own deletion before answering; node a reads it from
	// the store's stream a moment later (storage/jetstream: about a
	// millisecond), as every write of another node.
	expect(t, send(t, http.MethodGet, b.URL+"/admin/status", nil, h), http.StatusUnauthorized, `{"error":"Unauthorized"}`)
	waitFor(t, "the logout on node a", func() bool {
		return send(t, http.MethodGet, a.URL+"/admin/status", nil, h).status == http.StatusUnauthorized
	})
	expect(t, send(t, http.MethodGet, a.URL+"/admin/status", nil, h), http.StatusUnauthorized, `{"error":"Unauthorized"}`)
}

// A Discord bot registered on one node has its gateway session on one node
// of the relay: both nodes' status name that node, in its entry and on the
// channel; the other node's badge says where the session is.
func TestClusterAdminGateway(t *testing.T) {
	fakeDiscordOnce.Do(func() { fakeDiscord = discordtest.NewServer() })
	seq := botSeq.Add(1)
	token, user := fmt.Sprintf("bot-token-%d", seq), strconv.FormatInt(900000000000000000+seq, 10)
	fakeDiscord.AddBot(token, discordtest.Bot{UserID: user, Username: fmt.Sprintf("relaybot%d", seq),
		ApplicationID: strconv.FormatInt(800000000000000000+seq, 10), VerifyKey: discordtest.VerifyKey(discordtest.TestSeed())})
	rc := newRelayCluster(t, 2, adminKey, func(c *app.Config) { c.Discord.APIURL = fakeDiscord.URL })
	a, b := rc.nodes[0], rc.nodes[1]
	h := adminLogin(t, a)
	id, _ := registerDiscordBot(t, a.register(t, true), token)
	fakeDiscord.WaitConnected(t, token)

	holder := ""
	for _, r := range []*relay{a, b} {
		var (
			st   clusterStatus
			last string // the badge's last detail: where the gateway is
		)
		waitFor(t, "the gateway's node, connected, in the status", func() bool {
			adminGet(t, r, h, "/admin/status", &st)
			if len(st.Sessions) != 1 || len(st.Sessions[0].Channels) != 1 || st.Sessions[0].Channels[0].GatewayNode == "" {
				return false
			}
			ch := st.Sessions[0].Channels[0]
			last = ch.Details[len(ch.Details)-1]
			return last != "gateway connecting on "+ch.GatewayNode // the holder knows the session's state
		})
		ch := st.Sessions[0].Channels[0]
		if holder == "" {
			holder = ch.GatewayNode
		}
		hn := st.node(holder)
		if ch.ID != id || ch.GatewayNode != holder || hn == nil || len(hn.Gateways) != 1 {
			t.Fatalf("status of %s: channel %+v, holder %+v", r.URL, ch, hn)
		}
		if g := hn.Gateways[0]; g.Lease != "discord."+user || g.ChannelType != "discord" || g.ChannelID != id || g.Label != fmt.Sprintf("@relaybot%d", seq) {
			t.Fatalf("the holder's gateway: %+v", g)
		}
		want := "gateway connected on " + holder
		if !hn.Self {
			want = "gateway on " + holder // the others do not know its state
		}
		if last != want {
			t.Errorf("%s's badge says %q, want %q", r.URL, last, want)
		}
	}
}
