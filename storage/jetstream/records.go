package jetstream

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// userRecord is a user with what its deletion needs to find. Its public key
// is not in it: it is sealed in r.ukey, and the reclaim index holds only
// FingerprintHash.
type userRecord struct {
	storage.User
	APIKeyHash      []byte `json:"apiKeyHash"`
	FingerprintHash []byte `json:"fingerprintHash,omitempty"`
}

// userRef is an index record (API-key hash or fingerprint → user).
type userRef struct {
	UserID string `json:"userId"`
}

// channelRef is the address index record.
type channelRef struct {
	ChannelID string `json:"channelId"`
}

// channelRecord is a channel, or a deleted one whose responses are still
// being purged (its id stays taken until then). Seq is 0 in the record that
// creates the channel: the channel's Seq is that record's stream sequence
// (plus the floorChannel of an import), and every later version carries it.
// The stored metadata holds null in place of its secret members, sealed as
// channel secrets; the view keeps that form in public and the opened one
// in Metadata.
type channelRecord struct {
	storage.Channel
	Deleted bool            `json:"deleted,omitempty"`
	public  json.RawMessage // the metadata as stored
}

// floorRecord is a floor an import carried over (kindFloor).
type floorRecord struct {
	Value uint64 `json:"value"`
}

// targetRecord is a channel's reply target.
type targetRecord struct {
	ReplyTarget string `json:"replyTarget"`
}

// responseRecord is a stored response; its channel and timestamp are its
// subject and Relay-Ts header.
type responseRecord struct {
	ID          string          `json:"id"`
	UserID      string          `json:"userId"`
	ChannelType string          `json:"channelType"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// messageRecord is a stored message; its user and timestamp are its subject
// and Relay-Ts header.
type messageRecord struct {
	ID          string          `json:"id"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// Message records are binary, as in storage/bolt: they are read on every
// poll, and decoding JSON was the largest cost of fan-out there. The layout
// is a version byte and six length-prefixed fields:
//
//	0x01 | id | channelType | channelId | from | content | metadata
//
// each field a uvarint byte length and the bytes (metadata is raw JSON,
// empty when absent).
const recordV1 = 0x01

var errBadRecord = errors.New("jetstream: malformed message record")

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeMessage(rec messageRecord) []byte {
	n := 1 + len(rec.ID) + len(rec.ChannelType) + len(rec.ChannelID) + len(rec.From) + len(rec.Content) + len(rec.Metadata) + 6*binary.MaxVarintLen32
	b := make([]byte, 0, n)
	b = append(b, recordV1)
	b = appendField(b, rec.ID)
	b = appendField(b, rec.ChannelType)
	b = appendField(b, rec.ChannelID)
	b = appendField(b, rec.From)
	b = appendField(b, rec.Content)
	return appendField(b, string(rec.Metadata))
}

// decodeMessage decodes a message record; the result does not alias v.
func decodeMessage(v []byte) (messageRecord, error) {
	if len(v) == 0 || v[0] != recordV1 {
		return messageRecord{}, errBadRecord
	}
	body := v[1:]
	s := string(body) // one copy; the fields share it
	var f [6]string
	off := 0
	for i := range f {
		n, k := binary.Uvarint(body[off:])
		if k <= 0 || n > uint64(len(body)-off-k) {
			return messageRecord{}, errBadRecord
		}
		off += k
		f[i] = s[off : off+int(n)]
		off += int(n)
	}
	if off != len(body) {
		return messageRecord{}, errBadRecord
	}
	rec := messageRecord{ID: f[0], ChannelType: f[1], ChannelID: f[2], From: f[3], Content: f[4]}
	if f[5] != "" {
		rec.Metadata = json.RawMessage(f[5])
	}
	return rec, nil
}

// encodeKey is how a dedupe key or an accepted sender travels in a header
// (hdrKey): keys are whatever a platform sends, and header values cannot
// hold every byte.
func encodeKey(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// senderKey is the key that records an accepted sender, as storage/bolt
// names it: accepted senders and dedupe keys share a channel's keys.
func senderKey(addr string) string { return "sender:" + addr }

// encodeJSON encodes v without HTML escaping, so raw metadata is stored (and
// later emitted) exactly as it was given.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// toMillis clamps t to the timestamps' range: times before the epoch are 0.
func toMillis(t time.Time) uint64 {
	if ms := t.UnixMilli(); ms > 0 {
		return uint64(ms)
	}
	return 0
}

func fromMillis(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }

func formatMillis(ms uint64) string { return strconv.FormatUint(ms, 10) }

// firstAfter is the first millisecond strictly later than t; sub-millisecond
// precision is truncated toward the past (PROTOCOL §1.5).
func firstAfter(t time.Time) uint64 {
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
