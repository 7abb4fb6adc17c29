package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// Sweep implements storage.Store. It deletes the expired head of the message
// log and of each channel's responses, and commits every batch keys so that
// writers are never held up for long.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time, batch int) (storage.SweepResult, error) {
	var res storage.SweepResult
	before := toMillis(cutoff)
	n, err := s.sweepMessages(ctx, before, batch)
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

// inBatches runs del in one transaction after another until a transaction
// deletes fewer than batch keys, and returns how many it deleted in all.
func (s *Store) inBatches(ctx context.Context, batch int, del func(tx *bbolt.Tx) (int, error)) (int, error) {
	total := 0
	for {
		n := 0
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			var err error
			n, err = del(tx)
			return err
		})
		if err != nil { // rolled back: nothing of this batch was deleted
			return total, err
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// sweepMessages deletes the messages older than before (ms) from the head of
// the log, batch per transaction.
func (s *Store) sweepMessages(ctx context.Context, before uint64, batch int) (int, error) {
	return s.inBatches(ctx, batch, func(tx *bbolt.Tx) (int, error) {
		log := tx.Bucket(bMessageLog)
		var keys [][]byte
		c := log.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < batch; k, _ = c.Next() {
			if ms, _ := splitTimeKey(k); ms >= before {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		if len(keys) == 0 {
			return 0, nil
		}
		type swept struct {
			count  int
			newest uint64
		}
		users := make(map[string]swept)
		for _, k := range keys {
			if err := log.Delete(k); err != nil {
				return 0, err
			}
			ms, user := splitTimeKey(k)
			u := users[string(user)]
			users[string(user)] = swept{count: u.count + 1, newest: ms} // keys are in time order
		}
		for user, u := range users {
			s.changes.trimmed(user, u.newest, u.count)
		}
		// The newest swept timestamp bounds those of users with no message left.
		newest, _ := splitTimeKey(keys[len(keys)-1])
		meta := tx.Bucket(bMeta)
		return len(keys), meta.Put(keySweptThrough, putUint64(max(newest, getUint64(meta, keySweptThrough))))
	})
}

// sweepDedupe forgets dedupe keys first seen before before (ms).
func (s *Store) sweepDedupe(ctx context.Context, before uint64, batch int) error {
	_, err := s.inBatches(ctx, batch, func(tx *bbolt.Tx) (int, error) {
		b := tx.Bucket(bDedupe)
		var keys [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if len(keys) < batch && len(v) == 8 && binary.BigEndian.Uint64(v) < before {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return 0, err
			}
		}
		return len(keys), nil
	})
	return err
}
