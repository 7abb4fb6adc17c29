package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// AppendMessage implements storage.Store. The message is published to its
// user's log expecting the log's last sequence, which this instance's index
// knows: one round trip. The dedupe key and the accepted sender travel in
// its headers (hdrKey), and the index refuses a key the channel has: since
// the index holds the log up to the sequence the publish expects, the check
// is atomic with the append across instances. A new reply target makes it
// an atomic batch with that record (still one round trip). When another
// instance appended for the user first, the publish conflicts, the index
// catches up and the append is tried again with the next timestamp.
func (s *Store) AppendMessage(ctx context.Context, m *storage.Message, opts storage.AppendOptions) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	var random [10]byte
	_, _ = rand.Read(random[:])
	subject := s.subj.msgLog(m.UserID)
	var target []byte
	if opts.ReplyTarget != "" {
		target, _ = json.Marshal(targetRecord{ReplyTarget: opts.ReplyTarget})
	}
	var dedupe string
	if opts.DedupeKey != "" {
		dedupe = encodeKey(opts.DedupeKey)
	}
	unlock := s.locks.lock(subject) // this instance's appends for the user take turns
	defer unlock()
	deadline := time.Now().Add(s.opts.WriteTimeout)
	for {
		last, newest, count, dup := s.idx.appendState(m.UserID, m.ChannelID, dedupe)
		if opts.MaxBacklog > 0 && count >= opts.MaxBacklog {
			// A sweep on another instance may have removed some already: its
			// marker is the log's last message, so the count is exact once
			// the index has the log's last message.
			var current bool
			err := s.settle(ctx, deadline, func() (err error) {
				current, err = s.logCurrent(ctx, subject, last)
				return err
			})
			if err != nil {
				return wrap("append message", err)
			}
			if current {
				return storage.ErrInboxFull
			}
			continue
		}
		if dup {
			return storage.ErrDuplicate
		}
		ms := max(toMillis(s.now()), max(newest, s.view.floor(floorClock))+1)
		id := storage.TimeID(fromMillis(ms), random)
		w := s.newWrite()
		rec := storage.EncodeMessage(storage.StoredMessage{ID: id, ChannelType: m.ChannelType, ChannelID: m.ChannelID, From: m.From, Content: m.Content, Metadata: m.Metadata})
		msg := w.add(subject, rec, hdrTs, formatMillis(ms), hdrChannel, m.ChannelID)
		expectSeq(msg, last)
		if opts.Retention > 0 { // removed when its own retention ends, not with the relay's
			msg.Header.Set(hdrExp, formatMillis(ms+uint64(opts.Retention.Milliseconds())))
		}
		if dedupe != "" {
			msg.Header.Add(hdrKey, dedupe)
		}
		if opts.AcceptSender != "" {
			msg.Header.Add(hdrKey, encodeKey(senderKey(opts.AcceptSender)))
		}
		// The reply target is written only when it changes, which keeps
		// Telegram and Discord appends single publishes; the last writer
		// wins, as with concurrent requests on one instance.
		if target != nil && s.view.target(m.ChannelID) != opts.ReplyTarget {
			w.putBlind(s.subj.rec(kindTarget, m.ChannelID), target, 0)
		}
		w.stored = func(first uint64) { s.recent.put(first, rec) } // before a live reader is woken
		err := s.commit(ctx, w)
		if err == nil {
			m.ID, m.Timestamp = id, fromMillis(ms)
			return nil
		}
		if !isConflict(err) {
			return wrap("append message", err)
		}
		if time.Now().After(deadline) {
			return wrap("append message", unavailable("appends kept conflicting", err))
		}
		if err := s.settle(ctx, deadline, func() error { return s.catchUp(ctx, subject) }); err != nil {
			return wrap("append message", err)
		}
	}
}

// logCurrent tells whether the index holds a log up to its last message,
// and otherwise waits for the consumer to bring it.
func (s *Store) logCurrent(ctx context.Context, subject string, last uint64) (bool, error) {
	m, err := s.lastOf(ctx, subject)
	if isNotFound(err) {
		return last == 0, nil
	}
	if err != nil {
		return false, err
	}
	if m.Sequence == last {
		return true, nil
	}
	return false, s.mFollow.wait(ctx, m.Sequence, attemptTimeout)
}

// MessagesAfter implements storage.Store. The index says which messages
// follow the cursor; one direct batch get fetches them (see getItems).
func (s *Store) MessagesAfter(ctx context.Context, userID string, after time.Time, limit int) ([]storage.Message, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.leave()
	out, more, err := pageAfter(ctx, s, s.subj.msgLog(userID), after, limit,
		func(from uint64, n int) []entry { return s.idx.after(userID, from, n) },
		func(it item) (storage.Message, error) { return toMessage(userID, it) })
	return out, more, wrap("messages after", err)
}

// pageAfter reads up to limit items of a log with a timestamp strictly
// later than after, oldest first, as list (the index) lists them, and
// whether more exist. One more than limit tells whether there are more. An
// item removed since the index listed it is skipped, and the index read
// again. The page is never nil, but on an error.
func pageAfter[T any](ctx context.Context, s *Store, subject string, after time.Time, limit int,
	list func(from uint64, n int) []entry, decode func(item) (T, error),
) ([]T, bool, error) {
	out := []T{}
	for from := storage.FirstAfter(after); ; {
		want := list(from, limit+1-len(out))
		if len(want) == 0 {
			return out, false, nil
		}
		if cap(out) == 0 {
			out = make([]T, 0, min(limit, len(want)))
		}
		got, err := s.getItems(ctx, subject, want)
		if err != nil {
			return nil, false, err
		}
		for _, it := range got {
			if len(out) == limit {
				return out, true, nil
			}
			v, err := decode(it)
			if err != nil {
				return nil, false, err
			}
			out = append(out, v)
		}
		from = want[len(want)-1].ts + 1
	}
}

// toMessage decodes a stored message of userID.
func toMessage(userID string, it item) (storage.Message, error) {
	rec, err := storage.DecodeMessage(it.data)
	if err != nil {
		return storage.Message{}, err
	}
	return storage.Message{ID: rec.ID, UserID: userID, ChannelType: rec.ChannelType, ChannelID: rec.ChannelID,
		From: rec.From, Content: rec.Content, Timestamp: fromMillis(it.ts), Metadata: rec.Metadata}, nil
}
