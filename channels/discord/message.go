package discord

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// ErrInvalidJSON is returned for a body that is not a JSON object.
var ErrInvalidJSON = errors.New("discord: invalid JSON body")

// Message is a Discord message the relay may store, from a gateway MESSAGE_CREATE or a forwarded
// payload (PROTOCOL §4.4). Ids are strings end to end: snowflakes exceed 2^53.
type Message struct {
	ID         string // message id (metadata messageId)
	ChannelID  string // Discord channel id (metadata discordChannelId, the reply target)
	GuildID    string // "" in DMs
	Content    string // "" when absent or not a string
	AuthorID   string // sender id
	AuthorName string // author.username, else "unknown"

	Bot         bool // author.bot
	Edited      bool // edited_timestamp is truthy
	MentionsBot bool // the bot user is mentioned (gateway only; for the guild refusal rule)
	DM          bool // no guild id
}

// wireMessage is the part of Discord's message object the relay reads. Ids are kept raw so that a
// number (from a careless forwarder) keeps its exact digits.
type wireMessage struct {
	ID              json.RawMessage `json:"id"`
	ChannelID       json.RawMessage `json:"channel_id"`
	GuildID         json.RawMessage `json:"guild_id"`
	Content         json.RawMessage `json:"content"`
	EditedTimestamp json.RawMessage `json:"edited_timestamp"`
	Author          *struct {
		ID       json.RawMessage `json:"id"`
		Username json.RawMessage `json:"username"`
		Bot      json.RawMessage `json:"bot"`
	} `json:"author"`
}

// ParseForwarded decodes a forwarded gateway payload (PROTOCOL §4.4 forwarded-payload mode): the
// message object is body.message, else body.d, else the body itself. A body that is not a JSON
// object gives ErrInvalidJSON. Content is "" unless it is a non-empty string; the caller drops
// such messages, and those with Bot set.
func ParseForwarded(body []byte) (Message, error) {
	var outer map[string]json.RawMessage
	if !isObject(body) || json.Unmarshal(body, &outer) != nil {
		return Message{}, ErrInvalidJSON
	}
	obj := body
	if m := outer["message"]; isObject(m) {
		obj = m
	} else if d := outer["d"]; isObject(d) {
		obj = d
	}
	var w wireMessage
	if json.Unmarshal(obj, &w) != nil {
		// A field of an unexpected JSON type: read what can be read, field by field.
		w = lenientMessage(obj)
	}
	m := Message{
		ID:         idString(w.ID),
		ChannelID:  idString(w.ChannelID),
		GuildID:    idString(w.GuildID),
		Content:    stringValue(w.Content),
		Edited:     truthy(w.EditedTimestamp),
		AuthorName: "unknown",
	}
	if a := w.Author; a != nil {
		m.AuthorID = idString(a.ID)
		if name := stringValue(a.Username); name != "" {
			m.AuthorName = name
		}
		m.Bot = bytes.Equal(bytes.TrimSpace(a.Bot), []byte("true"))
	}
	m.DM = m.GuildID == ""
	return m, nil
}

// lenientMessage decodes the fields of obj one by one, ignoring those of the wrong type.
func lenientMessage(obj []byte) wireMessage {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(obj, &fields)
	w := wireMessage{
		ID:              fields["id"],
		ChannelID:       fields["channel_id"],
		GuildID:         fields["guild_id"],
		Content:         fields["content"],
		EditedTimestamp: fields["edited_timestamp"],
	}
	var author map[string]json.RawMessage
	if json.Unmarshal(fields["author"], &author) == nil && author != nil {
		w.Author = &struct {
			ID       json.RawMessage `json:"id"`
			Username json.RawMessage `json:"username"`
			Bot      json.RawMessage `json:"bot"`
		}{author["id"], author["username"], author["bot"]}
	}
	return w
}

// IsPing reports whether body's type is 1 (a PING, PROTOCOL §4.4 forwarded mode check 6).
func IsPing(body []byte) bool {
	var v struct {
		Type json.RawMessage `json:"type"`
	}
	if !isObject(body) || json.Unmarshal(body, &v) != nil {
		return false
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(v.Type)), 64)
	return err == nil && f == 1
}

// isObject reports whether b is a JSON object (leading whitespace aside).
func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// idString returns a JSON string's value, or a JSON number's exact digits, or "".
func idString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		return stringValue(raw)
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// stringValue returns a JSON string's value, or "" for anything else.
func stringValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// truthy is JavaScript truthiness of a JSON value: absent, null, false, 0 and "" are false.
func truthy(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "", "null", "false", `""`:
		return false
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return f != 0
	}
	return true
}
