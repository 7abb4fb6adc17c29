package admin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/storage"
)

const (
	nodeA = "relay-a-k3x9q2"
	nodeB = "relay-b-p7m4w1"
)

// seedCluster makes the relay one of two nodes on top of seedOverview:
// this node (a) holds bot 111's gateway for channel dc-a, the sweep and two
// outbox channels; node b holds bot 222's gateway (for dc-b2, its newest
// channel; dc-b1 is older), one outbox channel, the gateway lease of a bot
// no channel names (deleted), and the cluster's own janitor.
func seedCluster(t *testing.T, v *env) {
	t.Helper()
	seedOverview(t, v) // its clock is now t0+1s
	bot := func(id, name string) (map[string]string, json.RawMessage) {
		return map[string]string{"botUserId": id}, json.RawMessage(`{"botUsername":` + jsonString(name) + `,"allowedUsers":["9"]}`)
	}
	p, md := bot("111", "alpha_bot")
	addChannel(t, v.store, storage.Channel{ID: "dc-a", UserID: userA, Type: storage.TypeDiscord, Enabled: true, Platform: p, Metadata: md}, nil)
	p, md = bot("222", "beta_bot")
	addChannel(t, v.store, storage.Channel{ID: "dc-b1", UserID: userB, Type: storage.TypeDiscord, Enabled: true, Platform: p, Metadata: md}, nil)
	addChannel(t, v.store, storage.Channel{ID: "dc-b2", UserID: userB, Type: storage.TypeDiscord, Enabled: true, Platform: p, Metadata: md}, nil)
	v.relay.gateways["dc-a"] = "connected" // the session runs here; dc-b2's on node b, which this one cannot see
	now := v.clock.Now()
	v.relay.nodes = []Node{
		{ID: nodeA, Version: "1.0.0", Addr: "http://10.0.0.1:8080", Started: now.Add(-2*time.Hour - 5*time.Minute),
			Beat: now.Add(-1500 * time.Millisecond), Sockets: 2, Self: true,
			Leases: []string{"discord.111", LeaseSweep, LeaseOutboxPrefix + tgID, LeaseOutboxPrefix + "em-1"}},
		{ID: nodeB, Version: "1.0.1", Addr: "http://10.0.0.2:8080", Started: now.Add(-90 * time.Second),
			Beat: now.Add(-400 * time.Millisecond), Sockets: 5,
			Leases: []string{"discord.222", "discord.999", LeaseOutboxPrefix + "dc-b2", "janitor"}},
	}
}

// The status lists every node with what it holds, and the sockets of all;
// each Discord channel whose bot has a session names the node holding it.
func TestStatusCluster(t *testing.T) {
	v := newEnv(t)
	seedCluster(t, v)
	body := v.as(v.login(t), "GET", "/admin/status", "").Body.String()
	want := `"messagesLastHour":1,"cluster":{"websockets":7,"nodes":[` +
		`{"id":"` + nodeA + `","self":true,"version":"1.0.0","addr":"http://10.0.0.1:8080","started":"2026-11-23T07:55:01.000Z","uptime":7500,` +
		`"sockets":2,"lastBeat":"2026-11-23T09:59:59.500Z","beatAgeMs":1500,` +
		`"gateways":[{"lease":"discord.111","channelType":"discord","channelId":"dc-a","label":"@alpha_bot"}],"sweep":true,"outboxes":2,"otherLeases":[]},` +
		`{"id":"` + nodeB + `","self":false,"version":"1.0.1","addr":"http://10.0.0.2:8080","started":"2026-11-23T09:58:31.000Z","uptime":90,` +
		`"sockets":5,"lastBeat":"2026-11-23T10:00:00.600Z","beatAgeMs":400,` +
		`"gateways":[{"lease":"discord.222","channelType":"discord","channelId":"dc-b2","label":"@beta_bot"}],"sweep":false,"outboxes":1,"otherLeases":["discord.999","janitor"]}]}}`
	if !strings.HasSuffix(body, want) {
		t.Fatalf("status ends\n%s\nwant\n%s", body[max(0, len(body)-len(want)):], want)
	}
	var st statusJSON
	must(t, json.Unmarshal([]byte(body), &st))
	equal(t, "this node's sockets", st.WebSockets, 2)
	channels := map[string]channelJSON{}
	for _, s := range st.Sessions {
		for _, ch := range s.Channels {
			channels[ch.ID] = ch
		}
	}
	for _, tc := range []struct{ id, gateway, node, detail string }{
		{"dc-a", "connected", nodeA, "gateway connected on " + nodeA}, // its state is known here
		{"dc-b2", "disconnected", nodeB, "gateway on " + nodeB},       // not here: no "disconnected"
		{"dc-b1", "disconnected", "", "gateway disconnected"},         // the older channel of bot 222 has no session
		{"dc-1", "connected", "", "gateway connected"},                // no bot id: no lease to hold
	} {
		ch := channels[tc.id]
		equal(t, tc.id+" gateway", ch.Gateway, tc.gateway)
		equal(t, tc.id+" gatewayNode", ch.GatewayNode, tc.node)
		equal(t, tc.id+" gateway detail", ch.Details[len(ch.Details)-1], tc.detail)
		equal(t, tc.id+" one gateway detail", strings.Count(strings.Join(ch.Details, "|"), "gateway"), 1)
	}
	contains(t, "member order", body, `"details":["1 user","gateway on `+nodeB+`"],"gatewayNode":"`+nodeB+`"}`)
}

// A single relay has no cluster member, and no Cluster panel or tile.
func TestDashboardCluster(t *testing.T) {
	v := newEnv(t)
	seedCluster(t, v)
	cookie := v.login(t)
	page := v.as(cookie, "GET", "/admin", "").Body.String()
	contains(t, "panel", page, `<section class="panel" id="cluster-panel" aria-labelledby="cluster-title">`)
	contains(t, "summary", page, `<span class="muted" id="cluster-summary">2 nodes · 7 sockets in all</span>`)
	contains(t, "tile", page, `<div class="tile" id="t-cluster"><span class="tile-label">Cluster</span><span class="tile-value" id="t-cluster-sockets">7</span><span class="tile-sub" id="t-cluster-sub">sockets on 2 nodes</span></div>`)
	contains(t, "this node's tile", page, `<span class="tile-sub" id="t-websockets-sub">open on this node</span>`)
	contains(t, "node a", page, `<article class="node node-self" data-node="`+nodeA+`">
<div class="node-head"><span class="node-id mono">`+nodeA+`</span><span class="tag tag-self">this node</span>
<span class="muted node-version">v1.0.0</span></div>
<div class="node-facts"><span class="node-uptime">up 2 h 5 min</span><span class="node-sockets">2 sockets</span><span class="node-beat" title="2026-11-23T09:59:59.500Z">heartbeat 1.5 s ago</span></div>
<div class="node-addr mono muted">http://10.0.0.1:8080</div>
<div class="node-leases"><span class="lease" title="discord channel dc-a">gateway @alpha_bot</span><span class="lease" title="runs the retention sweep">sweep</span><span class="lease" title="delivers the replies of these channels">2 outbox channels</span></div>
</article>`)
	contains(t, "node b", page, `<article class="node" data-node="`+nodeB+`">`)
	contains(t, "node b's leases", page, `<span class="lease" title="discord channel dc-b2">gateway @beta_bot</span><span class="lease" title="delivers the replies of these channels">1 outbox channel</span><span class="lease" title="discord.999">lease discord.999</span><span class="lease" title="janitor">lease janitor</span>`)
	contains(t, "badge", page, `<span class="badge-detail">gateway on `+nodeB+`</span>`)
	contains(t, "badge", page, `<span class="badge-detail">gateway connected on `+nodeA+`</span>`)

	v.relay.mu.Lock()
	v.relay.nodes = nil
	v.relay.mu.Unlock()
	notContains(t, "single relay's status", v.as(cookie, "GET", "/admin/status", "").Body.String(), `"cluster"`)
	page = v.as(cookie, "GET", "/admin", "").Body.String()
	contains(t, "no panel", page, `<section class="panel" id="cluster-panel" aria-labelledby="cluster-title" hidden>`)
	contains(t, "no tile", page, `<div class="tile" id="t-cluster" hidden>`)
	notContains(t, "no node", page, `<article class="node`)
	notContains(t, "no holder", page, "gateway on")
}

// Markup in what the nodes announce (NATS is not the admin's) stays text.
func TestClusterMarkupIsInert(t *testing.T) {
	v := newEnv(t)
	seedEvil(t, v)
	addChannel(t, v.store, storage.Channel{ID: "dc-evil", UserID: userA, Type: storage.TypeDiscord, Enabled: true,
		Platform: map[string]string{"botUserId": "1"}, Metadata: json.RawMessage(`{"botUsername":` + jsonString(evilBot) + `}`)}, nil)
	v.relay.nodes = []Node{{ID: `<b>node</b>`, Version: evilName, Addr: `javascript:alert(1)"><img src=x>`, Self: true,
		Leases: []string{"discord.1", `<i>lease</i>`}}}
	page := v.as(v.login(t), "GET", "/admin", "").Body.String()
	for _, raw := range []string{"<b>node", "<script>alert", "<img", "<svg onload", "<i>lease"} {
		notContains(t, "raw markup", page, raw)
	}
	contains(t, "node id", page, `<span class="node-id mono">&lt;b&gt;node&lt;/b&gt;</span>`)
	contains(t, "gateway of the evil bot", page, `gateway @bot&#34;&gt;&lt;svg onload=alert(1)&gt;`)
	contains(t, "badge", page, `gateway disconnected on &lt;b&gt;node&lt;/b&gt;`)
}

func TestUptimeAndBeatAge(t *testing.T) {
	for _, tc := range []struct {
		s    int64
		want string
	}{{0, "0 s"}, {59, "59 s"}, {60, "1 min"}, {3599, "59 min"}, {3600, "1 h 0 min"}, {7500, "2 h 5 min"},
		{48*3600 - 1, "47 h 59 min"}, {48 * 3600, "2 d 0 h"}, {3*86400 + 4*3600 + 59, "3 d 4 h"}} {
		equal(t, "uptime of "+jsonString(tc.want), uptimeText(tc.s), tc.want)
	}
	for _, tc := range []struct {
		ms   int64
		want string
	}{{0, "0.0 s ago"}, {99, "0.0 s ago"}, {1549, "1.5 s ago"}, {59_999, "59.9 s ago"}, {60_000, "1 min ago"}, {2 * 3600_000, "2 h ago"}} {
		equal(t, "beat age of "+jsonString(tc.want), beatAgeText(tc.ms), tc.want)
	}
}
