// Package mcptest is a fake browser extension for the MCP bridge, and the
// end-to-end check of a running relay that cmd/mcpcheck and the server's
// tests share.
//
// Extension answers mcp-request frames exactly as the real extension does
// (PROTOCOL §13.1): it drops frames without correlationId, agentId or
// jsonrpc; it handles tools/call, resources/read and prompts/get, with the
// real extension's result shapes (a bare string, {"ok":true}, an array,
// {"error":"Unknown tool: x"}, …); a handler failure becomes a -32000 error;
// and the answer goes out on whichever socket is open when the work ends.
package mcptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Tool runs a tool for a tools/call; args are params.arguments as sent.
// Its result is encoded as the answer's result; an error becomes the
// answer's -32000 error, as when the real extension's handler throws.
type Tool func(ctx context.Context, args json.RawMessage) (any, error)

// Frame is an mcp-request frame as the extension received it.
type Frame struct {
	Raw           []byte
	CorrelationID string
	AgentID       string
	JSONRPC       json.RawMessage
}

// Extension is a fake extension connected to a relay's /ws.
type Extension struct {
	relayURL, apiKey string
	tools            map[string]Tool

	// Frames receives every mcp-request frame, before it is handled; frames
	// are dropped when nobody reads it and its buffer (256) is full.
	Frames chan Frame

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	conn *websocket.Conn // the open socket; nil between sockets
	pong chan struct{}   // the open socket's pongs
	wmu  sync.Mutex      // serialises writes on conn
}

// Dial connects a fake extension for the session of apiKey to the relay at
// relayURL (http or https). tools add to or replace the built-in ones.
func Dial(ctx context.Context, relayURL, apiKey string, tools map[string]Tool) (*Extension, error) {
	e := &Extension{relayURL: strings.TrimRight(relayURL, "/"), apiKey: apiKey, tools: builtinTools(),
		Frames: make(chan Frame, 256)}
	for name, t := range tools {
		e.tools[name] = t
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if err := e.Reconnect(ctx); err != nil {
		e.cancel()
		return nil, err
	}
	return e, nil
}

// Reconnect closes the current socket, if any, and opens a new one, as the
// extension does after a disconnect.
func (e *Extension) Reconnect(ctx context.Context) error {
	e.Disconnect()
	u := strings.Replace(e.relayURL, "http", "ws", 1) + "/ws?" + url.Values{"token": {e.apiKey}}.Encode()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("mcptest: dial /ws: %w (%s)", err, resp.Status)
		}
		return fmt.Errorf("mcptest: dial /ws: %w", err)
	}
	pong := make(chan struct{}, 1)
	e.mu.Lock()
	e.conn, e.pong = conn, pong
	e.mu.Unlock()
	e.wg.Add(1)
	go e.read(conn, pong)
	// The handshake's answer can arrive before the relay registered the
	// socket; its answer to a ping cannot.
	if err := e.Ping(ctx); err != nil {
		return fmt.Errorf("mcptest: first ping: %w", err)
	}
	return nil
}

// Ping sends an application ping on the current socket and waits for the
// pong: the socket is open and the frames sent before were handled.
func (e *Extension) Ping(ctx context.Context) error {
	e.mu.Lock()
	pong := e.pong
	e.mu.Unlock()
	if err := e.Send([]byte(`{"type":"ping"}`)); err != nil {
		return err
	}
	select {
	case <-pong:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("mcptest: no pong within 10 s")
	}
}

// Disconnect closes the current socket without opening another.
func (e *Extension) Disconnect() {
	e.mu.Lock()
	conn := e.conn
	e.conn = nil
	e.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// Close disconnects and waits for the reader and every running handler.
func (e *Extension) Close() {
	e.cancel()
	e.Disconnect()
	e.wg.Wait()
}

// Send writes a raw text frame on the current socket (stray answers).
func (e *Extension) Send(frame []byte) error {
	e.mu.Lock()
	conn := e.conn
	e.mu.Unlock()
	if conn == nil {
		return errors.New("mcptest: no socket open")
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return conn.WriteMessage(websocket.TextMessage, frame)
}

// Answer sends an mcp-response for a correlation id with a raw jsonrpc
// member, as the extension frames it.
func (e *Extension) Answer(correlationID string, jsonrpc json.RawMessage) error {
	b, err := json.Marshal(struct {
		Type          string          `json:"type"`
		CorrelationID string          `json:"correlationId"`
		JSONRPC       json.RawMessage `json:"jsonrpc"`
	}{"mcp-response", correlationID, jsonrpc})
	if err != nil {
		return err
	}
	return e.Send(b)
}

// read handles the frames of one socket until it closes.
func (e *Extension) read(conn *websocket.Conn, pong chan<- struct{}) {
	defer e.wg.Done()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			e.mu.Lock()
			if e.conn == conn {
				e.conn = nil
			}
			e.mu.Unlock()
			return
		}
		var f struct {
			Type          string          `json:"type"`
			CorrelationID string          `json:"correlationId"`
			AgentID       string          `json:"agentId"`
			JSONRPC       json.RawMessage `json:"jsonrpc"`
		}
		if json.Unmarshal(data, &f) != nil || f.Type != "mcp-request" {
			if f.Type == "pong" {
				select {
				case pong <- struct{}{}:
				default:
				}
			}
			continue // messages, …
		}
		select {
		case e.Frames <- Frame{Raw: data, CorrelationID: f.CorrelationID, AgentID: f.AgentID, JSONRPC: f.JSONRPC}:
		default:
		}
		if f.CorrelationID == "" || f.AgentID == "" || len(f.JSONRPC) == 0 || string(f.JSONRPC) == "null" {
			continue // the service worker drops it
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.handle(f.CorrelationID, f.JSONRPC)
		}()
	}
}

// handle runs one request and answers on the socket open when it ends.
func (e *Extension) handle(correlationID string, jsonrpc json.RawMessage) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
			URI       string          `json:"uri"`
		} `json:"params"`
	}
	_ = json.Unmarshal(jsonrpc, &req)
	res, err := e.run(req.Method, req.Params.Name, req.Params.URI, req.Params.Arguments)
	type rpcErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	out := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   *rpcErr         `json:"error,omitempty"`
	}{JSONRPC: "2.0", ID: req.ID}
	if err != nil {
		out.Error = &rpcErr{-32000, err.Error()}
	} else {
		out.Result = res
	}
	b, _ := json.Marshal(out)
	_ = e.Answer(correlationID, b) // no socket: the answer is lost, as in the extension
}

// Unsupported is a result the real extension gives for what it cannot do.
type errorResult struct {
	Error string `json:"error"`
}

func (e *Extension) run(method, name, uri string, args json.RawMessage) (any, error) {
	switch method {
	case "tools/call":
		t := e.tools[name]
		if t == nil {
			return errorResult{"Unknown tool: " + name}, nil
		}
		return t(e.ctx, args)
	case "resources/read":
		switch {
		case strings.Contains(uri, "/activity"):
			return map[string]any{"contents": []any{map[string]string{"uri": uri, "mimeType": "application/json", "text": `{"recent":[]}`}}}, nil
		case strings.Contains(uri, "/claudemd"):
			return map[string]any{"contents": []any{map[string]string{"uri": uri, "mimeType": "text/markdown", "text": "# Agent"}}}, nil
		}
		return errorResult{"Unknown resource: " + uri}, nil
	case "prompts/get":
		return map[string]any{"messages": []any{map[string]any{"role": "user",
			"content": map[string]string{"type": "text", "text": "prompt " + name}}}}, nil
	}
	return errorResult{"Unsupported method for forwarding: " + method}, nil
}

// builtinTools are the eight tools with the result shapes the real
// extension returns: only chat returns a valid MCP result.
func builtinTools() map[string]Tool {
	arg := func(args json.RawMessage, name string) string {
		var m map[string]any
		_ = json.Unmarshal(args, &m)
		s, _ := m[name].(string)
		return s
	}
	return map[string]Tool{
		"chat": func(_ context.Context, a json.RawMessage) (any, error) {
			return map[string]any{"content": []any{map[string]string{"type": "text", "text": "Reply to: " + arg(a, "message")}}}, nil
		},
		"delegate_task": func(context.Context, json.RawMessage) (any, error) {
			return map[string]any{"ok": true, "taskId": "t-1"}, nil
		},
		"read_memory":  func(_ context.Context, a json.RawMessage) (any, error) { return "contents of " + arg(a, "path"), nil },
		"write_memory": func(context.Context, json.RawMessage) (any, error) { return map[string]bool{"ok": true}, nil },
		"list_files":   func(context.Context, json.RawMessage) (any, error) { return []string{"notes.md", "todo.md"}, nil },
		"get_status": func(context.Context, json.RawMessage) (any, error) {
			return map[string]any{"running": true, "tasks": 0}, nil
		},
		"list_artifacts": func(context.Context, json.RawMessage) (any, error) { return []string{}, nil },
		"read_artifact":  func(_ context.Context, a json.RawMessage) (any, error) { return "artifact " + arg(a, "path"), nil },
	}
}

// HTTPClient returns a client that sends the session's apiKey as a Bearer
// header on every request, as an MCP client configured with that header.
func HTTPClient(apiKey string) *http.Client {
	return &http.Client{Transport: bearer{apiKey, http.DefaultTransport}}
}

type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(r)
}
