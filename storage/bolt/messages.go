package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// messageRecord is a stored message; its user id and timestamp are its key.
type messageRecord struct {
	ID          string          `json:"id"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// userState is the per-user stream state: the newest timestamp (never
// expired, so timestamps stay increasing across sweeps and restarts) and the
// number of retained messages for the backlog cap.
type userState struct {
	Last  uint64 `json:"last"`
	Count int    `json:"count"`
}

// AppendMessage implements storage.Store.
func (s *Store) AppendMessage(ctx context.Context, m *storage.Message, opts storage.AppendOptions) error {
	var (
		refused error
		ms      uint64
		id      string
	)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		refused = nil
		var st userState
		if err := getJSON(tx.Bucket(bUserState), []byte(m.UserID), &st); err != nil && !isNotFound(err) {
			return err
		}
		if opts.MaxBacklog > 0 && st.Count >= opts.MaxBacklog {
			refused = storage.ErrInboxFull
			return nil
		}
		var dedupeKey []byte
		if opts.DedupeKey != "" {
			dedupeKey = append(streamPrefix(m.ChannelID), opts.DedupeKey...)
			if tx.Bucket(bDedupe).Get(dedupeKey) != nil {
				refused = storage.ErrDuplicate
				return nil
			}
		}
		ms = max(toMillis(s.now()), st.Last+1)
		id = storage.NewTimeID(fromMillis(ms))
		rec := messageRecord{ID: id, ChannelType: m.ChannelType, ChannelID: m.ChannelID, From: m.From, Content: m.Content, Metadata: m.Metadata}
		if err := putRecord(tx.Bucket(bMessages), streamKey(m.UserID, ms), rec); err != nil {
			return err
		}
		if err := tx.Bucket(bTimeline).Put(timeKey(ms, id), []byte("m"+m.UserID)); err != nil {
			return err
		}
		st.Last, st.Count = ms, st.Count+1
		if err := putJSON(tx.Bucket(bUserState), []byte(m.UserID), st); err != nil {
			return err
		}
		if dedupeKey != nil {
			if err := tx.Bucket(bDedupe).Put(dedupeKey, putUint64(ms)); err != nil {
				return err
			}
		}
		if opts.AcceptSender != "" {
			if err := tx.Bucket(bDedupe).Put(acceptedKey(m.ChannelID, opts.AcceptSender), putUint64(ms)); err != nil {
				return err
			}
		}
		if opts.ReplyTarget != "" {
			cs, err := getChanState(tx, m.ChannelID)
			if err != nil {
				return err
			}
			if cs.ReplyTarget != opts.ReplyTarget {
				cs.ReplyTarget = opts.ReplyTarget
				return putJSON(tx.Bucket(bChanState), []byte(m.ChannelID), cs)
			}
		}
		return nil
	})
	if err != nil {
		return wrap("append message", err)
	}
	if refused != nil {
		return refused
	}
	m.ID, m.Timestamp = id, fromMillis(ms)
	return nil
}

// MessagesAfter implements storage.Store.
func (s *Store) MessagesAfter(_ context.Context, userID string, after time.Time, limit int) ([]storage.Message, bool, error) {
	out := make([]storage.Message, 0, min(limit, 64))
	var more bool
	err := s.view(func(tx *bbolt.Tx) error {
		prefix := streamPrefix(userID)
		c := tx.Bucket(bMessages).Cursor()
		for k, v := c.Seek(streamKey(userID, firstAfter(after))); hasPrefix(k, prefix); k, v = c.Next() {
			if len(out) == limit {
				more = true
				return nil
			}
			var rec messageRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			out = append(out, storage.Message{
				ID: rec.ID, UserID: userID, ChannelType: rec.ChannelType, ChannelID: rec.ChannelID,
				From: rec.From, Content: rec.Content, Timestamp: fromMillis(streamNumber(k)), Metadata: rec.Metadata,
			})
		}
		return nil
	})
	return out, more, wrap("messages after", err)
}

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

// putRecord encodes v without HTML escaping, so raw metadata is stored (and
// later emitted) exactly as it was given.
func putRecord(b *bbolt.Bucket, key []byte, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return b.Put(key, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
