package bolt

import (
	"bytes"
	"context"
	"crypto/rand"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// placeholderID has the length of every id storage.TimeID makes.
const placeholderID = "00000000-0000-7000-8000-000000000000"

// AppendMessage implements storage.Store.
func (s *Store) AppendMessage(ctx context.Context, m *storage.Message, opts storage.AppendOptions) error {
	var (
		refused error
		ms      uint64
		id      string
		random  [10]byte
	)
	// Everything that does not depend on the transaction happens here, on the
	// caller's goroutine: the writer goroutine is the serial part of ingest.
	record := storage.EncodeMessage(storage.StoredMessage{ID: placeholderID, ChannelType: m.ChannelType,
		ChannelID: m.ChannelID, From: m.From, Content: m.Content, Metadata: m.Metadata})
	_, _ = rand.Read(random[:])
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		refused = nil
		tail := s.changes.tail(m.UserID)
		if opts.MaxBacklog > 0 && tail.count >= opts.MaxBacklog {
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
		ms = max(toMillis(s.now()), tail.last+1)
		id = storage.TimeID(fromMillis(ms), random)
		storage.SetMessageID(record, id) // bbolt keeps record until the commit; a re-run sets it again
		key := timeKey(ms, m.UserID)
		if err := streamBucket(tx, bMessageLog).Put(key, record); err != nil {
			return err
		}
		if opts.Retention > 0 { // swept when its own retention ends, not with the log
			if err := tx.Bucket(bExpiry).Put(expiryKey(ms+uint64(opts.Retention.Milliseconds()), key), nil); err != nil {
				return err
			}
			if err := tx.Bucket(bKeep).Put(key, nil); err != nil {
				return err
			}
		}
		s.changes.appended(m.UserID, ms)
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
	if s.onAppend != nil {
		s.onAppend(m.UserID)
	}
	return nil
}

// MessagesAfter implements storage.Store.
func (s *Store) MessagesAfter(_ context.Context, userID string, after time.Time, limit int) ([]storage.Message, bool, error) {
	var (
		out  []storage.Message
		more bool
	)
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bMessageLog).Cursor()
		// One more than limit tells whether there are more. A message the sweep
		// removed after the index was read is skipped, and the index read again.
		for from := storage.FirstAfter(after); ; {
			stamps := s.index.after(userID, from, limit+1-len(out))
			if len(stamps) == 0 {
				return nil
			}
			if out == nil {
				out = make([]storage.Message, 0, min(limit, len(stamps)))
			}
			for _, ms := range stamps {
				v := messageAt(c, userID, ms)
				if v == nil {
					continue
				}
				if len(out) == limit {
					more = true
					return nil
				}
				rec, err := storage.DecodeMessage(v)
				if err != nil {
					return err
				}
				out = append(out, storage.Message{
					ID: rec.ID, UserID: userID, ChannelType: rec.ChannelType, ChannelID: rec.ChannelID,
					From: rec.From, Content: rec.Content, Timestamp: fromMillis(ms), Metadata: rec.Metadata,
				})
			}
			from = stamps[len(stamps)-1] + 1
		}
	})
	if out == nil {
		out = []storage.Message{}
	}
	return out, more, wrap("messages after", err)
}

// messageAt returns the record of user's message at ms from the message log,
// or nil when the sweep has removed it. One cursor serves a page of lookups:
// a Get would allocate a cursor for each.
func messageAt(c *bbolt.Cursor, userID string, ms uint64) []byte {
	key := timeKey(ms, userID)
	if k, v := c.Seek(key); bytes.Equal(k, key) {
		return v
	}
	return nil
}

// putRecord stores v encoded by encodeRecord.
func putRecord(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := storage.EncodeJSON(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}
