package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// The stored forms of messages and responses, the same in every backend: a
// message's user and timestamp, and a response's channel and timestamp, are
// where a backend files the record, not in it.

// StoredMessage is a message as a backend stores it (EncodeMessage); its
// JSON form is what the store browser shows.
type StoredMessage struct {
	ID          string          `json:"id"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// StoredResponse is a response as a backend stores it (JSON, EncodeJSON).
type StoredResponse struct {
	ID          string          `json:"id"`
	UserID      string          `json:"userId"`
	ChannelType string          `json:"channelType"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// Message records are binary: they are written once and read on every poll
// and by every socket of their user, and decoding JSON was the largest cost of
// fan-out. The layout is a version byte and six length-prefixed fields:
//
//	0x01 | id | channelType | channelId | from | content | metadata
//
// each field a uvarint byte length and the bytes (metadata is raw JSON, empty
// when absent).
const messageV1 = 0x01

// ErrBadMessage: a stored message record does not decode.
var ErrBadMessage = errors.New("storage: malformed message record")

// appendField appends one length-prefixed field.
func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// EncodeMessage encodes a message record.
func EncodeMessage(rec StoredMessage) []byte {
	n := 1 + len(rec.ID) + len(rec.ChannelType) + len(rec.ChannelID) + len(rec.From) + len(rec.Content) + len(rec.Metadata) + 6*binary.MaxVarintLen32
	b := make([]byte, 0, n)
	b = append(b, messageV1)
	b = appendField(b, rec.ID)
	b = appendField(b, rec.ChannelType)
	b = appendField(b, rec.ChannelID)
	b = appendField(b, rec.From)
	b = appendField(b, rec.Content)
	return appendField(b, string(rec.Metadata))
}

// SetMessageID overwrites the id of a record from EncodeMessage with one of
// the same length, shorter than 128 bytes (its length prefix is one byte),
// so that a record can be encoded before its id is known.
func SetMessageID(record []byte, id string) {
	if len(record) < 2+len(id) || int(record[1]) != len(id) {
		panic("storage: SetMessageID: the record's id has another length")
	}
	copy(record[2:], id)
}

// DecodeMessage decodes a message record. The result does not alias v.
func DecodeMessage(v []byte) (StoredMessage, error) {
	if len(v) == 0 || v[0] != messageV1 {
		return StoredMessage{}, ErrBadMessage
	}
	body := v[1:]
	s := string(body) // one copy; the fields share it
	var f [6]string
	off := 0
	for i := range f {
		n, k := binary.Uvarint(body[off:])
		if k <= 0 || n > uint64(len(body)-off-k) {
			return StoredMessage{}, ErrBadMessage
		}
		off += k
		f[i] = s[off : off+int(n)]
		off += int(n)
	}
	if off != len(body) {
		return StoredMessage{}, ErrBadMessage
	}
	rec := StoredMessage{ID: f[0], ChannelType: f[1], ChannelID: f[2], From: f[3], Content: f[4]}
	if f[5] != "" {
		rec.Metadata = json.RawMessage(f[5])
	}
	return rec, nil
}

// EncodeJSON encodes v without HTML escaping, so that raw metadata is stored
// (and later emitted) exactly as it was given.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// FirstAfter is the first millisecond (unix) strictly later than t;
// sub-millisecond precision is truncated toward the past (PROTOCOL §1.5).
func FirstAfter(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	ms := t.UnixMilli()
	if t.Before(time.UnixMilli(ms)) { // negative times round toward zero in UnixMilli
		ms--
	}
	if ms < 0 {
		return 0
	}
	return uint64(ms) + 1
}
