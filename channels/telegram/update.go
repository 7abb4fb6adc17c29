package telegram

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// ErrInvalidJSON is returned by ParseUpdate for a body that is not one JSON object
// (PROTOCOL §4.3: 400 "Invalid JSON body").
var ErrInvalidJSON = errors.New("telegram: invalid JSON body")

// Update kinds, in the order PROTOCOL §4.3 looks for them.
const (
	KindMessage       = "message"
	KindEditedMessage = "edited_message"
	KindCallbackQuery = "callback_query"
)

// Update is what the relay takes from a Telegram Update (PROTOCOL §4.3, Extraction). Ids are int64,
// as Telegram sends them; nil means absent (or not an integer).
type Update struct {
	UpdateID        int64  // 0 when absent
	Kind            string // "message", "edited_message", "callback_query", or "" (nothing usable)
	Content         string // text, or callback data; "" when none (captions and media are ignored)
	From            string // from.username, else from.first_name, else "unknown"
	SenderID        *int64 // from.id
	ChatID          *int64 // chat.id, or callback_query.message.chat.id
	MessageID       *int64 // message/edited_message only
	ChatType        string // message/edited_message only
	Edited          bool   // edit_date present
	CallbackQueryID string
}

// ParseUpdate extracts an Update from a webhook body. A body that is not a JSON object gives
// ErrInvalidJSON; members of unexpected types are treated as absent, because Telegram retries any
// non-2xx answer and a retry cannot fix the body. Numbers are decoded exactly: ids beyond 2^53 and
// supergroup chat ids like -1001234567890123 keep every digit.
func ParseUpdate(body []byte) (Update, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Update{}, ErrInvalidJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return Update{}, ErrInvalidJSON // trailing data
	}
	root, ok := v.(map[string]any)
	if !ok {
		return Update{}, ErrInvalidJSON
	}

	u := Update{From: "unknown"}
	if id := integer(root, "update_id"); id != nil {
		u.UpdateID = *id
	}
	m, kind := object(root, KindMessage), KindMessage
	if m == nil {
		m, kind = object(root, KindEditedMessage), KindEditedMessage
	}
	if m != nil {
		u.Kind = kind
		u.Content, _ = str(m, "text")
		u.From, u.SenderID = sender(object(m, "from"))
		if chat := object(m, "chat"); chat != nil {
			u.ChatID = integer(chat, "id")
			u.ChatType, _ = str(chat, "type")
		}
		u.MessageID = integer(m, "message_id")
		u.Edited = present(m, "edit_date")
		return u, nil
	}
	if cq := object(root, KindCallbackQuery); cq != nil {
		u.Kind = KindCallbackQuery
		u.Content, _ = str(cq, "data")
		u.From, u.SenderID = sender(object(cq, "from"))
		if chat := object(object(cq, "message"), "chat"); chat != nil {
			u.ChatID = integer(chat, "id")
		}
		u.CallbackQueryID, _ = str(cq, "id")
	}
	return u, nil
}

// sender returns from.username, else from.first_name, else "unknown", and from.id.
func sender(from map[string]any) (string, *int64) {
	if from == nil {
		return "unknown", nil
	}
	name, _ := str(from, "username")
	if name == "" {
		name, _ = str(from, "first_name")
	}
	if name == "" {
		name = "unknown"
	}
	return name, integer(from, "id")
}

// object returns m[key] if it is a JSON object; m may be nil.
func object(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// str returns m[key] if it is a JSON string.
func str(m map[string]any, key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

// integer returns m[key] if it is a JSON number that is an int64.
func integer(m map[string]any, key string) *int64 {
	n, ok := m[key].(json.Number)
	if !ok {
		return nil
	}
	i, err := n.Int64()
	if err != nil {
		return nil
	}
	return &i
}

// present reports whether m has key with a value other than null.
func present(m map[string]any, key string) bool {
	v, ok := m[key]
	return ok && v != nil
}
