package server_test

import (
	"net/http"
	"testing"
	"time"

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
	Cluster    *struct {
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
	Gateways                             []struct{ Lease string }
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
