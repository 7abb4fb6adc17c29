package mcp

import (
	"bytes"
	"encoding/json"
	"math"
)

// mapAnswer builds the client's response from the jsonrpc member of the
// winning mcp-response (PROTOCOL §13.7 step 9): the extension's error as it
// is, a valid result untouched, and the extension's non-MCP results mapped
// to valid ones, so that SDK clients' schema checks pass. id is the client's.
func mapAnswer(method string, id, jsonrpc json.RawMessage) response {
	var a map[string]json.RawMessage
	if firstByte(jsonrpc) != '{' || json.Unmarshal(jsonrpc, &a) != nil {
		return errorResponse(id, codeInternal, msgInvalidResponse)
	}
	res, errRaw := present(a["result"]), present(a["error"])
	switch {
	case errRaw != nil && res != nil:
		return errorResponse(id, codeInternal, msgInvalidResponse)
	case errRaw != nil:
		if e, ok := passError(errRaw); ok {
			return response{JSONRPC: "2.0", ID: id, Error: e}
		}
		return errorResponse(id, codeInternal, msgInvalidResponse)
	}
	switch method {
	case "tools/call":
		return result(id, toolResult(res))
	case "resources/read":
		return mapped(id, res, "contents", codeResourceError)
	case "prompts/get":
		return mapped(id, res, "messages", codeInvalidParams)
	}
	return errorResponse(id, codeInternal, msgInvalidResponse)
}

// present is a member's value, nil when it is absent or null.
func present(raw json.RawMessage) json.RawMessage {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	return raw
}

// passError returns an error object with an integer code and a string
// message, data kept when present.
func passError(raw json.RawMessage) (*rpcError, bool) {
	var e struct {
		Code    json.Number     `json:"code"`
		Message *string         `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if firstByte(raw) != '{' || dec.Decode(&e) != nil || e.Message == nil {
		return nil, false
	}
	f, err := e.Code.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return nil, false
	}
	return &rpcError{Code: int64(f), Message: *e.Message, Data: e.Data}, true
}

// toolResult maps a tools/call result (PROTOCOL §13.7 step 9).
func toolResult(res json.RawMessage) json.RawMessage {
	switch firstByte(res) {
	case 0: // absent or null
		return json.RawMessage(`{"content":[]}`)
	case '"':
		var s string
		if json.Unmarshal(res, &s) == nil {
			return textContent(s, false)
		}
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(res, &obj) == nil {
			if firstByte(obj["content"]) == '[' {
				return res // a valid result: untouched
			}
			var msg string
			if len(obj) == 1 && firstByte(obj["error"]) == '"' && json.Unmarshal(obj["error"], &msg) == nil {
				return textContent(msg, true)
			}
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, res) != nil {
		buf.Reset()
		buf.Write(res)
	}
	return textContent(buf.String(), false)
}

func textContent(text string, isError bool) json.RawMessage {
	type content struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	return encode(struct {
		Content []content `json:"content"`
		IsError bool      `json:"isError,omitempty"`
	}{[]content{{"text", text}}, isError})
}

// mapped passes a result holding the array member want, and turns the
// extension's {"error":"…"} into a JSON-RPC error of code.
func mapped(id, res json.RawMessage, want string, code int64) response {
	var obj map[string]json.RawMessage
	if firstByte(res) == '{' && json.Unmarshal(res, &obj) == nil {
		if firstByte(obj[want]) == '[' {
			return result(id, res)
		}
		var msg string
		if firstByte(obj["error"]) == '"' && json.Unmarshal(obj["error"], &msg) == nil {
			return errorResponse(id, code, msg)
		}
	}
	return errorResponse(id, codeInternal, msgInvalidResponse)
}
