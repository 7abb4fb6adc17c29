package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// Sweep implements storage.Store. Messages go two ways: those stored with a
// retention of their own are in the expiry index, deleted once due; the
// others leave the head of the log once older than the relay's retention,
// the log's sweep resuming where the last one stopped and skipping the
// former. Responses and dedupe keys go by their channel's retention. Every
// batch keys are committed, so that writers are never held up for long.
func (s *Store) Sweep(ctx context.Context, now time.Time, retention time.Duration, batch int) (storage.SweepResult, error) {
	var res storage.SweepResult
	n, err := s.sweepExpired(ctx, toMillis(now), batch)
	res.Messages = n
	if err != nil {
		return res, wrap("sweep expired messages", err)
	}
	n, err = s.sweepMessages(ctx, toMillis(now.Add(-retention)), batch)
	res.Messages += n
	if err != nil {
		return res, wrap("sweep messages", err)
	}
	cutoffs := s.channelCutoffs(now, retention)
	n, err = s.sweepStreams(ctx, bChanState, batch, func(tx *bbolt.Tx, channelID []byte, budget int) (int, error) {
		return deleteResponses(tx, string(channelID), cutoffs.of(tx, string(channelID)), budget)
	})
	res.Responses = n
	if err != nil {
		return res, wrap("sweep responses", err)
	}
	return res, wrap("sweep dedupe", s.sweepDedupe(ctx, cutoffs, batch))
}

// Horizon implements storage.Store, from the index.
func (s *Store) Horizon(_ context.Context, userID string) (time.Time, error) {
	if ms := s.index.horizon(userID); ms > 0 {
		return fromMillis(ms), nil
	}
	return time.Time{}, nil
}

// cutoffs are the channels' retention cutoffs (ms) of one sweep.
type cutoffs struct {
	now       time.Time
	retention time.Duration
	memo      map[string]uint64
}

func (s *Store) channelCutoffs(now time.Time, retention time.Duration) *cutoffs {
	return &cutoffs{now: now, retention: retention, memo: map[string]uint64{}}
}

// of is the cutoff of a channel: its own retention, or the relay's (also for
// a deleted channel, whose responses PurgeDeleted removes anyway).
func (c *cutoffs) of(tx *bbolt.Tx, channelID string) uint64 {
	if ms, ok := c.memo[channelID]; ok {
		return ms
	}
	retention := c.retention
	var rec struct {
		Retention time.Duration `json:"retention"`
	}
	if v := tx.Bucket(bChannels).Get([]byte(channelID)); v != nil && json.Unmarshal(v, &rec) == nil && rec.Retention > 0 {
		retention = rec.Retention
	}
	ms := toMillis(c.now.Add(-retention))
	c.memo[channelID] = ms
	return ms
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

// sweepMessages deletes the log's messages older than before (ms), batch per
// transaction, skipping those with a retention of their own (the expiry
// sweep's). It starts where the last sweep of this process stopped
// (sweepMark), so that messages kept at the head of the log are walked once
// per process, not once per sweep; the first sweep after a start walks the
// whole head, which also finds a message stored behind the mark after the
// clock stepped back by more than the retention.
func (s *Store) sweepMessages(ctx context.Context, before uint64, batch int) (int, error) {
	from := s.sweepMark.Load()
	n, err := s.inBatches(ctx, batch, func(tx *bbolt.Tx) (int, error) {
		log, keep := tx.Bucket(bMessageLog), tx.Bucket(bKeep)
		var keys [][]byte
		c := log.Cursor()
		for k, _ := c.Seek(timeKey(from, "")); k != nil && len(keys) < batch; k, _ = c.Next() {
			if ms, _ := splitTimeKey(k); ms >= before {
				break
			}
			if keep.Get(k) == nil {
				keys = append(keys, bytes.Clone(k))
			}
		}
		return len(keys), s.deleteMessages(tx, keys)
	})
	if err == nil && before > from {
		s.sweepMark.Store(before)
	}
	return n, err
}

// sweepExpired deletes the messages stored with a retention of their own
// whose time has come (expiry ≤ now, ms).
func (s *Store) sweepExpired(ctx context.Context, now uint64, batch int) (int, error) {
	total := 0
	for {
		entries, deleted := 0, 0
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			expiry, keep, log := tx.Bucket(bExpiry), tx.Bucket(bKeep), tx.Bucket(bMessageLog)
			var due, keys [][]byte
			c := expiry.Cursor()
			for k, _ := c.First(); k != nil && len(due) < batch && binary.BigEndian.Uint64(k) <= now; k, _ = c.Next() {
				due = append(due, bytes.Clone(k))
			}
			for _, e := range due {
				key := e[9:]
				if err := expiry.Delete(e); err != nil {
					return err
				}
				if err := keep.Delete(key); err != nil {
					return err
				}
				if log.Get(key) != nil { // else gone with its user
					keys = append(keys, key)
				}
			}
			entries, deleted = len(due), len(keys)
			return s.deleteMessages(tx, keys)
		})
		if err != nil {
			return total, err
		}
		total += deleted
		if entries < batch {
			return total, nil
		}
	}
}

// deleteMessages deletes log keys and records what the index, the horizons
// and the floor of timestamps learn from it: the newest deleted timestamp
// bounds those of users with no message left (swept_through).
func (s *Store) deleteMessages(tx *bbolt.Tx, keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	log, horizons, meta := tx.Bucket(bMessageLog), tx.Bucket(bHorizons), tx.Bucket(bMeta)
	newest := map[string]uint64{}
	var floor uint64
	for _, k := range keys {
		if err := log.Delete(k); err != nil {
			return err
		}
		ms, user := splitTimeKey(k)
		s.changes.removed(string(user), ms)
		newest[string(user)] = max(newest[string(user)], ms)
		floor = max(floor, ms)
	}
	for user, ms := range newest {
		if ms > getUint64(horizons, []byte(user)) {
			if err := horizons.Put([]byte(user), putUint64(ms)); err != nil {
				return err
			}
		}
	}
	return meta.Put(keySweptThrough, putUint64(max(floor, getUint64(meta, keySweptThrough))))
}

// expiryKey is "<big-endian expiry ms>\x00<log key>".
func expiryKey(expiry uint64, logKey []byte) []byte {
	k := make([]byte, 9+len(logKey))
	binary.BigEndian.PutUint64(k, expiry)
	copy(k[9:], logKey)
	return k
}

// sweepDedupe forgets dedupe keys first seen before their channel's cutoff.
func (s *Store) sweepDedupe(ctx context.Context, cutoffs *cutoffs, batch int) error {
	_, err := s.inBatches(ctx, batch, func(tx *bbolt.Tx) (int, error) {
		b := tx.Bucket(bDedupe)
		var keys [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			channelID, _, _ := bytes.Cut(k, []byte{0})
			if len(keys) < batch && len(v) == 8 && binary.BigEndian.Uint64(v) < cutoffs.of(tx, string(channelID)) {
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
