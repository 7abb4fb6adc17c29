package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
	"github.com/chaos-relay/relay/storage/seal"
)

// relayCluster is a relay of several nodes on a cluster of three NATS
// servers (replicas 3), each node an in-process relay of its own.
type relayCluster struct {
	nats  *natstest.Cluster
	key   *seal.RootKey
	nodes []*relay
	// senders and now are given to the nodes added from then on: each
	// node's reply senders by channel type, and its clock.
	senders func(node int) map[string]channels.Sender
	now     func() time.Time
}

// newRelayCluster starts n relay nodes sharing one root key and prefix, and
// waits until every node sees every other.
func newRelayCluster(t *testing.T, n int, mutate ...func(*app.Config)) *relayCluster {
	t.Helper()
	rc := emptyRelayCluster(t)
	for range n {
		rc.add(t, mutate...)
	}
	rc.waitNodes(t, n)
	return rc
}

// emptyRelayCluster starts the three NATS servers of a relay, configured
// with opts, and no node yet.
func emptyRelayCluster(t *testing.T, opts ...natstest.Option) *relayCluster {
	t.Helper()
	nc := natstest.StartCluster(t, 3, opts...)
	nc.WaitMetaLeader(t)
	key, err := seal.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	return &relayCluster{nats: nc, key: key}
}

// add starts another node, on every NATS server unless mutate says
// otherwise.
func (rc *relayCluster) add(t *testing.T, mutate ...func(*app.Config)) *relay {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.Store.DataDir = t.TempDir()
	cfg.Store.NATS.URL, cfg.Store.NATS.Replicas = rc.nats.URLs(), 3
	for _, m := range mutate {
		m(&cfg)
	}
	r := &relay{key: rc.key, cfg: cfg, now: rc.now}
	if rc.senders != nil {
		r.senders = rc.senders(len(rc.nodes))
	}
	r.start(t)
	rc.nodes = append(rc.nodes, r)
	return r
}

// waitNodes waits until every running node sees n nodes alive.
func (rc *relayCluster) waitNodes(t *testing.T, n int) {
	t.Helper()
	for _, r := range rc.nodes {
		if r.app == nil {
			continue
		}
		waitFor(t, "every node sees the others", func() bool { return len(r.app.Nodes()) == n })
	}
}

// on is a copy of c that talks to node r.
func on(c *client.Client, r *relay) *client.Client {
	cc := *c
	cc.BaseURL = r.URL
	return &cc
}

// A message posted to one node reaches the sockets of its session on every
// node, once and in order; a socket that moves to another node with since
// sees no gap and no repeat.
func TestClusterDeliveryAndResume(t *testing.T) {
	rc := newRelayCluster(t, 2, noLimits)
	a, b := rc.nodes[0], rc.nodes[1]
	c := a.register(t, true)
	_, hookURL := webhookChannel(t, c, client.NewChannel{Type: "webhook"})
	onA, onB := a.dialWS(t, c, "", nil), b.dialWS(t, c, "", nil)

	ids := postN(t, hookURL, 20, "m")
	for name, conn := range map[string]*websocket.Conn{"node a": onA, "node b": onB} {
		got := readMessages(t, conn, len(ids))
		for i, m := range got {
			if m.ID != ids[i] {
				t.Fatalf("%s: message %d is %s, want %s", name, i, m.ID, ids[i])
			}
		}
	}

	// Poll half on node b, then resume on node a's socket from that cursor.
	pc := on(c, b)
	page, err := pc.Poll(bg, 10)
	if err != nil || len(page.Messages) != 10 {
		t.Fatalf("poll on node b: %+v, %v", page, err)
	}
	resumed := a.dialWS(t, c, pc.Cursor, nil)
	rest := readMessages(t, resumed, 10)
	if rest[0].ID != ids[10] || rest[9].ID != ids[19] {
		t.Fatalf("resumed on node a from %s: %s…%s, want %s…%s", pc.Cursor, rest[0].ID, rest[9].ID, ids[10], ids[19])
	}
}

// The per-session socket cap counts every node's sockets: the oldest
// anywhere is closed with 4001.
func TestClusterSocketCap(t *testing.T) {
	rc := newRelayCluster(t, 2, func(c *app.Config) { c.WS.MaxConnPerUser = 2 })
	a, b := rc.nodes[0], rc.nodes[1]
	c := a.register(t, false)
	first := a.dialWS(t, c, "", nil)
	second := b.dialWS(t, c, "", nil)
	third := b.dialWS(t, c, "", nil)
	ce := closeCode(t, first)
	if ce.Code != 4001 || ce.Text != "Too many connections for this session" {
		t.Fatalf("oldest closed with %d %q", ce.Code, ce.Text)
	}
	for _, conn := range []*websocket.Conn{second, third} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if f := readFrame(t, conn); f.Type != "pong" {
			t.Fatalf("newer connection answered %+v", f)
		}
	}
}

// A signed request's nonce is single use on every node: a replay through
// another node is refused, and stores nothing.
func TestClusterNonceReplay(t *testing.T) {
	rc := newRelayCluster(t, 2)
	a, b := rc.nodes[0], rc.nodes[1]
	c := a.register(t, true)
	body := []byte(`{"type":"slack"}`)
	ts, n := stamp(0), nonce()
	h := authHeaders(c, ts, n, validSig(t, c, ts, n, "/channels", body))
	if ans := send(t, http.MethodPost, a.URL+"/channels", body, h); ans.status != http.StatusCreated {
		t.Fatalf("create on node a: %d %s", ans.status, ans.body)
	}
	expectUnauthorized(t, send(t, http.MethodPost, b.URL+"/channels", body, h))
	if list, err := on(c, b).Channels(bg); err != nil || len(list) != 1 {
		t.Fatalf("after a replay on node b: %d channels, %v", len(list), err)
	}
}

// Rate limits hold across nodes: requests spread over them share one bucket.
func TestClusterRateLimit(t *testing.T) {
	rc := newRelayCluster(t, 2, func(c *app.Config) { c.RateLimits.Register = ratelimit.Rate{N: 4, Per: time.Hour} })
	var codes []int
	for i := range 6 {
		r := rc.nodes[i%2]
		a := send(t, http.MethodPost, r.URL+"/auth/register", nil, nil)
		codes = append(codes, a.status)
	}
	want := []int{200, 200, 200, 200, 429, 429}
	if !slices.Equal(codes, want) {
		t.Fatalf("registrations alternating between nodes answered %v, want %v", codes, want)
	}
}

// What a client writes through one node, it reads at once through another:
// its session authenticates, its channel takes webhooks and is listed.
func TestClusterReadsWhatAnotherNodeWrote(t *testing.T) {
	rc := newRelayCluster(t, 2, noLimits)
	a, b := rc.nodes[0], rc.nodes[1]
	for i := range 20 {
		c := a.register(t, i%2 == 0)
		ch, hookURL, err := on(c, b).CreateChannel(bg, client.NewChannel{Type: "webhook"})
		if err != nil {
			t.Fatalf("create on node b right after registering on node a: %v", err)
		}
		list, err := on(c, a).Channels(bg)
		if err != nil || len(list) != 1 || list[0].ID != ch.ID {
			t.Fatalf("list on node a right after creating on node b: %+v, %v", list, err)
		}
		aHook := strings.Replace(hookURL, b.URL, a.URL, 1)
		if _, err := client.PostWebhook(bg, nil, aHook, "text/plain", []byte("hi")); err != nil {
			t.Fatalf("webhook on node a right after creating on node b: %v", err)
		}
	}
}
