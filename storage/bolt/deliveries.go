package bolt

import (
	"context"
	"encoding/json"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// PendingHeads implements storage.Store. The pending index is ordered by
// channel, then time, so the first key of each channel is its head; the
// cursor jumps from one channel to the next.
func (s *Store) PendingHeads(_ context.Context) ([]storage.PendingReply, error) {
	var out []storage.PendingReply
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bPending).Cursor()
		for k, v := c.First(); k != nil; {
			head, err := pendingReply(tx, s.key, k, v)
			if err != nil {
				return err
			}
			out = append(out, head)
			next := append([]byte(head.Response.ChannelID), 0x01) // just past this channel's keys
			k, v = c.Seek(next)
		}
		return nil
	})
	return out, wrap("pending heads", err)
}

// PendingHead implements storage.Store.
func (s *Store) PendingHead(_ context.Context, channelID string) (storage.PendingReply, error) {
	var out storage.PendingReply
	err := s.view(func(tx *bbolt.Tx) error {
		prefix := streamPrefix(channelID)
		k, v := tx.Bucket(bPending).Cursor().Seek(prefix)
		if !hasPrefix(k, prefix) {
			return storage.ErrNotFound
		}
		var err error
		out, err = pendingReply(tx, s.key, k, v)
		return err
	})
	return out, wrap("pending head", err)
}

// pendingReply reads the pending delivery at index key k (responseId v) with
// its response and channel.
func pendingReply(tx *bbolt.Tx, key *seal.RootKey, k, v []byte) (storage.PendingReply, error) {
	var d storage.Delivery
	if err := getJSON(tx.Bucket(bDeliveries), v, &d); err != nil {
		return storage.PendingReply{}, err
	}
	var rec storage.StoredResponse
	if err := json.Unmarshal(tx.Bucket(bResponses).Get(k), &rec); err != nil {
		return storage.PendingReply{}, err
	}
	channelID := string(k[:len(k)-9])
	ch, err := getChannel(tx, key, channelID)
	if err != nil {
		return storage.PendingReply{}, err // a deleted channel's deliveries are failed, never pending
	}
	return storage.PendingReply{Delivery: d, Channel: ch, Response: storage.Response{
		ID: rec.ID, UserID: rec.UserID, ChannelType: rec.ChannelType, ChannelID: channelID, From: rec.From,
		Content: rec.Content, Timestamp: fromMillis(streamNumber(k)), Metadata: rec.Metadata,
	}}, nil
}

// PendingCounts implements storage.Store: it walks the pending index,
// which holds only what is still to be delivered.
func (s *Store) PendingCounts(_ context.Context) (map[string]int, error) {
	counts := map[string]int{}
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bPending).ForEach(func(_, id []byte) error {
			var d struct{ ChannelType string }
			if err := getJSON(tx.Bucket(bDeliveries), id, &d); err != nil {
				return err
			}
			counts[d.ChannelType]++
			return nil
		})
	})
	return counts, wrap("pending counts", err)
}

// UpdateDelivery implements storage.Store.
func (s *Store) UpdateDelivery(ctx context.Context, responseID string, fn func(*storage.Delivery) error) (storage.Delivery, error) {
	var out storage.Delivery
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var d storage.Delivery
		if err := getJSON(tx.Bucket(bDeliveries), []byte(responseID), &d); err != nil {
			return err
		}
		was := d.Status
		if err := fn(&d); err != nil {
			return err
		}
		d.ResponseID = responseID
		key := streamKey(d.ChannelID, toMillis(d.CreatedAt))
		switch {
		case was == storage.StatusPending && d.Status != storage.StatusPending:
			if err := tx.Bucket(bPending).Delete(key); err != nil {
				return err
			}
		case was != storage.StatusPending && d.Status == storage.StatusPending: // retried
			if _, err := getChannel(tx, s.key, d.ChannelID); err != nil {
				return err // a deleted channel's replies stay failed
			}
			if err := tx.Bucket(bPending).Put(key, []byte(responseID)); err != nil {
				return err
			}
		}
		out = d
		return putJSON(tx.Bucket(bDeliveries), []byte(responseID), d)
	})
	return out, wrap("update delivery", err)
}
