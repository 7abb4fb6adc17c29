package bolt

import (
	"context"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// AppendResponse implements storage.Store.
func (s *Store) AppendResponse(ctx context.Context, r *storage.Response, decide func(storage.ChannelView) (storage.Delivery, error)) (storage.Delivery, error) {
	var (
		d        storage.Delivery
		ms       uint64
		id, kind string
	)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		ch, err := getChannel(tx, s.key, r.ChannelID)
		if err != nil {
			return err
		}
		if ch.UserID != r.UserID {
			return storage.ErrNotFound
		}
		st, err := getChanState(tx, ch.ID)
		if err != nil {
			return err
		}
		d, err = decide(storage.ChannelView{Channel: ch, ReplyTarget: st.ReplyTarget, Secrets: channelSecretNames(tx, ch.ID),
			Accepted: func(addr string) bool { return tx.Bucket(bDedupe).Get(acceptedKey(ch.ID, addr)) != nil }})
		if err != nil {
			return err
		}
		ms = max(toMillis(s.now()), st.LastResponse+1)
		id, kind = storage.NewTimeID(fromMillis(ms)), ch.Type
		key := streamKey(ch.ID, ms)
		rec := storage.StoredResponse{ID: id, UserID: r.UserID, ChannelType: kind, From: r.From, Content: r.Content, Metadata: r.Metadata}
		if err := putRecord(streamBucket(tx, bResponses), key, rec); err != nil {
			return err
		}
		st.LastResponse = ms
		if err := putJSON(tx.Bucket(bChanState), []byte(ch.ID), st); err != nil {
			return err
		}
		ts := fromMillis(ms)
		d.ResponseID, d.UserID, d.ChannelID, d.ChannelType = id, r.UserID, ch.ID, kind
		d.CreatedAt, d.UpdatedAt = ts, ts
		if d.Status == storage.StatusPending {
			d.NextAttemptAt = ts
			if err := tx.Bucket(bPending).Put(key, []byte(id)); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bDeliveries), []byte(id), d)
	})
	if err != nil {
		return storage.Delivery{}, wrap("append response", err)
	}
	r.ID, r.ChannelType, r.Timestamp = id, kind, fromMillis(ms)
	return d, nil
}

// ResponsesAfter implements storage.Store.
func (s *Store) ResponsesAfter(_ context.Context, channelID string, after time.Time, limit int) ([]storage.Response, bool, error) {
	out := make([]storage.Response, 0, min(limit, 64))
	var more bool
	err := s.view(func(tx *bbolt.Tx) error {
		if _, err := getChannel(tx, s.key, channelID); err != nil {
			return err // deleted channels' responses are no longer readable
		}
		prefix := streamPrefix(channelID)
		c := tx.Bucket(bResponses).Cursor()
		for k, v := c.Seek(streamKey(channelID, storage.FirstAfter(after))); hasPrefix(k, prefix); k, v = c.Next() {
			if len(out) == limit {
				more = true
				return nil
			}
			var rec storage.StoredResponse
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			out = append(out, storage.Response{
				ID: rec.ID, UserID: rec.UserID, ChannelType: rec.ChannelType, ChannelID: channelID,
				From: rec.From, Content: rec.Content, Timestamp: fromMillis(streamNumber(k)), Metadata: rec.Metadata,
			})
		}
		return nil
	})
	return out, more, wrap("responses after", err)
}

// Delivery implements storage.Store.
func (s *Store) Delivery(_ context.Context, responseID string) (storage.Delivery, error) {
	var d storage.Delivery
	err := s.view(func(tx *bbolt.Tx) error { return getJSON(tx.Bucket(bDeliveries), []byte(responseID), &d) })
	return d, wrap("delivery", err)
}

// failPending marks every pending delivery of a channel failed with reason.
func failPending(tx *bbolt.Tx, channelID, reason string, now time.Time) error {
	pending := tx.Bucket(bPending)
	type item struct{ key, id []byte }
	var items []item
	prefix := streamPrefix(channelID)
	c := pending.Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		items = append(items, item{append([]byte(nil), k...), append([]byte(nil), v...)})
	}
	for _, it := range items {
		var d storage.Delivery
		if err := getJSON(tx.Bucket(bDeliveries), it.id, &d); err != nil {
			return err
		}
		d.Status, d.LastError, d.UpdatedAt, d.NextAttemptAt = storage.StatusFailed, reason, now.UTC(), time.Time{}
		if err := putJSON(tx.Bucket(bDeliveries), it.id, d); err != nil {
			return err
		}
		if err := pending.Delete(it.key); err != nil {
			return err
		}
	}
	return nil
}

// deleteResponses deletes up to limit of a channel's responses older than
// before (ms), with their delivery records, skipping those still pending.
func deleteResponses(tx *bbolt.Tx, channelID string, before uint64, limit int) (int, error) {
	responses, pending, deliveries := tx.Bucket(bResponses), tx.Bucket(bPending), tx.Bucket(bDeliveries)
	prefix := streamPrefix(channelID)
	var keys, ids [][]byte
	c := responses.Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix) && streamNumber(k) < before && len(keys) < limit; k, v = c.Next() {
		if pending.Get(k) != nil {
			continue
		}
		var rec storage.StoredResponse
		if err := json.Unmarshal(v, &rec); err != nil {
			return 0, err
		}
		keys = append(keys, append([]byte(nil), k...))
		ids = append(ids, []byte(rec.ID))
	}
	for i, k := range keys {
		if err := responses.Delete(k); err != nil {
			return 0, err
		}
		if err := deliveries.Delete(ids[i]); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
