package jetstream

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/chaos-relay/relay/storage"
)

// AppendResponse implements storage.Store: one atomic batch holds the
// response, expecting its channel's response log's last sequence (so
// timestamps increase per channel across instances), and its delivery
// record, expecting the channel record decide saw (so no change of the
// channel slips in between).
func (s *Store) AppendResponse(ctx context.Context, r *storage.Response, decide func(storage.ChannelView) (storage.Delivery, error)) (storage.Delivery, error) {
	if err := s.enter(); err != nil {
		return storage.Delivery{}, err
	}
	defer s.leave()
	subject := s.subj.rec(kindOut, r.ChannelID)
	unlock := s.locks.lock(subject)
	defer unlock()
	var (
		d        storage.Delivery
		ms       uint64
		id, kind string
	)
	err := s.update(ctx, func() (*write, error) {
		ch, err := s.liveChannel(ctx, r.ChannelID)
		if err != nil {
			return nil, err
		}
		if ch.UserID != r.UserID {
			return nil, storage.ErrNotFound
		}
		caughtUp := false
		d, err = decide(storage.ChannelView{Channel: ch, ReplyTarget: s.view.target(ch.ID), Secrets: s.view.secretNames(ch.ID),
			Accepted: func(addr string) bool {
				key := encodeKey(senderKey(addr))
				if !s.idx.hasKey(ch.UserID, ch.ID, key) && !caughtUp {
					// Perhaps accepted a moment ago through another instance.
					caughtUp = true
					if s.catchUp(ctx, s.subj.msgLog(ch.UserID)) != nil {
						return false
					}
				}
				return s.idx.hasKey(ch.UserID, ch.ID, key)
			}})
		if err != nil {
			return nil, err
		}
		last, newest := s.view.outTail(ch.ID)
		ms = max(toMillis(s.now()), newest+1)
		id, kind = storage.NewTimeID(fromMillis(ms)), ch.Type
		body, err := storage.EncodeJSON(storage.StoredResponse{ID: id, UserID: r.UserID, ChannelType: kind, From: r.From, Content: r.Content, Metadata: r.Metadata})
		if err != nil {
			return nil, err
		}
		ts := fromMillis(ms)
		d.ResponseID, d.UserID, d.ChannelID, d.ChannelType = id, r.UserID, ch.ID, kind
		d.CreatedAt, d.UpdatedAt = ts, ts
		if d.Status == storage.StatusPending {
			d.NextAttemptAt = ts
		}
		dj, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		w := s.newWrite()
		expectSeq(w.add(subject, body, hdrTs, formatMillis(ms)), last)
		expectOther(w.add(s.subj.rec(kindDeliv, id), dj, "Nats-Rollup", "sub"),
			s.subj.rec(kindChannel, ch.ID), s.view.seqOf(recKey(kindChannel, ch.ID)))
		return w, nil
	})
	if err != nil {
		return storage.Delivery{}, wrap("append response", err)
	}
	r.ID, r.ChannelType, r.Timestamp = id, kind, fromMillis(ms)
	return d, nil
}

// ResponsesAfter implements storage.Store.
func (s *Store) ResponsesAfter(ctx context.Context, channelID string, after time.Time, limit int) ([]storage.Response, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.leave()
	if _, err := s.liveChannel(ctx, channelID); err != nil {
		return nil, false, wrap("responses after", err) // deleted channels' responses are no longer readable
	}
	out, more, err := pageAfter(ctx, s, s.subj.rec(kindOut, channelID), after, limit,
		func(from uint64, n int) []entry { return s.view.outAfter(channelID, from, n) },
		func(it item) (storage.Response, error) { return toResponse(channelID, it) })
	return out, more, wrap("responses after", err)
}

func toResponse(channelID string, it item) (storage.Response, error) {
	var rec storage.StoredResponse
	if err := json.Unmarshal(it.data, &rec); err != nil {
		return storage.Response{}, err
	}
	return responseOf(channelID, it.ts, rec), nil
}

// Delivery implements storage.Store: the record as the stream's leader has
// it, one read.
func (s *Store) Delivery(ctx context.Context, responseID string) (storage.Delivery, error) {
	if err := s.enter(); err != nil {
		return storage.Delivery{}, err
	}
	defer s.leave()
	subject := s.subj.rec(kindDeliv, responseID)
	if err := s.reload(ctx, subject); err != nil { // the leader's: current
		return storage.Delivery{}, wrap("delivery", err)
	}
	d, ok := s.view.delivery(responseID)
	if !ok {
		return storage.Delivery{}, wrap("delivery", storage.ErrNotFound)
	}
	return d, nil
}

func (s *Store) delivery(ctx context.Context, responseID string) (storage.Delivery, error) {
	return find(ctx, s, s.subj.rec(kindDeliv, responseID), func() (storage.Delivery, bool) {
		return s.view.delivery(responseID)
	})
}

// PendingHeads implements storage.Store, from the view's pending index; the
// heads' responses are read once and kept while they are pending.
func (s *Store) PendingHeads(ctx context.Context) ([]storage.PendingReply, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	heads := s.view.pendingHeads()
	out := make([]storage.PendingReply, 0, len(heads))
	for _, h := range heads {
		if !h.ok {
			if err := s.loadBody(ctx, &h); err != nil {
				return nil, wrap("pending heads", err)
			}
		}
		if h.reply.Response.ID != "" {
			out = append(out, h.reply)
		}
	}
	return out, nil
}

// PendingHead implements storage.Store.
func (s *Store) PendingHead(ctx context.Context, channelID string) (storage.PendingReply, error) {
	if err := s.enter(); err != nil {
		return storage.PendingReply{}, err
	}
	defer s.leave()
	h, ok := s.view.pendingHead(channelID)
	if ok && !h.ok {
		if err := s.loadBody(ctx, &h); err != nil {
			return storage.PendingReply{}, wrap("pending head", err)
		}
	}
	if !ok || h.reply.Response.ID == "" {
		return storage.PendingReply{}, wrap("pending head", storage.ErrNotFound)
	}
	return h.reply, nil
}

// loadBody reads a pending head's response and keeps it in the view.
func (s *Store) loadBody(ctx context.Context, h *head) error {
	d := h.reply.Delivery
	ts := toMillis(d.CreatedAt)
	seq, ok := s.view.outFind(d.ChannelID, ts)
	if !ok {
		return nil // removed, or not indexed yet: not a head this time
	}
	got, err := s.getItems(ctx, s.subj.rec(kindOut, d.ChannelID), []entry{{ts: ts, seq: seq}})
	if err != nil || len(got) == 0 {
		return err
	}
	r, err := toResponse(d.ChannelID, got[0])
	if err != nil {
		return err
	}
	h.reply.Response = r
	s.view.keepBody(r)
	return nil
}

// UpdateDelivery implements storage.Store.
func (s *Store) UpdateDelivery(ctx context.Context, responseID string, fn func(*storage.Delivery) error) (storage.Delivery, error) {
	if err := s.enter(); err != nil {
		return storage.Delivery{}, err
	}
	defer s.leave()
	var out storage.Delivery
	err := s.update(ctx, func() (*write, error) {
		d, err := s.delivery(ctx, responseID)
		if err != nil {
			return nil, err
		}
		was := d.Status
		if err := fn(&d); err != nil {
			return nil, err
		}
		d.ResponseID = responseID
		if was != storage.StatusPending && d.Status == storage.StatusPending { // retried
			if _, err := s.liveChannel(ctx, d.ChannelID); err != nil {
				return nil, err // a deleted channel's replies stay failed
			}
		}
		raw, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		out = d
		w := s.newWrite()
		w.put(s.subj.rec(kindDeliv, responseID), s.view.seqOf(recKey(kindDeliv, responseID)), raw)
		return w, nil
	})
	return out, wrap("update delivery", err)
}

// failPendingAhead fails a channel's pending deliveries in writes of their
// own while there are more than an atomic change can hold besides the rest
// of a deletion, which then fails those left. (Should the deletion fail
// after that, those deliveries stay failed: a channel with hundreds of
// replies pending is one whose platform has been down for long.)
func (s *Store) failPendingAhead(ctx context.Context, channelID, reason string, now time.Time) error {
	const chunk = maxWriteMsgs / 2
	for len(s.view.pendingOf(channelID)) > chunk {
		err := s.update(ctx, func() (*write, error) {
			w := s.newWrite()
			pend := s.view.pendingOf(channelID)
			return w, s.failDeliveries(w, pend[:min(len(pend), chunk)], reason, now)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// failPending adds to w the failure of every pending delivery of a channel.
func (s *Store) failPending(w *write, channelID, reason string, now time.Time) error {
	return s.failDeliveries(w, s.view.pendingOf(channelID), reason, now)
}

func (s *Store) failDeliveries(w *write, ds []storage.Delivery, reason string, now time.Time) error {
	for _, d := range ds {
		d.Status, d.LastError, d.UpdatedAt, d.NextAttemptAt = storage.StatusFailed, reason, now, time.Time{}
		raw, err := json.Marshal(d)
		if err != nil {
			return err
		}
		w.put(s.subj.rec(kindDeliv, d.ResponseID), s.view.seqOf(recKey(kindDeliv, d.ResponseID)), raw)
	}
	return nil
}

// head is a pending head as the view has it: ok when its response's body
// is at hand.
type head struct {
	reply storage.PendingReply
	ok    bool
}

// pendingHeads returns, in channel order, each channel's oldest pending
// delivery with its channel, and its response when the view has it.
func (v *view) pendingHeads() []head {
	v.mu.RLock()
	defer v.mu.RUnlock()
	ids := make([]string, 0, len(v.pending))
	for id := range v.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]head, 0, len(ids))
	for _, id := range ids {
		if h, ok := v.headOf(id); ok {
			out = append(out, h)
		}
	}
	return out
}

// pendingHead returns a channel's oldest pending delivery, as pendingHeads.
func (v *view) pendingHead(channelID string) (head, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.headOf(channelID)
}

// headOf returns a channel's head. Lock must be held.
func (v *view) headOf(channelID string) (head, bool) {
	c := v.channels[channelID]
	if c == nil || c.Deleted || len(v.pending[channelID]) == 0 {
		return head{}, false // a deleted channel's deliveries are being failed
	}
	ref := v.pending[channelID][0]
	body, ok := v.bodies[ref.id]
	return head{reply: storage.PendingReply{Delivery: v.delivs[ref.id], Response: body, Channel: c.Channel}, ok: ok}, true
}

// keepBody keeps a pending response's body.
func (v *view) keepBody(r storage.Response) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d, ok := v.delivs[r.ID]; ok && d.Status == storage.StatusPending {
		v.bodies[r.ID] = r
	}
}

func (v *view) delivery(id string) (storage.Delivery, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	d, ok := v.delivs[id]
	return d, ok
}

// pendingOf returns a channel's pending deliveries, oldest first.
func (v *view) pendingOf(channelID string) []storage.Delivery {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]storage.Delivery, 0, len(v.pending[channelID]))
	for _, p := range v.pending[channelID] {
		out = append(out, v.delivs[p.id])
	}
	return out
}

// outAfter returns up to n of a channel's responses with a timestamp ≥ from.
func (v *view) outAfter(channelID string, from uint64, n int) []entry {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.outs[channelID].after(from, n)
}

// outFind returns the sequence of a channel's response at ts.
func (v *view) outFind(channelID string, ts uint64) (uint64, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.outs[channelID].find(ts)
}

// deliveriesOf returns the ids of a channel's delivery records.
func (v *view) deliveriesOf(channelID string) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	ids := slices.Collect(maps.Keys(v.byChan[channelID]))
	slices.Sort(ids)
	return ids
}
