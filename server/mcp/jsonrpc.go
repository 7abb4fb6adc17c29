package mcp

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/chaos-relay/relay/channels/rawjson"
)

// JSON-RPC error codes the bridge uses. None is in the range -32020…-32099
// that revision 2026-07-28 reserves (PROTOCOL §13.4.3).
const (
	codeParse          = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
	codeServer         = -32000
	codeResourceError  = -32002 // a resource that cannot be read (MCP's "resource not found")
)

// Error texts of PROTOCOL §13; exact, clients may match on them.
const (
	msgParse             = "Parse error — invalid JSON"
	msgInvalidRequest    = "Invalid Request"
	msgBatchTooLarge     = "Batch too large"
	msgInitBatched       = "initialize cannot be batched"
	msgSessionNotFound   = "Session not found"
	msgSessionRequired   = "Mcp-Session-Id header required"
	msgOriginNotAllowed  = "Origin not allowed"
	msgMissingTool       = "Missing tool name in params"
	msgOffline           = "Agent is offline — the Chrome extension is not connected"
	msgTimeout           = "MCP request timed out"
	msgDisconnected      = "Agent disconnected before answering"
	msgCancelled         = "Request cancelled"
	msgShutdown          = "Server shutting down"
	msgInvalidResponse   = "Invalid response from agent"
	msgTooManyRequests   = "Too many MCP requests. Try again later."
	msgMethodNotFoundFmt = "Method not found: "
)

// kind is what a JSON-RPC message is (PROTOCOL §13.4.1).
type kind int

const (
	kindInvalid      kind = iota
	kindRequest           // method and a string or number id
	kindNotification      // method and no id member
	kindResponse          // a client's response: result or error, no method
)

// message is one JSON-RPC message as the client sent it.
type message struct {
	raw    json.RawMessage // the whole object, as received
	kind   kind
	method string
	id     json.RawMessage // valid (string or number) or nil
	params json.RawMessage
}

// parseMessage classifies one member of a body. An id of another type than
// string or number makes the message invalid; id stays nil then.
func parseMessage(raw json.RawMessage) message {
	m := message{raw: raw}
	var f struct {
		Method json.RawMessage `json:"method"`
		ID     json.RawMessage `json:"id"`
		Params json.RawMessage `json:"params"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if firstByte(raw) != '{' || json.Unmarshal(raw, &f) != nil {
		return m
	}
	m.params = f.Params
	idOK := validID(f.ID)
	if idOK {
		m.id = f.ID
	}
	var method string
	hasMethod := f.Method != nil && json.Unmarshal(f.Method, &method) == nil && firstByte(f.Method) == '"'
	switch {
	case hasMethod && f.ID == nil:
		m.kind, m.method = kindNotification, method
	case hasMethod && idOK:
		m.kind, m.method = kindRequest, method
	case f.Method == nil && (f.Result != nil || f.Error != nil):
		m.kind = kindResponse
	}
	return m
}

// validID reports whether a raw id is a JSON string or number.
func validID(id json.RawMessage) bool {
	switch b := firstByte(id); {
	case b == '"':
		return true
	case b == '-' || b >= '0' && b <= '9':
		return true
	}
	return false
}

// idKey identifies a request id for comparison: equal strings (however
// escaped) and equal number literals give equal keys.
func idKey(id json.RawMessage) string {
	if firstByte(id) == '"' {
		var s string
		_ = json.Unmarshal(id, &s)
		return "s" + s
	}
	if f, err := strconv.ParseFloat(string(bytes.TrimSpace(id)), 64); err == nil {
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "r" + string(bytes.TrimSpace(id))
}

// firstByte is the first byte of a JSON text after white space (0 if none).
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// response is a JSON-RPC response, members in the usual order.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func result(id, res json.RawMessage) response {
	return response{JSONRPC: "2.0", ID: id, Result: res}
}

func errorResponse(id json.RawMessage, code int64, msg string) response {
	return response{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}}
}

// encode renders v as compact JSON without HTML escapes (PROTOCOL §1.3).
func encode(v any) []byte {
	b, err := rawjson.Marshal(v)
	if err != nil {
		// Only values built here are encoded, and every raw member is
		// valid JSON: this cannot happen.
		panic("mcp: encode: " + err.Error())
	}
	return b
}
