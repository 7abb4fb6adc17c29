package storage

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/chaos-relay/relay/storage/seal"
)

// The records of `relay export` and `relay import` (JSON lines): every
// backend writes each of its records in this form, from one consistent
// snapshot, and loads them into an empty store. Sealed values move sealed:
// each is bound to its record by the associated data below, which every
// backend uses, so that no value is opened on the way.

// The associated data each sealed value is bound to (PROTOCOL §11.3).
func StoreSecretAAD(name string) []byte { return seal.AAD("meta", "secret:"+name) }

// UserKeyAAD binds a session's sealed public key to the session.
func UserKeyAAD(userID string) []byte { return seal.AAD("user_keys", userID) }

// ChannelSecretAAD binds a channel's sealed secret to the channel and name.
func ChannelSecretAAD(channelID, name string) []byte {
	return seal.AAD("secrets", channelID+"\x00"+name)
}

// AdminSessionAAD binds an admin session record to its token's hash.
func AdminSessionAAD(tokenHash []byte) []byte { return seal.AAD("admin_sessions", string(tokenHash)) }

// Record is one line of an export: exactly one member is set.
type Record struct {
	Secret        *SealedRecord     `json:"secret,omitempty"`        // a store secret (Store.Secret), by name
	User          *UserRecord       `json:"user,omitempty"`          // a session
	Channel       *ChannelRecord    `json:"channel,omitempty"`       // a channel, live or being purged
	ChannelSecret *SealedRecord     `json:"channelSecret,omitempty"` // a channel's sealed secret: Owner is the channel
	Message       *MessageRecord    `json:"message,omitempty"`
	Response      *ResponseRecord   `json:"response,omitempty"`
	Delivery      *Delivery         `json:"delivery,omitempty"`
	Dedupe        *DedupeRecord     `json:"dedupe,omitempty"`
	AdminSession  *SealedRecord     `json:"adminSession,omitempty"` // Name is the token hash, hex
	Horizon       *HorizonRecord    `json:"horizon,omitempty"`
	Clock         *ClockRecord      `json:"clock,omitempty"`
	Meta          map[string]string `json:"meta,omitempty"` // reserved for what a later version adds
	End           *EndRecord        `json:"end,omitempty"`  // the last line of a complete export
}

// EndRecord closes an export: a file without it was cut short.
type EndRecord struct {
	Records int `json:"records"` // the records before it
}

// SealedRecord is a sealed value with what it is bound to.
type SealedRecord struct {
	Owner  string `json:"owner,omitempty"`
	Name   string `json:"name"`
	Sealed []byte `json:"sealed"`
}

// UserRecord is a session as the store keeps it: its public key sealed,
// found by hashes only.
type UserRecord struct {
	ID              string    `json:"id"`
	CreatedAt       time.Time `json:"createdAt"`
	APIKeyHash      []byte    `json:"apiKeyHash"`
	FingerprintHash []byte    `json:"fingerprintHash,omitempty"`
	SealedKey       []byte    `json:"sealedKey,omitempty"`
}

// ChannelRecord is a channel with its state. Its metadata holds null in
// place of its secret members, which are its ChannelSecret records.
type ChannelRecord struct {
	Channel      Channel   `json:"channel"`
	Deleted      bool      `json:"deleted,omitempty"` // its responses are being purged
	ReplyTarget  string    `json:"replyTarget,omitempty"`
	LastResponse time.Time `json:"lastResponse,omitzero"`
}

// MessageRecord is a stored message; ExpiresAt is set for a message stored
// with a retention of its own.
type MessageRecord struct {
	ID          string          `json:"id"`
	UserID      string          `json:"userId"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Timestamp   time.Time       `json:"timestamp"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	ExpiresAt   time.Time       `json:"expiresAt,omitzero"`
}

// ResponseRecord is a stored response.
type ResponseRecord struct {
	ID          string          `json:"id"`
	UserID      string          `json:"userId"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Timestamp   time.Time       `json:"timestamp"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// DedupeRecord is a provider id a channel has seen, or an email sender it
// accepted (Key "sender:<address>"), and when.
type DedupeRecord struct {
	ChannelID string    `json:"channelId"`
	Key       string    `json:"key"`
	Seen      time.Time `json:"seen"`
}

// HorizonRecord is a session's gap-signal horizon (Store.Horizon).
type HorizonRecord struct {
	UserID  string    `json:"userId"`
	Horizon time.Time `json:"horizon"`
}

// ClockRecord is the floor of the store's timestamps: no message of any user
// ever had a later one than this or than the user's newest retained message,
// so that timestamps keep increasing across the move.
type ClockRecord struct {
	Floor time.Time `json:"floor"`
}

// ErrNotEmpty: Import needs an empty store.
var ErrNotEmpty = errors.New("storage: the store is not empty")

// WriteExport writes s's records to w as JSON lines, ending with the End
// record, and returns how many records it wrote before it.
func WriteExport(ctx context.Context, s Store, w io.Writer) (int, error) {
	buf := bufio.NewWriter(w)
	enc := json.NewEncoder(buf)
	n := 0
	err := s.Export(ctx, func(r Record) error {
		n++
		return enc.Encode(r)
	})
	if err == nil {
		err = enc.Encode(Record{End: &EndRecord{Records: n}})
	}
	if err == nil {
		err = buf.Flush()
	}
	return n, err
}

// ErrCutShort: an export without its End record, or with another count.
var ErrCutShort = errors.New("storage: the export is cut short")

// ReadExport reads the JSON lines WriteExport writes, for Import. It fails
// with ErrCutShort after the last record when the End record is missing or
// its count differs, so that an import of a cut file fails (and the store,
// which must then be emptied, is not mistaken for a complete copy).
func ReadExport(r io.Reader) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		dec := json.NewDecoder(bufio.NewReader(r))
		n := 0
		for {
			var rec Record
			err := dec.Decode(&rec)
			switch {
			case err == io.EOF:
				yield(Record{}, ErrCutShort)
				return
			case err != nil:
				yield(Record{}, fmt.Errorf("storage: export line %d: %w", n+1, err))
				return
			case rec.End != nil:
				if rec.End.Records != n {
					yield(Record{}, fmt.Errorf("%w: %d records, the end says %d", ErrCutShort, n, rec.End.Records))
				}
				return
			}
			n++
			if !yield(rec, nil) {
				return
			}
		}
	}
}
