package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chaos-relay/relay/client"
	"github.com/chaos-relay/relay/cmd/relay/app"
	"github.com/chaos-relay/relay/server/mcp/mcptest"
)

// The MCP bridge (PROTOCOL §13), black box: the official Go SDK client
// where a client's view matters, raw HTTP where exact status and body do.
// The test names carry the §13.11 (MCP.md §11) item they cover.

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"%s","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// mcpPost POSTs a JSON-RPC body to /mcp/<agent> with the apiKey as Bearer.
func (r *relay) mcpPost(t *testing.T, key, agent, body string, header map[string]string) answer {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	for k, v := range header {
		h[k] = v
	}
	return send(t, http.MethodPost, r.URL+"/mcp/"+agent, []byte(body), h)
}

// mcpSession initializes over raw HTTP and returns the session id.
func (r *relay) mcpSession(t *testing.T, key, agent string) string {
	t.Helper()
	a := r.mcpPost(t, key, agent, strings.Replace(initBody, "%s", "2025-11-25", 1), nil)
	id := a.header.Get("Mcp-Session-Id")
	if a.status != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d %s (session %q)", a.status, a.body, id)
	}
	return id
}

// expectMCP checks an MCP answer's status and exact body, and the headers
// of every /mcp answer (PROTOCOL §13.2).
func expectMCP(t *testing.T, a answer, status int, body string) {
	t.Helper()
	expect(t, a, status, body)
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if got := a.header.Get("Access-Control-Expose-Headers"); got != "Mcp-Session-Id" {
		t.Errorf("Access-Control-Expose-Headers %q, want Mcp-Session-Id", got)
	}
}

// rpcError is the exact body of a JSON-RPC error answer; id "" is none.
func rpcError(id string, code int, msg string) string {
	m, _ := json.Marshal(msg)
	idPart := ""
	if id != "" {
		idPart = `"id":` + id + `,`
	}
	return `{"jsonrpc":"2.0",` + idPart + `"error":{"code":` + itoa(code) + `,"message":` + strings.ReplaceAll(string(m), `\u0026`, "&") + `}}`
}

func rpcResult(id, result string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"result":` + result + `}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// connectSDK connects the official Go SDK client to /mcp/<agent>: it tries
// server/discover first, then falls back to initialize (PROTOCOL §13.4.3).
func (r *relay) connectSDK(t *testing.T, key, agent string) *sdk.ClientSession {
	t.Helper()
	cl := sdk.NewClient(&sdk.Implementation{Name: "relay-test", Version: "1.0.0"}, nil)
	tr := &sdk.StreamableClientTransport{Endpoint: r.URL + "/mcp/" + agent, HTTPClient: mcptest.HTTPClient(key), MaxRetries: -1}
	cs, err := cl.Connect(bg, tr, nil)
	if err != nil {
		t.Fatalf("SDK connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// extension connects a fake extension for c.
func (r *relay) extension(t *testing.T, c *client.Client, tools map[string]mcptest.Tool) *mcptest.Extension {
	t.Helper()
	ext, err := mcptest.Dial(bg, r.URL, c.APIKey, tools)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ext.Close)
	return ext
}

const capabilitiesJSON = `{"tools":{"listChanged":false},"resources":{"subscribe":false,"listChanged":false},"prompts":{"listChanged":false}}`

// §11.1: initialize echoes each supported version and answers 2025-11-25
// to any other; it sets a session id and needs no extension.
func TestMCPInitializeNegotiatesTheVersion(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	version := "test" // the relay's version; another relay's under RELAY_URL
	if os.Getenv("RELAY_URL") != "" {
		var res struct {
			Result struct {
				ServerInfo struct{ Version string } `json:"serverInfo"`
			} `json:"result"`
		}
		decode(t, r.mcpPost(t, c.APIKey, "agent-1", strings.Replace(initBody, "%s", "2025-11-25", 1), nil), &res)
		version = res.Result.ServerInfo.Version
	}
	for asked, want := range map[string]string{
		"2025-11-25": "2025-11-25", "2025-06-18": "2025-06-18", "2025-03-26": "2025-03-26", "2024-11-05": "2024-11-05",
		"2025-11-05": "2025-11-25", "1999-01-01": "2025-11-25",
	} {
		a := r.mcpPost(t, c.APIKey, "agent-1", strings.Replace(initBody, "%s", asked, 1), nil)
		expectMCP(t, a, http.StatusOK, rpcResult("1", `{"protocolVersion":"`+want+`","capabilities":`+capabilitiesJSON+
			`,"serverInfo":{"name":"chaos-agent-agent-1","version":"`+version+`"}}`))
		if id := a.header.Get("Mcp-Session-Id"); !uuidV4.MatchString(id) {
			t.Errorf("%s: Mcp-Session-Id %q, want a UUIDv4", asked, id)
		}
	}
	// initialize ignores a session header, even an unknown one, and makes a new session.
	a := r.mcpPost(t, c.APIKey, "agent-1", strings.Replace(initBody, "%s", "2025-11-25", 1), map[string]string{"Mcp-Session-Id": "nope"})
	if a.status != http.StatusOK || !uuidV4.MatchString(a.header.Get("Mcp-Session-Id")) {
		t.Fatalf("initialize with a stale session header: %d %s", a.status, a.body)
	}
	// The official client connects (falling back from server/discover) with the extension offline.
	cs := r.connectSDK(t, c.APIKey, "agent-1")
	if res := cs.InitializeResult(); res.ProtocolVersion != "2025-11-25" || res.ServerInfo.Name != "chaos-agent-agent-1" {
		t.Fatalf("SDK initialize result %+v", res)
	}
	if err := cs.Ping(bg, nil); err != nil {
		t.Fatalf("ping offline: %v", err)
	}
}

// §11.2: the catalogue is answered by the relay and never reaches the
// extension: the first mcp-request frame is the later tools/call.
func TestMCPCatalogueIsLocal(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	ext := r.extension(t, c, nil)
	cs := r.connectSDK(t, c.APIKey, "scout")

	if err := cs.Ping(bg, nil); err != nil {
		t.Fatal(err)
	}
	tl, err := cs.ListTools(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tl.Tools {
		names = append(names, tool.Name)
	}
	want := []string{"chat", "delegate_task", "read_memory", "write_memory", "list_files", "get_status", "list_artifacts", "read_artifact"}
	if !slices.Equal(names, want) || tl.NextCursor != "" {
		t.Fatalf("tools %v (cursor %q), want %v", names, tl.NextCursor, want)
	}
	rl, err := cs.ListResources(bg, nil)
	if err != nil || len(rl.Resources) != 2 || rl.Resources[0].URI != "chaos://agent/scout/activity" ||
		rl.Resources[1].URI != "chaos://agent/scout/claudemd" || rl.Resources[1].MIMEType != "text/markdown" {
		t.Fatalf("resources %+v, %v", rl, err)
	}
	rt, err := cs.ListResourceTemplates(bg, nil)
	if err != nil || len(rt.ResourceTemplates) != 0 {
		t.Fatalf("resource templates %+v, %v", rt, err)
	}
	pl, err := cs.ListPrompts(bg, nil)
	if err != nil || len(pl.Prompts) != 2 || pl.Prompts[0].Name != "chat_with_agent" || pl.Prompts[1].Name != "delegate_to_agent" ||
		len(pl.Prompts[1].Arguments) != 2 || !pl.Prompts[1].Arguments[0].Required || pl.Prompts[1].Arguments[1].Required {
		t.Fatalf("prompts %+v, %v", pl, err)
	}

	// Exact wire data of one tool and of the templates.
	sess := r.mcpSession(t, c.APIKey, "scout")
	a := r.mcpPost(t, c.APIKey, "scout", `{"jsonrpc":"2.0","id":"l","method":"tools/list","params":{"cursor":"x"}}`, map[string]string{"Mcp-Session-Id": sess})
	var list struct {
		Result struct {
			Tools []json.RawMessage `json:"tools"`
		} `json:"result"`
	}
	decode(t, a, &list)
	if got := string(list.Result.Tools[1]); !strings.Contains(got, `"inputSchema":{"type":"object","properties":{"task":{"type":"string","description":`) ||
		!strings.Contains(got, `"priority":{"type":"string","description":"Task priority","enum":["low","normal","high"]}},"required":["task"]}`) {
		t.Errorf("delegate_task: %s", got)
	}
	if got := string(list.Result.Tools[5]); !strings.HasSuffix(got, `"inputSchema":{"type":"object","properties":{}}}`) {
		t.Errorf("get_status: %s", got)
	}
	if a.header.Get("Mcp-Session-Id") != sess {
		t.Errorf("answer's session header %q, want %q", a.header.Get("Mcp-Session-Id"), sess)
	}
	expectMCP(t, r.mcpPost(t, c.APIKey, "scout", `{"jsonrpc":"2.0","id":2,"method":"resources/templates/list"}`, nil),
		http.StatusOK, rpcResult("2", `{"resourceTemplates":[]}`))
	for _, m := range []string{"server/discover", "logging/setLevel", "completion/complete", "tools/listx"} {
		expectMCP(t, r.mcpPost(t, c.APIKey, "scout", `{"jsonrpc":"2.0","id":3,"method":"`+m+`"}`, nil),
			http.StatusOK, rpcError("3", -32601, "Method not found: "+m))
	}

	// tools/call without a name is refused here, not forwarded.
	expectMCP(t, r.mcpPost(t, c.APIKey, "scout", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}`, nil),
		http.StatusOK, rpcError("4", -32602, "Missing tool name in params"))

	res, err := cs.CallTool(bg, &sdk.CallToolParams{Name: "chat", Arguments: map[string]any{"message": "hi"}})
	if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "Reply to: hi" {
		t.Fatalf("chat: %+v, %v", res, err)
	}
	f := <-ext.Frames
	var req struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(f.JSONRPC, &req)
	if req.Method != "tools/call" {
		t.Fatalf("the first frame the extension got is %s, want the tools/call", f.Raw)
	}
	select {
	case f := <-ext.Frames:
		t.Fatalf("a second frame: %s", f.Raw)
	default:
	}
}

// §11.3: how each kind of body is answered.
func TestMCPClassifiesMessages(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	post := func(body string) answer { return r.mcpPost(t, c.APIKey, "a", body, nil) }
	for _, body := range []string{
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`,
		`{"jsonrpc":"2.0","id":5,"result":{}}`,
		`{"jsonrpc":"2.0","id":5,"error":{"code":1,"message":"x"}}`,
	} {
		expectMCP(t, post(body), http.StatusAccepted, "")
	}
	for _, tt := range []struct{ body, want string }{
		{`"ping"`, rpcError("", -32600, "Invalid Request")},
		{`42`, rpcError("", -32600, "Invalid Request")},
		{`null`, rpcError("", -32600, "Invalid Request")},
		{`{"jsonrpc":"2.0","id":1}`, rpcError("1", -32600, "Invalid Request")},
		{`{"jsonrpc":"2.0","id":"x","method":7}`, rpcError(`"x"`, -32600, "Invalid Request")},
		{`{"jsonrpc":"2.0","id":null,"method":"ping"}`, rpcError("", -32600, "Invalid Request")},
		{`{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, rpcError("", -32600, "Invalid Request")},
		{`[]`, rpcError("", -32600, "Invalid Request")},
		{`{"method":`, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error — invalid JSON"}}`},
		{``, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error — invalid JSON"}}`},
	} {
		expectMCP(t, post(tt.body), http.StatusBadRequest, tt.want)
	}
	// A body over RELAY_MAX_BODY_BYTES (default 1 MiB) is 413 (§1.8).
	expectMCP(t, post(`{"jsonrpc":"2.0","id":1,"method":"ping","pad":"`+strings.Repeat("x", 1<<20)+`"}`),
		http.StatusRequestEntityTooLarge, `{"error":"Request body too large"}`)
	// The id is echoed byte for byte; jsonrpc, Content-Type and Accept are not checked.
	a := send(t, http.MethodPost, r.URL+"/mcp/a", []byte(`{"id":1.50,"method":"ping"}`),
		map[string]string{"Authorization": "Bearer " + c.APIKey, "Content-Type": "text/plain"})
	expectMCP(t, a, http.StatusOK, rpcResult("1.50", "{}"))
}

// §11.4: the protocol version header, and sessions bound to a user and an
// agent; DELETE.
func TestMCPVersionHeaderAndSessions(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c, other := r.register(t, false), r.register(t, false)
	unsupported := "Unsupported MCP-Protocol-Version: 2026-07-28 (supported: 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)"
	a := r.mcpPost(t, c.APIKey, "a", `{"jsonrpc":"2.0","id":1,"method":"server/discover"}`,
		map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"})
	expectMCP(t, a, http.StatusBadRequest, rpcError("1", -32600, unsupported))
	if a.header.Get("Mcp-Session-Id") != "" {
		t.Error("the 400 carries a session id")
	}
	for _, v := range []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"} {
		expectMCP(t, r.mcpPost(t, c.APIKey, "a", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"MCP-Protocol-Version": v}),
			http.StatusOK, rpcResult("1", "{}"))
	}

	sess := r.mcpSession(t, c.APIKey, "a")
	notFound := rpcError("", -32000, "Session not found")
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for _, tt := range []struct{ key, agent, session string }{
		{c.APIKey, "a", "2b1fa7e4-59a4-4d5e-9a4c-3a3f0c2f9d11"}, // unknown
		{other.APIKey, "a", sess},                               // another user's
		{c.APIKey, "b", sess},                                   // another agent's
	} {
		expectMCP(t, r.mcpPost(t, tt.key, tt.agent, ping, map[string]string{"Mcp-Session-Id": tt.session}), http.StatusNotFound, notFound)
	}
	a = r.mcpPost(t, c.APIKey, "a", ping, map[string]string{"Mcp-Session-Id": sess})
	expectMCP(t, a, http.StatusOK, rpcResult("1", "{}"))
	if a.header.Get("Mcp-Session-Id") != sess {
		t.Errorf("session header %q, want %q", a.header.Get("Mcp-Session-Id"), sess)
	}

	del := func(key, agent, session string) answer {
		h := map[string]string{"Authorization": "Bearer " + key}
		if session != "" {
			h["Mcp-Session-Id"] = session
		}
		return send(t, http.MethodDelete, r.URL+"/mcp/"+agent, nil, h)
	}
	expectMCP(t, del(c.APIKey, "a", ""), http.StatusBadRequest, rpcError("", -32600, "Mcp-Session-Id header required"))
	expectMCP(t, del(other.APIKey, "a", sess), http.StatusNotFound, notFound) // not the owner: untouched
	expectMCP(t, del(c.APIKey, "a", sess), http.StatusNoContent, "")
	expectMCP(t, del(c.APIKey, "a", sess), http.StatusNotFound, notFound)
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", ping, map[string]string{"Mcp-Session-Id": sess}), http.StatusNotFound, notFound)
	// Sessionless requests are always served.
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", ping, nil), http.StatusOK, rpcResult("1", "{}"))
}

// §11.4 (TTL and the per-user cap): an idle session expires; the least
// recently used is evicted beyond the cap.
func TestMCPSessionLifetime(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.MCP.MaxSessionsPerUser = 2 })
	c := r.register(t, false)
	s1, s2 := r.mcpSession(t, c.APIKey, "a"), r.mcpSession(t, c.APIKey, "a")
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", ping, map[string]string{"Mcp-Session-Id": s1}), http.StatusOK, rpcResult("1", "{}")) // s1 used last
	r.mcpSession(t, c.APIKey, "a")                                                                                                // evicts s2
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", ping, map[string]string{"Mcp-Session-Id": s2}), http.StatusNotFound, rpcError("", -32000, "Session not found"))
	expectMCP(t, r.mcpPost(t, c.APIKey, "a", ping, map[string]string{"Mcp-Session-Id": s1}), http.StatusOK, rpcResult("1", "{}"))
}

// §11.5: Bearer alone authenticates a signed session; wrong keys are 401;
// GET is 405; the Origin list and RELAY_MCP=off.
func TestMCPAuthentication(t *testing.T) {
	t.Parallel()
	r := newRelay(t, func(c *app.Config) { c.MCP.AllowedOrigins = []string{"https://app.example.com"} })
	signed := r.register(t, true)
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	expectMCP(t, r.mcpPost(t, signed.APIKey, "a", ping, nil), http.StatusOK, rpcResult("1", "{}"))
	// Signature headers are ignored on /mcp, even bad ones.
	expectMCP(t, r.mcpPost(t, signed.APIKey, "a", ping, map[string]string{"X-Timestamp": "x", "X-Nonce": "n", "X-Signature": "bad"}),
		http.StatusOK, rpcResult("1", "{}"))
	unauthorized := `{"error":"Unauthorized. Include Authorization: Bearer <apiKey>"}`
	for _, h := range []map[string]string{
		{"Authorization": "Bearer 00000000-0000-8000-8000-000000000000"},
		{"Authorization": "Basic " + signed.APIKey},
		{},
	} {
		a := send(t, http.MethodPost, r.URL+"/mcp/a", []byte(ping), h)
		expectMCP(t, a, http.StatusUnauthorized, unauthorized)
		if v := a.header.Get("WWW-Authenticate"); v != "" {
			t.Errorf("WWW-Authenticate %q", v)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch} {
		a := send(t, m, r.URL+"/mcp/a", nil, map[string]string{"Authorization": "Bearer " + signed.APIKey, "Accept": "text/event-stream"})
		if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST, DELETE, OPTIONS" {
			t.Errorf("%s: %d, Allow %q", m, a.status, a.header.Get("Allow"))
		}
		if m != http.MethodHead {
			expectMCP(t, a, http.StatusMethodNotAllowed, `{"error":"Method not allowed"}`)
		}
	}
	expect(t, send(t, http.MethodOptions, r.URL+"/mcp/a", nil, nil), http.StatusNoContent, "") // the preflight, before routing
	expectMCP(t, send(t, http.MethodPost, r.URL+"/mcp/"+strings.Repeat("x", 257), []byte(ping), map[string]string{"Authorization": "Bearer " + signed.APIKey}),
		http.StatusNotFound, `{"error":"Not found"}`)

	// Origin: checked before authentication, when present.
	forbidden := rpcError("", -32000, "Origin not allowed")
	expectMCP(t, r.mcpPost(t, "", "a", ping, map[string]string{"Origin": "https://evil.example"}), http.StatusForbidden, forbidden)
	expectMCP(t, r.mcpPost(t, signed.APIKey, "a", ping, map[string]string{"Origin": "https://app.example.com"}), http.StatusOK, rpcResult("1", "{}"))

	// The official client with a signed session's key alone.
	cs := r.connectSDK(t, signed.APIKey, "a")
	if err := cs.Ping(bg, nil); err != nil {
		t.Fatal(err)
	}

	off := newRelay(t, func(c *app.Config) { c.MCP.Enabled = false })
	k := off.register(t, false)
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodGet} {
		expect(t, send(t, m, off.URL+"/mcp/a", []byte(ping), map[string]string{"Authorization": "Bearer " + k.APIKey}),
			http.StatusNotFound, `{"error":"Not found"}`)
	}
}

// §11.11: batches answer their requests in order; initialize cannot be
// batched; all-notification batches are 202.
func TestMCPBatch(t *testing.T) {
	t.Parallel()
	r := newRelay(t)
	c := r.register(t, false)
	post := func(body string) answer { return r.mcpPost(t, c.APIKey, "a", body, nil) }
	expectMCP(t, post(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"b","method":"resources/templates/list"}]`),
		http.StatusOK, `[`+rpcResult("1", "{}")+`,`+rpcResult(`"b"`, `{"resourceTemplates":[]}`)+`]`)
	expectMCP(t, post(`[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}},{"jsonrpc":"2.0","id":2,"method":"ping"},7]`),
		http.StatusOK, `[`+rpcError("1", -32600, "initialize cannot be batched")+`,`+rpcResult("2", "{}")+`,`+rpcError("", -32600, "Invalid Request")+`]`)
	expectMCP(t, post(`[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}}]`), http.StatusAccepted, "")
	big := "[" + strings.TrimSuffix(strings.Repeat(`{"jsonrpc":"2.0","id":1,"method":"ping"},`, 33), ",") + "]"
	expectMCP(t, post(big), http.StatusBadRequest, rpcError("", -32600, "Batch too large"))
}

// dialUser opens a raw socket of c (an extension the test drives by hand),
// registered with the hub when it returns: the handshake's answer can reach
// the client before the hub knows the socket, and the pong cannot.
func (r *relay) dialUser(t *testing.T, c *client.Client) *websocket.Conn {
	t.Helper()
	conn := r.dialWS(t, c, "", nil)
	pingPong(t, conn)
	return conn
}
