package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// nodesJS describes the node cards as the page shows them, to compare the
// server's rendering with the script's.
const nodesJS = `JSON.stringify(Array.from(document.querySelectorAll('#nodes article.node')).map((n) => ({
	id: n.dataset.node, self: n.classList.contains('node-self'),
	head: Array.from(n.querySelectorAll('.node-head > span')).map((e) => e.textContent),
	facts: Array.from(n.querySelectorAll('.node-facts > span')).map((e) => e.textContent + '|' + e.title),
	addr: (n.querySelector('.node-addr') || {}).textContent || '',
	leases: Array.from(n.querySelectorAll('.node-leases > span')).map((e) => e.textContent + '|' + e.title),
})))`

// TestClusterInBrowser: on a relay of two nodes the dashboard shows the
// Cluster tile and panel, a card per node (this one marked) with what it
// holds, and on each Discord badge the node holding its gateway; the
// script draws the same as the server did, follows a node leaving and the
// relay becoming a single one (panel and tile hidden), and the panel fits
// a 390 px phone with long ids, versions, addresses and bot names.
func TestClusterInBrowser(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		t.Skip("browser test skipped: no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")
	}
	v := newEnv(t)
	seedCluster(t, v)
	refreshes := &gate{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/admin/status" {
			refreshes.wait(r.Context())
		}
		v.e.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close) // after the browser has gone
	b := newTab(t, browser, 1280, 1000)
	setNodes := func(nodes []Node) {
		v.relay.mu.Lock()
		defer v.relay.mu.Unlock()
		v.relay.nodes = nodes
	}
	text := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v\nconsole:\n%s", expr, err, b.console.String())
		}
		return s
	}
	badge := func(id string) string {
		return `document.querySelector('.badge[title="discord channel ` + id + `"]').textContent`
	}

	// The server's rendering, before the script's first refresh answers.
	refreshes.hold()
	b.run("log in",
		chromedp.Navigate(ts.URL+"/admin/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testKey),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("cluster-panel")),
	)
	rendered := text(nodesJS)
	equal(t, "tile", b.eval("tile", `!document.getElementById('t-cluster').hidden && document.getElementById('t-cluster-sockets').textContent === '7'`), true)
	refreshes.release()
	b.poll("first refresh", `document.getElementById('refresh-state').textContent.includes('updated')`)
	equal(t, "the script draws the nodes as the server did", text(nodesJS), rendered)
	for _, want := range []string{
		`"id":"` + nodeA + `","self":true,"head":["` + nodeA + `","this node","v1.0.0"]`,
		`"facts":["up 2 h 5 min|","2 sockets|","heartbeat 1.5 s ago|2026-11-23T09:59:59.500Z"],"addr":"http://10.0.0.1:8080"`,
		`"leases":["gateway @alpha_bot|discord channel dc-a","sweep|runs the retention sweep","2 outbox channels|delivers the replies of these channels"]`,
		`"id":"` + nodeB + `","self":false,"head":["` + nodeB + `","v1.0.1"]`,
		`"leases":["gateway @beta_bot|discord channel dc-b2","1 outbox channel|delivers the replies of these channels","lease discord.999|discord.999","lease janitor|janitor"]`,
	} {
		contains(t, "nodes", rendered, want)
	}
	equal(t, "summary", text(`document.getElementById('cluster-summary').textContent`), "2 nodes · 7 sockets in all")
	equal(t, "this node's sockets", text(`document.getElementById('t-websockets-sub').textContent`), "open on this node")
	contains(t, "dc-b2's gateway", text(badge("dc-b2")), "gateway on "+nodeB)
	notContains(t, "dc-b2's gateway", text(badge("dc-b2")), "disconnected")
	contains(t, "dc-a's gateway", text(badge("dc-a")), "gateway connected on "+nodeA)
	b.screenshot("admin-cluster.png", false)

	// Node b leaves: its card goes, and its gateway with it.
	nodes := v.relay.Nodes()
	setNodes(nodes[:1])
	b.run("refresh", chromedp.Click(chromedp.ID("refresh")))
	b.poll("one node", `document.querySelectorAll('#nodes article.node').length === 1 && document.getElementById('cluster-summary').textContent === '1 node · 2 sockets in all'`)
	equal(t, "tile", text(`document.getElementById('t-cluster-sockets').textContent + ' ' + document.getElementById('t-cluster-sub').textContent`), "2 sockets on 1 node")
	contains(t, "dc-b2 without its node", text(badge("dc-b2")), "gateway disconnected")

	// A single relay has neither panel nor tile.
	setNodes(nil)
	b.run("refresh", chromedp.Click(chromedp.ID("refresh")))
	b.poll("no cluster", `document.getElementById('cluster-panel').hidden && document.getElementById('t-cluster').hidden`)
	equal(t, "sockets", text(`document.getElementById('t-websockets-sub').textContent`), "open")
	equal(t, "no holder on the badges", b.eval("badges", `!document.getElementById('sessions').textContent.includes('gateway on')`), true)

	// Back to two nodes with long names, on a phone.
	long := []Node{nodes[0], nodes[1]}
	long[0].ID = "relay-eu-west-1a-worker-k3x9q2"
	long[0].Addr = "http://relay-node-eu-west-1a.internal.cluster.example.com:8080"
	long[1].ID = "relay-eu-west-1b-worker-p7m4w1"
	long[1].Version = "1.4.0-rc.2+git.0123456789abcdef0123456789abcdef"
	long[1].Addr = "http://[2001:db8:0:0:0:0:0:1]:8080/" + strings.Repeat("x", 40)
	for i := range 6 {
		long[1].Leases = append(long[1].Leases, LeaseOutboxPrefix+strings.Repeat("c", i+1))
	}
	setNodes(long)
	b.run("phone viewport", chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	b.run("reload", chromedp.Navigate(ts.URL+"/admin"), chromedp.WaitVisible(chromedp.ID("cluster-panel")))
	b.poll("refreshed", `document.getElementById('refresh-state').textContent.includes('updated') && document.querySelectorAll('#nodes article.node').length === 2`)
	b.fits("dashboard with the cluster")
	equal(t, "cards one above the other", b.eval("stacked", `(() => {
		const [a, c] = document.querySelectorAll('#nodes article.node');
		return c.getBoundingClientRect().top >= a.getBoundingClientRect().bottom;
	})()`), true)
	b.eval("scroll to the cluster", `(document.getElementById('cluster-panel').scrollIntoView(), true)`)
	b.screenshot("admin-phone-cluster.png", false)
	b.noConsoleProblems()
}
