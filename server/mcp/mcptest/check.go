package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chaos-relay/relay/client"
)

// Result is the outcome of one end-to-end check.
type Result struct {
	Name string
	Err  error // nil: passed
	Took time.Duration
}

// Check drives a running relay end to end (PROTOCOL §13.11, last
// paragraph): it registers sessions, connects a fake extension on /ws and
// the official Go SDK client on /mcp, and checks the calls and the error
// answers. If the SDK cannot connect, the call checks still run over raw
// HTTP, so that the report stays informative. It needs the relay's default
// disconnect grace or less (the disconnect check allows 20 s).
//
// It makes about 40 requests for one session: well inside the default
// RELAY_RATE_MCP.
func Check(ctx context.Context, relayURL string) []Result {
	c := &checker{url: strings.TrimRight(relayURL, "/"), agent: "mcpcheck"}
	c.run(ctx)
	return c.results
}

type checker struct {
	url, agent string
	results    []Result

	user, other, signed *client.Client
	ext                 *Extension
	foreign             *websocket.Conn // a socket of another user
	release             chan struct{}   // lets the echo tool answer
	cs                  *sdk.ClientSession
}

func (c *checker) check(name string, fn func() error) bool {
	start := time.Now()
	err := fn()
	c.results = append(c.results, Result{Name: name, Err: err, Took: time.Since(start)})
	return err == nil
}

func (c *checker) run(ctx context.Context) {
	if !c.check("register sessions and connect the fake extension", func() error { return c.setup(ctx) }) {
		return
	}
	defer c.ext.Close()
	defer c.foreign.Close()
	c.check("SDK connects (server/discover, then initialize)", func() error {
		cl := sdk.NewClient(&sdk.Implementation{Name: "mcpcheck", Version: "1.0.0"}, nil)
		cs, err := cl.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: c.endpoint(), HTTPClient: HTTPClient(c.user.APIKey), MaxRetries: -1}, nil)
		if err != nil {
			return err
		}
		c.cs = cs
		if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" {
			return fmt.Errorf("negotiated %q, want 2025-11-25", v)
		}
		return nil
	})
	if c.cs != nil {
		defer c.cs.Close()
	}
	c.check("tools/list: the 8 tools in order", func() error { return c.listTools(ctx) })
	c.check("echo, with foreign, stray and duplicate answers", func() error { return c.echo(ctx) })
	c.check("a 200 KB result", func() error {
		text, isErr, err := c.call(ctx, "big", nil)
		if err == nil && (isErr || len(text) != 200_000) {
			err = fmt.Errorf("%d bytes, isError %v", len(text), isErr)
		}
		return err
	})
	c.check("a bare-string result (read_memory)", func() error {
		return c.expectText(ctx, "read_memory", map[string]any{"path": "notes.md"}, "contents of notes.md", false)
	})
	c.check("an unknown tool", func() error { return c.expectText(ctx, "no_such_tool", nil, "Unknown tool: no_such_tool", true) })
	c.check("in-flight disconnect fails within 20 s", func() error { return c.disconnect(ctx) })
	c.check("offline: -32000 at once", func() error {
		return c.expectRPC(c.user.APIKey, nil, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"chat","arguments":{"message":"hi"}}}`,
			http.StatusOK, `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"Agent is offline — the Chrome extension is not connected"}}`)
	})
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	c.check("wrong key: 401", func() error {
		return c.expectRPC("00000000-0000-8000-8000-000000000000", nil, ping, http.StatusUnauthorized,
			`{"error":"Unauthorized. Include Authorization: Bearer <apiKey>"}`)
	})
	c.check("signed session, Bearer only: 200", func() error {
		return c.expectRPC(c.signed.APIKey, nil, ping, http.StatusOK, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	c.check("MCP-Protocol-Version 2026-07-28: 400", func() error {
		return c.expectRPC(c.user.APIKey, map[string]string{"MCP-Protocol-Version": "2026-07-28"}, ping, http.StatusBadRequest,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Unsupported MCP-Protocol-Version: 2026-07-28 (supported: 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)"}}`)
	})
	c.check("unknown session: 404", func() error {
		return c.expectRPC(c.user.APIKey, map[string]string{"Mcp-Session-Id": "0b9d7c1e-3f0a-4e55-8d2b-7a6c5e4f3a21"}, ping, http.StatusNotFound,
			`{"jsonrpc":"2.0","error":{"code":-32000,"message":"Session not found"}}`)
	})
	c.check("notification: 202", func() error {
		return c.expectRPC(c.user.APIKey, nil, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted, "")
	})
	c.check("DELETE: 204, then 404", func() error { return c.deleteSession(ctx) })
}

func (c *checker) endpoint() string { return c.url + "/mcp/" + c.agent }

func (c *checker) setup(ctx context.Context) error {
	var err error
	if c.user, err = client.Register(ctx, c.url, nil, nil); err != nil {
		return err
	}
	if c.other, err = client.Register(ctx, c.url, nil, nil); err != nil {
		return err
	}
	key, err := client.GenerateKey()
	if err != nil {
		return err
	}
	if c.signed, err = client.Register(ctx, c.url, key, nil); err != nil {
		return err
	}
	c.release = make(chan struct{})
	tools := map[string]Tool{
		"echo": func(ctx context.Context, args json.RawMessage) (any, error) {
			select {
			case <-c.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			var a struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal(args, &a)
			return map[string]any{"content": []any{map[string]string{"type": "text", "text": a.Text}}}, nil
		},
		"big": func(context.Context, json.RawMessage) (any, error) { return strings.Repeat("x", 200_000), nil },
		"hang": func(ctx context.Context, _ json.RawMessage) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
	if c.ext, err = Dial(ctx, c.url, c.user.APIKey, tools); err != nil {
		return err
	}
	u := strings.Replace(c.url, "http", "ws", 1) + "/ws?token=" + c.other.APIKey
	if c.foreign, _, err = websocket.DefaultDialer.DialContext(ctx, u, nil); err != nil {
		c.ext.Close()
		return fmt.Errorf("dial the other user's socket: %w", err)
	}
	return nil
}

func (c *checker) listTools(ctx context.Context) error {
	var names []string
	if c.cs != nil {
		res, err := c.cs.ListTools(ctx, nil)
		if err != nil {
			return err
		}
		for _, t := range res.Tools {
			names = append(names, t.Name)
		}
	} else {
		var out struct {
			Result struct {
				Tools []struct {
					Name string `json:"name"`
				} `json:"tools"`
			} `json:"result"`
		}
		if err := c.rawCall(ctx, "tools/list", nil, &out); err != nil {
			return err
		}
		for _, t := range out.Result.Tools {
			names = append(names, t.Name)
		}
	}
	if got := strings.Join(names, ","); got != "chat,delegate_task,read_memory,write_memory,list_files,get_status,list_artifacts,read_artifact" {
		return fmt.Errorf("tools %s", got)
	}
	return nil
}

// echo calls the echo tool; while it runs, another user's socket answers
// first, the extension sends a stray answer, and after the result it sends
// a duplicate. Only the extension's answer may count, and its socket must
// stay open.
func (c *checker) echo(ctx context.Context) error {
	type res struct {
		text  string
		isErr bool
		err   error
	}
	done := make(chan res, 1)
	go func() {
		text, isErr, err := c.call(ctx, "echo", map[string]any{"text": "hello"})
		done <- res{text, isErr, err}
	}()
	var f Frame
	select {
	case f = <-c.ext.Frames:
	case r := <-done:
		return fmt.Errorf("answered before the extension got the request: %v", r.err)
	case <-time.After(10 * time.Second):
		return errors.New("the extension got no mcp-request")
	}
	forged := `{"type":"mcp-response","correlationId":"` + f.CorrelationID + `","jsonrpc":{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"forged"}]}}}`
	if err := c.foreign.WriteMessage(websocket.TextMessage, []byte(forged)); err != nil {
		return err
	}
	if err := pingSocket(c.foreign); err != nil { // handled before the real answer
		return fmt.Errorf("the other user's socket after its answer: %w", err)
	}
	if err := c.ext.Answer("3c1d0b8e-6a2f-4f7e-9b1a-0d5c4e3f2a19", json.RawMessage(`{"jsonrpc":"2.0","id":1,"result":"stray"}`)); err != nil {
		return err
	}
	close(c.release)
	r := <-done
	if r.err != nil {
		return r.err
	}
	if r.text != "hello" || r.isErr {
		return fmt.Errorf("echo answered %q (isError %v)", r.text, r.isErr)
	}
	if err := c.ext.Answer(f.CorrelationID, json.RawMessage(`{"jsonrpc":"2.0","id":1,"result":"duplicate"}`)); err != nil {
		return err
	}
	return c.ext.Ping(ctx)
}

// disconnect calls a tool that never answers and drops the extension's
// socket: the call must fail with the disconnect error within 20 s.
func (c *checker) disconnect(ctx context.Context) error {
	for len(c.ext.Frames) > 0 { // the frames of the earlier calls
		<-c.ext.Frames
	}
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		text, _, err := c.call(ctx, "hang", nil)
		if err == nil {
			err = fmt.Errorf("succeeded: %q", text)
		}
		errc <- err
	}()
	select {
	case <-c.ext.Frames:
	case <-time.After(10 * time.Second):
		return errors.New("the extension got no mcp-request")
	}
	c.ext.Disconnect()
	select {
	case err := <-errc:
		if !strings.Contains(err.Error(), "Agent disconnected before answering") {
			return fmt.Errorf("failed with %v", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			return fmt.Errorf("failed after %v", d)
		}
		return nil
	case <-time.After(20 * time.Second):
		return errors.New("no answer within 20 s")
	}
}

func (c *checker) deleteSession(ctx context.Context) error {
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpcheck","version":"1"}}}`
	status, hdr, body, err := c.post(ctx, c.user.APIKey, nil, init)
	if err != nil {
		return err
	}
	id := hdr.Get("Mcp-Session-Id")
	if status != http.StatusOK || id == "" {
		return fmt.Errorf("initialize: %d %s", status, body)
	}
	for _, want := range []int{http.StatusNoContent, http.StatusNotFound} {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.endpoint(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.user.APIKey)
		req.Header.Set("Mcp-Session-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want && (want != http.StatusNoContent || resp.StatusCode/100 != 2) {
			return fmt.Errorf("DELETE answered %d, want %d", resp.StatusCode, want)
		}
	}
	return nil
}

// call calls a tool through the SDK session, or over raw HTTP without one;
// a JSON-RPC error comes back as err.
func (c *checker) call(ctx context.Context, name string, args map[string]any) (text string, isError bool, err error) {
	if c.cs != nil {
		res, err := c.cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			return "", false, err
		}
		for _, ct := range res.Content {
			if tc, ok := ct.(*sdk.TextContent); ok {
				text += tc.Text
			}
		}
		return text, res.IsError, nil
	}
	var out struct {
		Result struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
			IsError bool `json:"isError"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := c.rawCall(ctx, "tools/call", map[string]any{"name": name, "arguments": args}, &out); err != nil {
		return "", false, err
	}
	if out.Error != nil {
		return "", false, errors.New(out.Error.Message)
	}
	for _, ct := range out.Result.Content {
		text += ct.Text
	}
	return text, out.Result.IsError, nil
}

func (c *checker) expectText(ctx context.Context, tool string, args map[string]any, want string, wantErr bool) error {
	text, isErr, err := c.call(ctx, tool, args)
	if err == nil && (text != want || isErr != wantErr) {
		err = fmt.Errorf("answered %q (isError %v), want %q (isError %v)", text, isErr, want, wantErr)
	}
	return err
}

func (c *checker) rawCall(ctx context.Context, method string, params any, out any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":` + string(p) + `}`
	status, _, b, err := c.post(ctx, c.user.APIKey, nil, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s: %d %s", method, status, b)
	}
	return json.Unmarshal(b, out)
}

func (c *checker) post(ctx context.Context, key string, header map[string]string, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(), strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// expectRPC posts body and checks the exact status and body.
func (c *checker) expectRPC(key string, header map[string]string, body string, status int, want string) error {
	got, _, b, err := c.post(context.Background(), key, header, body)
	if err != nil {
		return err
	}
	if got != status || string(bytes.TrimSpace(b)) != want {
		return fmt.Errorf("answered %d %s, want %d %s", got, bytes.TrimSpace(b), status, want)
	}
	return nil
}

// pingSocket sends an application ping on a raw socket and reads its pong.
func pingSocket(conn *websocket.Conn) error {
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var f struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(data, &f)
		switch f.Type {
		case "pong":
			return nil
		case "message":
			continue
		}
		return fmt.Errorf("got %s before the pong", data)
	}
}
