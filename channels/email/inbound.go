package email

import (
	"bytes"
	"encoding/json"
	"errors"
)

// EventReceived is the only webhook event type the relay stores (PROTOCOL §4.5 check 7).
const EventReceived = "email.received"

// ErrInvalidJSON is ParseEvent's error for a body that is not a JSON object (PROTOCOL §4.5 check 6).
var ErrInvalidJSON = errors.New("email: invalid JSON body")

// Event is a Resend webhook event.
type Event struct {
	Type string   // "email.received", "email.sent", …
	Data Received // the event's data; only meaningful for email.received
}

// Received is an email as Resend describes it in an email.received event or in GET
// /emails/receiving/<id>. Fields of an unexpected JSON type read as absent.
type Received struct {
	ID      string   // data.email_id, else data.id
	From    string   // "Alice <alice@example.com>"
	To      []string // a string or an array in the JSON
	Subject string
	Text    string
	HTML    string
	Headers []Header // an array of {name, value} or an object in the JSON, in document order
}

// Header is one email header.
type Header struct{ Name, Value string }

// ParseEvent decodes a webhook body. A body that is not a JSON object is ErrInvalidJSON; every
// other shape problem leaves the field empty, and the caller drops events that are not
// EventReceived.
func ParseEvent(body []byte) (Event, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return Event{}, ErrInvalidJSON
	}
	ev := Event{Type: jsonString(top["type"])}
	if data, ok := decodeObject(top["data"]); ok {
		ev.Data = decodeReceived(data)
	}
	return ev, nil
}

// decodeObject decodes raw as a JSON object; ok is false for anything else (null included).
func decodeObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// decodeReceived reads the fields of a webhook's data or of a received email.
func decodeReceived(m map[string]json.RawMessage) Received {
	r := Received{
		ID:      jsonString(m["email_id"]),
		From:    jsonString(m["from"]),
		To:      jsonStrings(m["to"]),
		Subject: jsonString(m["subject"]),
		Text:    jsonString(m["text"]),
		HTML:    jsonString(m["html"]),
		Headers: decodeHeaders(m["headers"]),
	}
	if r.ID == "" {
		r.ID = jsonString(m["id"])
	}
	return r
}

// jsonString returns raw's value if it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// jsonStrings reads a string or an array as a list of strings; non-string elements are skipped.
func jsonStrings(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	if raw[0] == '"' {
		return []string{jsonString(raw)}
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []string
	for _, it := range items {
		if len(it) > 0 && it[0] == '"' {
			out = append(out, jsonString(it))
		}
	}
	return out
}

// decodeHeaders reads headers given as an array of {"name","value"} objects or as an object
// (LIBRARIES.md item 8: resend-go's map type fails on the array form). Object members keep their
// order; a member whose value is an array of strings (a repeated header) gives one Header per
// string. Entries without a string name or value are skipped.
func decodeHeaders(raw json.RawMessage) []Header {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	var out []Header
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		for _, it := range items {
			m, ok := decodeObject(it)
			if !ok {
				continue
			}
			name, nameOK := m["name"]
			value, valueOK := m["value"]
			if !nameOK || !valueOK || len(name) == 0 || name[0] != '"' || len(value) == 0 || value[0] != '"' {
				continue
			}
			out = append(out, Header{Name: jsonString(name), Value: jsonString(value)})
		}
	case '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil { // the opening brace
			return nil
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return out
			}
			name, _ := tok.(string) // object keys are always strings
			var value json.RawMessage
			if err := dec.Decode(&value); err != nil {
				return out
			}
			value = bytes.TrimSpace(value)
			if len(value) > 0 && (value[0] == '"' || value[0] == '[') {
				for _, v := range jsonStrings(value) {
					out = append(out, Header{Name: name, Value: v})
				}
			}
		}
	}
	return out
}
