package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/server/mcp/mcptest"
)

// Forwarding to the extension (PROTOCOL §13.7, §13.8), black box: raw
// sockets stand in for the extension where the test must choose what it
// answers and when.

// postAsync POSTs to /mcp/<agent> in the background; the answer's status is
// 0 when the request failed (as when ctx is cancelled).
func (r *relay) postAsync(ctx context.Context, key, agent, body string, header map[string]string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/mcp/"+agent, strings.NewReader(body))
		if err != nil {
			ch <- answer{}
			return
		}
		req.Header.Set("Authorization", "Bearer "+key)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- answer{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}()
	return ch
}

// await waits for an async answer.
func await(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("no answer within 20 s")
	}
	return answer{}
}

// mcpFrame is an mcp-request frame as a socket received it.
type mcpFrame struct {
	raw     string
	corr    string
	agent   string
	jsonrpc json.RawMessage
}

// readMCPRequest reads frames until an mcp-request.
func readMCPRequest(t *testing.T, conn *websocket.Conn) mcpFrame {
	t.Helper()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read mcp-request: %v", err)
		}
		var f struct {
			Type          string          `json:"type"`
			CorrelationID string          `json:"correlationId"`
			AgentID       string          `json:"agentId"`
			JSONRPC       json.RawMessage `json:"jsonrpc"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		switch f.Type {
		case "mcp-request":
			return mcpFrame{raw: string(data), corr: f.CorrelationID, agent: f.AgentID, jsonrpc: f.JSONRPC}
		case "message":
			continue
		}
		t.Fatalf("frame %s, want an mcp-request", data)
	}
}

// pingPong sends an application ping and expects the next frame to be its
// pong: the frames sent before it were handled, without an error frame, and
// the socket is open.
func pingPong(t *testing.T, conn *websocket.Conn) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if f := readFrame(t, conn); f.Type != "pong" {
		t.Fatalf("frame %+v, want pong", f)
	}
}

// mcpAnswer sends an mcp-response frame with a raw jsonrpc member.
func mcpAnswer(t *testing.T, conn *websocket.Conn, corr, jsonrpc string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"mcp-response","correlationId":"`+corr+`","jsonrpc":`+jsonrpc+`}`)); err != nil {
		t.Fatalf("answer: %v", err)
	}
}

// §11.6: the frame's members and order; every socket of the user gets it;
// the first valid answer wins; unknown, foreign, malformed and duplicate
// answers are ignored and the sockets stay open.
func TestMCPForwarding(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, other := r.register(t, false), r.register(t, false)
	s1, s2, so := r.dialUser(t, c), r.dialUser(t, c), r.dialUser(t, other)
	sess := r.mcpSession(t, c.APIKey, "my%20agent")
	body := `{"jsonrpc":"2.0","id":"abc-1","method":"tools/call","params":{"name":"echo","arguments":{"n":1.50,"s":"<é>\u0041"},"_meta":{"progressToken":7}}}`
	ch := r.postAsync(bg, c.APIKey, "my%20agent", body, map[string]string{"Mcp-Session-Id": sess})

	f1, f2 := readMCPRequest(t, s1), readMCPRequest(t, s2)
	if !uuidV4.MatchString(f1.corr) || f1.raw != f2.raw {
		t.Fatalf("frames %s and %s", f1.raw, f2.raw)
	}
	if want := `{"type":"mcp-request","correlationId":"` + f1.corr + `","agentId":"my%20agent","jsonrpc":` + body + `}`; f1.raw != want {
		t.Fatalf("frame\n%s\nwant\n%s", f1.raw, want)
	}
	pingPong(t, so) // the other user's socket got nothing

	win := `{"jsonrpc":"2.0","id":999,"result":{"content":[{"type":"text","text":"second socket"}]}}`
	mcpAnswer(t, so, f1.corr, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"other user"}]}}`)
	pingPong(t, so)
	mcpAnswer(t, s1, "6f0e9f58-0b1c-4b8e-9a57-2f4a1f3e7c11", win) // never issued
	for _, f := range []string{
		`{"type":"mcp-response","jsonrpc":{"jsonrpc":"2.0","id":1,"result":{}}}`,                          // no correlationId
		`{"type":"mcp-response","correlationId":"` + f1.corr + `"}`,                                       // no jsonrpc
		`{"type":"mcp-response","correlationId":7,"jsonrpc":{"jsonrpc":"2.0","id":1,"result":{}}}`,        // not a string
		`{"type":"mcp-response","correlationId":"` + f1.corr + `","jsonrpc":null}`,                        // null
		`{"type":"mcp-list-agents","correlationId":"` + f1.corr + `","jsonrpc":{"jsonrpc":"2.0","id":1}}`, // another type
	} {
		if err := s1.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	pingPong(t, s1)
	select {
	case a := <-ch:
		t.Fatalf("answered by an ignored frame: %d %s", a.status, a.body)
	default:
	}
	mcpAnswer(t, s2, f1.corr, win)
	a := await(t, ch)
	expectMCP(t, a, http.StatusOK, rpcResult(`"abc-1"`, `{"content":[{"type":"text","text":"second socket"}]}`))
	if a.header.Get("Mcp-Session-Id") != sess {
		t.Errorf("session header %q", a.header.Get("Mcp-Session-Id"))
	}
	mcpAnswer(t, s1, f1.corr, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`) // a late duplicate
	for _, s := range []*websocket.Conn{s1, s2, so} {
		pingPong(t, s)
	}
}

// §11.7: every row of the result table (PROTOCOL §13.7 step 9).
func TestMCPResultMapping(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	sock := r.dialUser(t, c)
	call := `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"t"}}`
	read := `{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"chaos://agent/a/activity"}}`
	get := `{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"chat_with_agent"}}`
	invalid := rpcError("5", -32603, "Invalid response from agent")
	for _, tt := range []struct {
		name, request, answer, want string
	}{
		{"error passes", call, `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"boom","data":{"x":[1]}}}`,
			`{"jsonrpc":"2.0","id":5,"error":{"code":-32000,"message":"boom","data":{"x":[1]}}}`},
		{"valid tool result", call, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}],"isError":true,"structuredContent":{"a":1},"_meta":{"m":2}}}`,
			rpcResult("5", `{"content":[{"type":"text","text":"hi"}],"isError":true,"structuredContent":{"a":1},"_meta":{"m":2}}`)},
		{"unknown tool", call, `{"jsonrpc":"2.0","id":1,"result":{"error":"Unknown tool: x"}}`,
			rpcResult("5", `{"content":[{"type":"text","text":"Unknown tool: x"}],"isError":true}`)},
		{"bare string", call, `{"jsonrpc":"2.0","id":1,"result":"file contents"}`,
			rpcResult("5", `{"content":[{"type":"text","text":"file contents"}]}`)},
		{"absent", call, `{"jsonrpc":"2.0","id":1}`, rpcResult("5", `{"content":[]}`)},
		{"null", call, `{"jsonrpc":"2.0","id":1,"result":null}`, rpcResult("5", `{"content":[]}`)},
		{"ok object", call, `{"jsonrpc":"2.0","id":1,"result":{"ok":true}}`,
			rpcResult("5", `{"content":[{"type":"text","text":"{\"ok\":true}"}]}`)},
		{"array", call, `{"jsonrpc":"2.0","id":1,"result":["a.md", 1.50]}`,
			rpcResult("5", `{"content":[{"type":"text","text":"[\"a.md\",1.50]"}]}`)},
		{"error and more", call, `{"jsonrpc":"2.0","id":1,"result":{"error":"x","detail":1}}`,
			rpcResult("5", `{"content":[{"type":"text","text":"{\"error\":\"x\",\"detail\":1}"}]}`)},
		{"resource", read, `{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"u","text":"t"}]}}`,
			rpcResult("5", `{"contents":[{"uri":"u","text":"t"}]}`)},
		{"resource error", read, `{"jsonrpc":"2.0","id":1,"result":{"error":"No such resource"}}`,
			rpcError("5", -32002, "No such resource")},
		{"resource neither", read, `{"jsonrpc":"2.0","id":1}`, invalid},
		{"prompt", get, `{"jsonrpc":"2.0","id":1,"result":{"messages":[]}}`, rpcResult("5", `{"messages":[]}`)},
		{"prompt error", get, `{"jsonrpc":"2.0","id":1,"result":{"error":"Unknown prompt"}}`,
			rpcError("5", -32602, "Unknown prompt")},
		{"not an object", call, `"nope"`, invalid},
		{"both", call, `{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}`, invalid},
		{"bad error", call, `{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}`, invalid},
	} {
		ch := r.postAsync(bg, c.APIKey, "a", tt.request, nil)
		f := readMCPRequest(t, sock)
		mcpAnswer(t, sock, f.corr, tt.answer)
		a := await(t, ch)
		if a.status != http.StatusOK || a.body != tt.want {
			t.Errorf("%s: %d %s\nwant %s", tt.name, a.status, a.body, tt.want)
		}
	}
}

// §11.7 with the fake extension and the official client: the extension's
// non-MCP results pass the SDK's schema checks.
func TestMCPExtensionResultsThroughTheSDK(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	r.extension(t, c, nil)
	cs := r.connectSDK(t, c.APIKey, "a")
	for _, tt := range []struct {
		tool    string
		text    string
		isError bool
	}{
		{"read_memory", "contents of notes.md", false},
		{"write_memory", `{"ok":true}`, false},
		{"list_files", `["notes.md","todo.md"]`, false},
		{"get_status", `{"running":true,"tasks":0}`, false},
		{"nope", "Unknown tool: nope", true},
	} {
		res, err := cs.CallTool(bg, &sdk.CallToolParams{Name: tt.tool, Arguments: map[string]any{"path": "notes.md", "content": "x"}})
		if err != nil {
			t.Fatalf("%s: %v", tt.tool, err)
		}
		if res.IsError != tt.isError || len(res.Content) != 1 || res.Content[0].(*sdk.TextContent).Text != tt.text {
			t.Errorf("%s: %+v", tt.tool, res)
		}
	}
	rr, err := cs.ReadResource(bg, &sdk.ReadResourceParams{URI: "chaos://agent/a/activity"})
	if err != nil || len(rr.Contents) != 1 {
		t.Fatalf("read resource: %+v, %v", rr, err)
	}
	if _, err := cs.ReadResource(bg, &sdk.ReadResourceParams{URI: "chaos://agent/a/other"}); err == nil || !strings.Contains(err.Error(), "Unknown resource") {
		t.Fatalf("unknown resource: %v", err)
	}
	gp, err := cs.GetPrompt(bg, &sdk.GetPromptParams{Name: "chat_with_agent", Arguments: map[string]string{"message": "hi"}})
	if err != nil || len(gp.Messages) != 1 {
		t.Fatalf("get prompt: %+v, %v", gp, err)
	}
}

// §11.8: offline, timeout, disconnect after the grace period, and a
// reconnect inside it answered on the new socket.
func TestMCPOfflineTimeoutAndDisconnect(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits, func(c *app.Config) {
		c.MCP.RequestTimeout = time.Second
		c.MCP.DisconnectGrace = 50 * time.Millisecond
	})
	c := r.register(t, false)
	call := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"chat","arguments":{"message":"hi"}}}`

	start := time.Now()
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", call, nil), http.StatusOK,
		rpcError("3", -32000, "Agent is offline — the Chrome extension is not connected"))
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("offline answered after %v", d)
	}

	sock := r.dialUser(t, c)
	ch := r.postAsync(bg, c.APIKey, "a", call, nil)
	readMCPRequest(t, sock)
	expectMCP(t, await(t, ch), http.StatusOK, rpcError("3", -32000, "MCP request timed out"))

	ch = r.postAsync(bg, c.APIKey, "a", call, nil)
	readMCPRequest(t, sock)
	_ = sock.Close()
	// The grace (50 ms) ends the wait long before the timeout (1 s) would.
	expectMCP(t, await(t, ch), http.StatusOK, rpcError("3", -32000, "Agent disconnected before answering"))

	// A reconnect inside the grace period: the request keeps waiting, is not
	// sent again, and is answered on the new socket.
	r2 := newRelay(t, noLimits, func(c *app.Config) { c.MCP.DisconnectGrace = 30 * time.Second })
	c2 := r2.register(t, false)
	old := r2.dialUser(t, c2)
	ch = r2.postAsync(bg, c2.APIKey, "a", call, nil)
	f := readMCPRequest(t, old)
	_ = old.Close()
	waitFor(t, "the socket to close", func() bool {
		return strings.Contains(send(t, http.MethodGet, r2.URL+"/metrics", nil, nil).body, "relay_websocket_connections 0")
	})
	fresh := r2.dialUser(t, c2)
	pingPong(t, fresh) // no mcp-request came first: not re-sent
	mcpAnswer(t, fresh, f.corr, `{"jsonrpc":"2.0","id":3,"result":"after reconnect"}`)
	expectMCP(t, await(t, ch), http.StatusOK, rpcResult("3", `{"content":[{"type":"text","text":"after reconnect"}]}`))
}

// §11.9: a large mcp-response is read while its request is pending; other
// large frames, and mcp-responses over the larger limit, close with 1009,
// and the request then fails by the grace rule.
func TestMCPLargeResponses(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits, func(c *app.Config) {
		c.MCP.MaxResponseBytes = 256 << 10
		c.MCP.DisconnectGrace = 50 * time.Millisecond
	})
	c := r.register(t, false)
	call := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"big"}}`
	text := strings.Repeat("x", 200_000)

	sock := r.dialUser(t, c)
	ch := r.postAsync(bg, c.APIKey, "a", call, nil)
	f := readMCPRequest(t, sock)
	mcpAnswer(t, sock, f.corr, `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"`+text+`"}]}}`)
	expectMCP(t, await(t, ch), http.StatusOK, rpcResult("3", `{"content":[{"type":"text","text":"`+text+`"}]}`))
	pingPong(t, sock)

	// 100 KB of another type while a request is pending.
	ch = r.postAsync(bg, c.APIKey, "a", call, nil)
	readMCPRequest(t, sock)
	reply := `{"type":"reply","channelId":"x","content":"` + strings.Repeat("y", 100_000) + `"}`
	if err := sock.WriteMessage(websocket.TextMessage, []byte(reply)); err != nil {
		t.Fatal(err)
	}
	if ce := closeCode(t, sock); ce.Code != 1009 || ce.Text != "Message too big" {
		t.Fatalf("closed with %d %q", ce.Code, ce.Text)
	}
	expectMCP(t, await(t, ch), http.StatusOK, rpcError("3", -32000, "Agent disconnected before answering"))

	// An mcp-response over RELAY_MCP_MAX_RESPONSE_BYTES. (Frames over a
	// limit are one byte over in these tests: the relay then has read the
	// whole frame when it closes, so the client gets the close frame rather
	// than a reset for unread data.)
	sock = r.dialUser(t, c)
	ch = r.postAsync(bg, c.APIKey, "a", call, nil)
	f = readMCPRequest(t, sock)
	writeSized(t, sock, f.corr, 256<<10+1)
	if ce := closeCode(t, sock); ce.Code != 1009 || ce.Text != "Message too big" {
		t.Fatalf("closed with %d %q", ce.Code, ce.Text)
	}
	expectMCP(t, await(t, ch), http.StatusOK, rpcError("3", -32000, "Agent disconnected before answering"))

	// Without a pending request, a large mcp-response is just a large frame.
	sock = r.dialUser(t, c)
	writeSized(t, sock, f.corr, 64<<10+1)
	if ce := closeCode(t, sock); ce.Code != 1009 {
		t.Fatalf("closed with %d %q", ce.Code, ce.Text)
	}
}

// writeSized sends an mcp-response frame of exactly size bytes.
func writeSized(t *testing.T, conn *websocket.Conn, corr string, size int) {
	t.Helper()
	head := `{"type":"mcp-response","correlationId":"` + corr + `","jsonrpc":{"jsonrpc":"2.0","id":3,"result":"`
	tail := `"}}`
	frame := head + strings.Repeat("z", size-len(head)-len(tail)) + tail
	if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatalf("answer: %v", err)
	}
}

// metric reads one sample line's value from /metrics ("" when absent).
func (r *relay) metric(t *testing.T, sample string) string {
	t.Helper()
	for line := range strings.Lines(send(t, http.MethodGet, r.URL+"/metrics", nil, nil).body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			return v
		}
	}
	return ""
}

// §11.10: notifications/cancelled answers the open POST and frees its slot;
// a client that goes away frees its slot; the in-flight cap and the rate
// limit answer 429.
func TestMCPCancellationAndLimits(t *testing.T) {
	t.Parallel()
	r := newRelay(t, noLimits, func(c *app.Config) { c.MCP.MaxInflight = 2 })
	c := r.register(t, false)
	sock := r.dialUser(t, c)
	sess := r.mcpSession(t, c.APIKey, "a")
	hdr := map[string]string{"Mcp-Session-Id": sess}
	call := func(id string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"slow"}}`
	}

	first := r.postAsync(bg, c.APIKey, "a", call("1"), hdr)
	readMCPRequest(t, sock)
	ctx, cancel := context.WithCancel(bg)
	second := r.postAsync(ctx, c.APIKey, "a", call(`"two"`), hdr)
	readMCPRequest(t, sock)

	a := r.mcpPost(t, c.APIKey, "a", call("3"), hdr)
	expectMCP(t, a, http.StatusTooManyRequests, `{"error":"Too many MCP requests. Try again later."}`)
	if a.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", a.header.Get("Retry-After"))
	}
	// In a batch, the member over the cap answers -32000.
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", "["+call("4")+"]", hdr), http.StatusOK,
		"["+rpcError("4", -32000, "Too many MCP requests. Try again later.")+"]")

	// Cancelling in another session, or another id, changes nothing.
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		map[string]string{"Mcp-Session-Id": r.mcpSession(t, c.APIKey, "a")}), http.StatusAccepted, "")
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"1"}}`, hdr), http.StatusAccepted, "")
	select {
	case a := <-first:
		t.Fatalf("answered by another session's cancel: %s", a.body)
	default:
	}
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user"}}`, hdr),
		http.StatusAccepted, "")
	expectMCP(t, await(t, first), http.StatusOK, rpcError("1", -32000, "Request cancelled"))

	// The slot is free: another request is forwarded.
	third := r.postAsync(bg, c.APIKey, "a", call("5"), hdr)
	f := readMCPRequest(t, sock)
	mcpAnswer(t, sock, f.corr, `{"jsonrpc":"2.0","id":5,"result":"done"}`)
	expectMCP(t, await(t, third), http.StatusOK, rpcResult("5", `{"content":[{"type":"text","text":"done"}]}`))

	// The client of the second goes away: its slot is released.
	cancel()
	if a := await(t, second); a.status != 0 {
		t.Fatalf("cancelled request answered %d", a.status)
	}
	waitFor(t, "no request in flight", func() bool { return r.metric(t, "relay_mcp_inflight") == "0" })

	// The official client cancels by context: it sends notifications/cancelled.
	cs := r.connectSDK(t, c.APIKey, "a")
	cctx, ccancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(cctx, &sdk.CallToolParams{Name: "slow"})
		done <- err
	}()
	readMCPRequest(t, sock)
	ccancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled call succeeded")
	}
	waitFor(t, "the SDK's cancellation to release the slot", func() bool { return r.metric(t, "relay_mcp_inflight") == "0" })
	if v := r.metric(t, `relay_mcp_calls_total{method="tools/call",outcome="cancelled"}`); v != "3" {
		t.Errorf("cancelled calls counted %q, want 3", v)
	}

	// The rate limit: mcp:<userId>, every authenticated /mcp request.
	rl := newRelay(t, func(c *app.Config) { c.RateLimits.MCP.N, c.RateLimits.MCP.Per = 2, time.Hour })
	k := rl.register(t, false)
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	rl.mcpPost(t, k.APIKey, "a", ping, nil)
	rl.mcpPost(t, k.APIKey, "b", "not json", nil)
	a = rl.mcpPost(t, k.APIKey, "a", ping, nil)
	expectMCP(t, a, http.StatusTooManyRequests, `{"error":"Too many MCP requests. Try again later."}`)
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// PROTOCOL §13.7 step 8: shutdown answers the waiting requests.
func TestMCPShutdownAnswersPendingRequests(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	if r.stop == nil {
		t.Skip("stops the relay; skipped under RELAY_URL")
	}
	c := r.register(t, false)
	sock := r.dialUser(t, c)
	ch := r.postAsync(bg, c.APIKey, "a", `{"jsonrpc":"2.0","id":8,"method":"prompts/get","params":{"name":"x"}}`, nil)
	readMCPRequest(t, sock)
	r.stop()
	a := await(t, ch)
	if a.status != http.StatusOK || a.body != rpcError("8", -32000, "Server shutting down") {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// The end-to-end check of cmd/mcpcheck (PROTOCOL §13.11, last paragraph),
// against the relay under test: the official Go SDK client drives a session
// through the relay to a fake extension.
func TestMCPEndToEnd(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.MCP.DisconnectGrace = 100 * time.Millisecond })
	results := mcptest.Check(bg, r.URL)
	if len(results) < 15 {
		t.Errorf("%d checks ran", len(results))
	}
	for _, res := range results {
		if res.Err != nil {
			t.Errorf("%s: %v", res.Name, res.Err)
		}
	}
}
