package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage"
)

// Sweep implements storage.Store.
//
// For a user whose log holds what retention lets go (messages stored with
// a retention of their own once it has passed, the others older than now −
// retention, and imported key entries older than their channel's cutoff),
// it writes a removal marker to the log, expecting the log's last sequence
// like an append, which every instance's index applies. The marker lists
// the sequences it removes (at most batch) and carries the log's horizon,
// the newest removed timestamp for good: the gap signal, and the floor of
// the user's next timestamps even once every message is gone. Then the log
// is purged below the first entry it keeps, and what it removed behind
// that entry is deleted one by one. A purge or deletion that fails is left
// to the user's next sweep, whose purge reaches further; the index has
// forgotten those messages already.
//
// A channel's responses older than its cutoff (its retention, else the
// relay's) whose delivery is not pending are removed the same way, with a
// marker that lists them and the tombstones of their delivery records in
// one atomic batch (at most batch of them each), then deleted. Dedupe keys
// and accepted senders go with the messages that carry them.
func (s *Store) Sweep(ctx context.Context, now time.Time, retention time.Duration, batch int) (storage.SweepResult, error) {
	if err := s.enter(); err != nil {
		return storage.SweepResult{}, err
	}
	defer s.leave()
	var res storage.SweepResult
	cutoffs := s.view.channelCutoffs(now)
	r := sweepRule{now: toMillis(now), cut: toMillis(now.Add(-retention)), cutoffs: cutoffs}
	perMarker := min(max(batch, 1), maxRemoveSeqs)
	for _, user := range s.idx.sweepable(r) {
		n, err := s.sweepUser(ctx, user, r, perMarker)
		res.Messages += n
		if err != nil {
			return res, wrap("sweep messages", err)
		}
	}
	// A response's removal is two messages of a write (the marker's entry
	// and the delivery's tombstone).
	perWrite := max(1, (min(batch, maxWriteMsgs)-1)/2)
	for _, id := range s.view.outIDs() {
		before := r.cut
		if c, ok := cutoffs[id]; ok {
			before = c
		}
		n, err := s.sweepResponses(ctx, id, before, perWrite)
		res.Responses += n
		if err != nil {
			return res, wrap("sweep responses", err)
		}
	}
	return res, wrap("sweep deliveries", s.sweepOrphans(ctx, fromMillis(r.cut), min(max(batch, 1), maxWriteMsgs)))
}

// maxRemoveSeqs bounds the entries one removal marker lists.
const maxRemoveSeqs = 10_000

// Horizon implements storage.Store, from the index.
func (s *Store) Horizon(_ context.Context, userID string) (time.Time, error) {
	if err := s.enter(); err != nil {
		return time.Time{}, err
	}
	defer s.leave()
	if ms := s.idx.horizon(userID); ms > 0 {
		return fromMillis(ms), nil
	}
	return time.Time{}, nil
}

// sweepUser removes from a user's log what r lets go, n entries per
// marker, and returns how many messages it removed.
func (s *Store) sweepUser(ctx context.Context, user string, r sweepRule, n int) (int, error) {
	subject := s.subj.msgLog(user)
	unlock := s.locks.lock(subject)
	defer unlock()
	total := 0
	for {
		var rm removal
		var w *write
		err := s.update(ctx, func() (*write, error) {
			var ok bool
			if rm, ok = s.idx.plan(user, r, n); !ok {
				w = nil
				return nil, nil
			}
			w = s.newWrite()
			expectSeq(w.add(subject, nil, hdrOp, opRemove, hdrSeqs, rangesOf(rm.seqs).String(),
				hdrThrough, formatMillis(rm.horizon)), rm.last)
			return w, nil
		})
		if err != nil || w == nil {
			return total, err
		}
		total += rm.messages
		upTo := rm.keepFrom
		if upTo == 0 {
			upTo = w.first // everything up to the marker, which stays
		}
		if err := s.deleteEntries(ctx, subject, rm.seqs, upTo); err != nil {
			return total, err
		}
		if len(rm.seqs) < n {
			return total, nil
		}
	}
}

// deleteEntries deletes the entries a marker removed from a log: those
// below upTo, where the log keeps nothing (the first entry it keeps, or the
// marker), with one purge, the rest one by one.
func (s *Store) deleteEntries(ctx context.Context, subject string, seqs []uint64, upTo uint64) error {
	if upTo == 0 {
		return nil // no log
	}
	if err := s.purge(ctx, subject, upTo); err != nil {
		return err
	}
	for _, seq := range seqs {
		if seq < upTo {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := s.stream.DeleteMsg(dctx, seq)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("delete %d: %w", seq, readError(err))
		}
	}
	return nil
}

// channelCutoffs returns the cutoffs (ms) at now of the channels with a
// retention of their own, deleted or not.
func (v *view) channelCutoffs(now time.Time) map[string]uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[string]uint64{}
	for id, c := range v.channels {
		if c.Retention > 0 {
			out[id] = toMillis(now.Add(-c.Retention))
		}
	}
	return out
}

// purge removes a subject's messages below sequence upTo.
func (s *Store) purge(ctx context.Context, subject string, upTo uint64) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(subject)}
	if upTo > 0 {
		opts = append(opts, jetstream.WithPurgeSequence(upTo))
	}
	if err := s.stream.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("purge %s: %w", subject, readError(err))
	}
	return nil
}

// sweepResponses removes a channel's responses older than before (ms)
// whose delivery is not pending, perWrite at a time.
func (s *Store) sweepResponses(ctx context.Context, channelID string, before uint64, perWrite int) (int, error) {
	subject := s.subj.rec(kindOut, channelID)
	unlock := s.locks.lock(subject)
	defer unlock()
	total := 0
	for {
		var gone []uint64
		var w *write
		err := s.update(ctx, func() (*write, error) {
			var ids []string
			gone, ids = s.view.expiredResponses(channelID, before, perWrite)
			if len(gone) == 0 {
				return nil, nil
			}
			list, _ := json.Marshal(gone)
			last, _ := s.view.outTail(channelID)
			w = s.newWrite()
			expectSeq(w.add(subject, list, hdrOp, opRemove), last)
			for _, id := range ids {
				w.del(s.subj.rec(kindDeliv, id), s.view.seqOf(recKey(kindDeliv, id)), s.opts.TombstoneTTL)
			}
			return w, nil
		})
		if err != nil || len(gone) == 0 {
			return total, err
		}
		total += len(gone)
		if err := s.deleteEntries(ctx, subject, gone, s.view.outFirst(channelID)); err != nil {
			return total, err
		}
		if len(gone) < perWrite {
			return total, nil
		}
	}
}

// sweepOrphans removes final delivery records older than before whose
// response is gone (their user was deleted), batch per write.
func (s *Store) sweepOrphans(ctx context.Context, before time.Time, batch int) error {
	for {
		ids := s.view.orphanDeliveries(before, batch)
		if len(ids) == 0 {
			return nil
		}
		err := s.update(ctx, func() (*write, error) {
			w := s.newWrite()
			for _, id := range ids {
				w.del(s.subj.rec(kindDeliv, id), s.view.seqOf(recKey(kindDeliv, id)), s.opts.TombstoneTTL)
			}
			return w, nil
		})
		if err != nil || len(ids) < batch {
			return err
		}
	}
}

// PurgeDeleted implements storage.Store. A deleted channel's delivery
// records get tombstones, batch per write; the last write drops its
// response log (a rolled-up marker) and deletes its record, which releases
// its id.
func (s *Store) PurgeDeleted(ctx context.Context, batch int) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	batch = min(max(batch, 3), maxWriteMsgs)
	total := 0
	for _, id := range s.view.deletedChannels() {
		n, err := s.purgeChannel(ctx, id, batch)
		total += n
		if err != nil {
			return total, wrap("purge deleted", err)
		}
	}
	return total, nil
}

func (s *Store) purgeChannel(ctx context.Context, id string, batch int) (int, error) {
	subject := s.subj.rec(kindOut, id)
	unlock := s.locks.lock(subject)
	defer unlock()
	n := 0
	err := s.update(ctx, func() (*write, error) {
		rec, ok := s.view.channel(id)
		if !ok || !rec.Deleted {
			return nil, nil // purged already
		}
		w := s.newWrite()
		ids := s.view.deliveriesOf(id)
		if len(ids) > batch-2 { // not all in this write: a batch of them first
			for _, rid := range ids[:min(batch, len(ids))] {
				w.del(s.subj.rec(kindDeliv, rid), s.view.seqOf(recKey(kindDeliv, rid)), s.opts.TombstoneTTL)
			}
			return w, errMore
		}
		w.del(s.subj.rec(kindChannel, id), s.view.seqOf(recKey(kindChannel, id)), s.opts.TombstoneTTL)
		if seq := s.view.seqOf(recKey(kindTarget, id)); seq != 0 { // written after the deletion by a lagging instance
			w.del(s.subj.rec(kindTarget, id), seq, s.opts.TombstoneTTL)
		}
		last, _ := s.view.outTail(id)
		expectSeq(w.add(subject, nil, hdrOp, opDrop, "Nats-Rollup", "sub"), last)
		for _, rid := range ids {
			w.del(s.subj.rec(kindDeliv, rid), s.view.seqOf(recKey(kindDeliv, rid)), s.opts.TombstoneTTL)
		}
		n = s.view.outCount(id)
		return w, nil
	})
	return n, err
}

// errMore is not an error: a build that returns it with its write wants to
// run again once the write committed.
var errMore = errors.New("jetstream: more to write")

// expiredResponses returns up to n sequences of a channel's responses older
// than before whose delivery is not pending, with those deliveries' ids.
func (v *view) expiredResponses(channelID string, before uint64, n int) ([]uint64, []string) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	l := v.outs[channelID]
	if l == nil {
		return nil, nil
	}
	byTs := make(map[uint64]storage.Delivery, len(v.byChan[channelID]))
	for id := range v.byChan[channelID] {
		d := v.delivs[id]
		byTs[toMillis(d.CreatedAt)] = d
	}
	var seqs []uint64
	var ids []string
	for i := 0; i < len(l.ts) && l.ts[i] < before && len(seqs) < n; i++ {
		d, ok := byTs[l.ts[i]]
		if ok && d.Status == storage.StatusPending {
			continue
		}
		seqs = append(seqs, l.seq[i])
		if ok {
			ids = append(ids, d.ResponseID)
		}
	}
	return seqs, ids
}

// outFirst returns the sequence below which a channel's log holds nothing
// to keep: its first item's, or its last marker's when it has none.
func (v *view) outFirst(channelID string) uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	l := v.outs[channelID]
	if l == nil {
		return 0
	}
	if len(l.seq) > 0 {
		return slices.Min(l.seq) // imported items may be out of sequence order
	}
	return l.last
}

func (v *view) outCount(channelID string) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.outs[channelID].count()
}

// outIDs returns the channels that have a response log with items.
func (v *view) outIDs() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var ids []string
	for id, l := range v.outs {
		if len(l.ts) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// orphanDeliveries returns up to n final delivery records created before
// before whose channel has no such response any more.
func (v *view) orphanDeliveries(before time.Time, n int) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var ids []string
	for id, d := range v.delivs {
		if len(ids) == n {
			break
		}
		if d.Status == storage.StatusPending || !d.CreatedAt.Before(before) {
			continue
		}
		if _, ok := v.outs[d.ChannelID].find(toMillis(d.CreatedAt)); !ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// deletedChannels returns the channels deleted but not yet purged.
func (v *view) deletedChannels() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var ids []string
	for id, c := range v.channels {
		if c.Deleted {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
