package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chaos-relay/relay/server/mcp/mcptest"
)

// roundRobin is the transport of an MCP client behind a load balancer
// without sticky sessions: each request goes to the next node, with the
// session's apiKey as Bearer. Like a balancer, it keeps a request going to
// its node when the client gives up on it; the node's eventual answer goes
// to abandoned. It records every request (hops).
type roundRobin struct {
	nodes     []string // base URLs
	key       string
	abandoned chan hop
	wg        sync.WaitGroup // requests in flight

	mu   sync.Mutex
	hops []*hop // in the order they were sent
}

// hop is a request as the balancer sent it, and its answer.
type hop struct {
	node   int    // index in nodes
	method string // HTTP method
	rpc    string // the JSON-RPC method of a POST of one message
	status int    // 0: not answered when the client gave up
	body   string
}

func newRoundRobin(t *testing.T, key string, nodes ...string) *roundRobin {
	rr := &roundRobin{nodes: nodes, key: key, abandoned: make(chan hop, 8)}
	t.Cleanup(rr.wg.Wait)
	return rr
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	var msg struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(body, &msg)
	rr.mu.Lock()
	h := &hop{node: len(rr.hops) % len(rr.nodes), method: r.Method, rpc: msg.Method}
	rr.hops = append(rr.hops, h)
	rr.mu.Unlock()

	target, err := url.Parse(rr.nodes[h.node])
	if err != nil {
		return nil, err
	}
	out := r.Clone(context.WithoutCancel(r.Context())) // the balancer's own request
	out.URL.Scheme, out.URL.Host, out.Host = target.Scheme, target.Host, ""
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	out.Header.Set("Authorization", "Bearer "+rr.key)
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	done := make(chan result, 1)
	rr.wg.Add(1)
	go func() {
		defer rr.wg.Done()
		resp, err := http.DefaultTransport.RoundTrip(out)
		var b []byte
		if err == nil {
			b, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}
		done <- result{resp, b, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			return nil, res.err
		}
		rr.mu.Lock()
		h.status, h.body = res.resp.StatusCode, string(res.body)
		rr.mu.Unlock()
		res.resp.Body = io.NopCloser(bytes.NewReader(res.body))
		return res.resp, nil
	case <-r.Context().Done():
		rr.wg.Add(1)
		go func() {
			defer rr.wg.Done()
			res := <-done
			late := hop{node: h.node, method: h.method, rpc: h.rpc}
			if res.err == nil {
				late.status, late.body = res.resp.StatusCode, string(res.body)
			}
			rr.abandoned <- late
		}()
		return nil, r.Context().Err()
	}
}

// all returns the requests, in the order they were sent.
func (rr *roundRobin) all() []hop {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	out := make([]hop, len(rr.hops))
	for i, h := range rr.hops {
		out[i] = *h
	}
	return out
}

// find returns the requests of a JSON-RPC method (or HTTP method, for
// rpc ""), in the order they were sent.
func (rr *roundRobin) find(method, rpc string) []hop {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	var out []hop
	for _, h := range rr.hops {
		if h.method == method && h.rpc == rpc {
			out = append(out, *h)
		}
	}
	return out
}

// An MCP client whose every request goes to the other of two nodes (a
// round-robin balancer), with the extension's socket on one: the session
// made by initialize on one node serves on the other at once; tools/list
// is answered wherever it lands; tools/call is forwarded to the extension
// from both nodes; a notifications/cancelled that reaches the other node
// cancels the request waiting on the first; and a DELETE on either node
// ends the session on both.
func TestClusterMCPRoundRobin(t *testing.T) {
	rc := newRelayCluster(t, 2, noLimits)
	a, b := rc.nodes[0], rc.nodes[1]
	c := a.register(t, false)
	ext := a.extension(t, c, map[string]mcptest.Tool{
		"slow": func(ctx context.Context, _ json.RawMessage) (any, error) {
			<-ctx.Done() // the extension's end: nothing stops a tool once started
			return "late", nil
		},
	})
	// Node b forwards to node a once it knows the extension's socket.
	chat := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"chat","arguments":{"message":"ready?"}}}`
	waitFor(t, "node b reaches the extension", func() bool {
		return strings.Contains(b.mcpPost(t, c.APIKey, "scout", chat, nil).body, `"text":"Reply to: ready?"`)
	})

	rr := newRoundRobin(t, c.APIKey, a.URL, b.URL)
	cl := sdk.NewClient(&sdk.Implementation{Name: "relay-test", Version: "1.0.0"}, nil)
	cs, err := cl.Connect(bg, &sdk.StreamableClientTransport{Endpoint: a.URL + "/mcp/scout",
		HTTPClient: &http.Client{Transport: rr}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("SDK connect: %v", err)
	}
	sid := cs.ID()
	tl, err := cs.ListTools(bg, nil)
	if err != nil || len(tl.Tools) != 8 {
		t.Fatalf("tools/list: %v, %v", tl, err)
	}
	// The first POST after initialize to reach the other node named the
	// session created a moment before, and was served.
	hops := rr.all()
	at := slices.IndexFunc(hops, func(h hop) bool { return h.rpc == "initialize" })
	next := slices.IndexFunc(hops[at+1:], func(h hop) bool { return h.method == http.MethodPost && h.node != hops[at].node })
	if next < 0 || hops[at+1+next].status >= 300 {
		t.Fatalf("requests %+v: want one served on the other node after initialize", hops)
	}
	for i := range 2 {
		res, err := cs.CallTool(bg, &sdk.CallToolParams{Name: "chat", Arguments: map[string]any{"message": fmt.Sprint(i)}})
		if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != fmt.Sprint("Reply to: ", i) {
			t.Fatalf("chat %d: %+v, %v", i, res, err)
		}
	}
	if calls := rr.find(http.MethodPost, "tools/call"); len(calls) != 2 || calls[0].node == calls[1].node {
		t.Fatalf("tools/call %+v: want one on each node", calls)
	}

	// A call the client cancels: its POST waits on one node (the balancer
	// keeps it open), the notification reaches the other.
	cctx, cancel := context.WithCancel(bg)
	defer cancel()
	called := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(cctx, &sdk.CallToolParams{Name: "slow"})
		called <- err
	}()
	for slow := false; !slow; {
		select {
		case f := <-ext.Frames:
			slow = strings.Contains(string(f.JSONRPC), `"name":"slow"`)
		case <-time.After(20 * time.Second):
			t.Fatal("the slow call did not reach the extension within 20 s")
		}
	}
	cancel()
	if err := <-called; err == nil {
		t.Fatal("a cancelled call succeeded")
	}
	select {
	case late := <-rr.abandoned:
		if late.status != http.StatusOK || !strings.Contains(late.body, `"error":{"code":-32000,"message":"Request cancelled"}`) {
			t.Fatalf("the cancelled call's POST answered %d %s", late.status, late.body)
		}
		cancelled := rr.find(http.MethodPost, "notifications/cancelled")
		if len(cancelled) != 1 || cancelled[0].node == late.node {
			t.Fatalf("tools/call on node %d, notifications/cancelled %+v: want it on the other node", late.node, cancelled)
		}
		// Its 202 may reach the client after the call's answer.
		waitFor(t, "notifications/cancelled answered 202", func() bool {
			return rr.find(http.MethodPost, "notifications/cancelled")[0].status == http.StatusAccepted
		})
		if n := rc.nodes[late.node].metric(t, `relay_mcp_calls_total{method="tools/call",outcome="cancelled"}`); n != "1" {
			t.Errorf("cancelled calls on the node of the call: %q, want 1", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled call's POST not answered within 20 s")
	}

	// DELETE (the SDK's Close) on one node; then neither knows the session.
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	del := rr.find(http.MethodDelete, "")
	if len(del) != 1 || del[0].status != http.StatusNoContent {
		t.Fatalf("DELETE %+v, want 204", del)
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	notFound := rpcError("", -32000, "Session not found")
	expectMCP(t, rc.nodes[del[0].node].mcpPost(t, c.APIKey, "scout", ping, map[string]string{"Mcp-Session-Id": sid}), http.StatusNotFound, notFound)
	other := rc.nodes[1-del[0].node]
	waitFor(t, "the other node refuses the deleted session", func() bool {
		return other.mcpPost(t, c.APIKey, "scout", ping, map[string]string{"Mcp-Session-Id": sid}).status == http.StatusNotFound
	})
}
