package bolt

import (
	"context"
	"encoding/binary"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// Sweep implements storage.Store. It walks the per-user and per-channel state
// records, deleting each stream's expired head, and commits every batch keys so
// that writers are never held up for long.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time, batch int) (storage.SweepResult, error) {
	var res storage.SweepResult
	before := toMillis(cutoff)
	n, err := s.sweepStreams(ctx, bUserState, batch, func(tx *bbolt.Tx, userID []byte, budget int) (int, error) {
		return deleteMessages(tx, string(userID), before, budget)
	})
	res.Messages = n
	if err != nil {
		return res, wrap("sweep messages", err)
	}
	n, err = s.sweepStreams(ctx, bChanState, batch, func(tx *bbolt.Tx, channelID []byte, budget int) (int, error) {
		return deleteResponses(tx, string(channelID), before, budget)
	})
	res.Responses = n
	if err != nil {
		return res, wrap("sweep responses", err)
	}
	return res, wrap("sweep dedupe", s.sweepDedupe(ctx, before, batch))
}

// sweepStreams calls del for each key of the state bucket, resuming where the
// previous transaction stopped, with at most batch deletions per transaction.
func (s *Store) sweepStreams(ctx context.Context, state []byte, batch int, del func(tx *bbolt.Tx, id []byte, budget int) (int, error)) (int, error) {
	total := 0
	var resume []byte // the stream to continue with; nil = from the start
	for {
		var (
			n    int
			next []byte
		)
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			n, next = 0, nil
			c := tx.Bucket(state).Cursor()
			k, _ := c.First()
			if resume != nil {
				k, _ = c.Seek(resume)
			}
			for ; k != nil; k, _ = c.Next() {
				d, err := del(tx, k, batch-n)
				if err != nil {
					return err
				}
				n += d
				if n >= batch {
					next = append([]byte(nil), k...) // this stream may have more
					return nil
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if next == nil {
			return total, nil
		}
		resume = next
	}
}

// deleteMessages deletes up to limit of a user's messages older than before
// (ms) and lowers the user's retained count to match.
func deleteMessages(tx *bbolt.Tx, userID string, before uint64, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	msgs := tx.Bucket(bMessages)
	prefix := streamPrefix(userID)
	var keys [][]byte
	c := msgs.Cursor()
	for k, _ := c.Seek(prefix); hasPrefix(k, prefix) && streamNumber(k) < before && len(keys) < limit; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	if len(keys) == 0 {
		return 0, nil
	}
	for _, k := range keys {
		if err := msgs.Delete(k); err != nil {
			return 0, err
		}
	}
	st := getUserState(tx, userID)
	st.Count = max(0, st.Count-len(keys))
	return len(keys), putUserState(tx, userID, st)
}

// sweepDedupe forgets dedupe keys first seen before before (ms).
func (s *Store) sweepDedupe(ctx context.Context, before uint64, batch int) error {
	for {
		n := 0
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			n = 0
			b := tx.Bucket(bDedupe)
			var keys [][]byte
			_ = b.ForEach(func(k, v []byte) error {
				if len(keys) < batch && len(v) == 8 && binary.BigEndian.Uint64(v) < before {
					keys = append(keys, append([]byte(nil), k...))
				}
				return nil
			})
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil || n < batch {
			return err
		}
	}
}
