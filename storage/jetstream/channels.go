package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// opClose marks a channel's response log closed, in the write that deletes
// the channel: it moves the log's last sequence, so that a response being
// appended concurrently conflicts instead of getting a delivery the deletion
// did not fail.
const opClose = "close"

// CreateChannel implements storage.Store.
func (s *Store) CreateChannel(ctx context.Context, c *storage.Channel, secrets map[string][]byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	sealed := make(map[string][]byte, len(secrets))
	for name, v := range secrets {
		sv, err := seal.Seal(s.key, storage.ChannelSecretAAD(c.ID, name), v)
		if err != nil {
			return wrap("seal channel secret", err)
		}
		sealed[name] = sv
	}
	rc := *c
	rc.Seq = 0 // the record's sequence becomes the channel's
	addrRef, _ := json.Marshal(channelRef{ChannelID: c.ID})
	var w *write
	err := s.update(ctx, func() (*write, error) {
		if _, taken := s.view.channel(c.ID); taken {
			return nil, storage.ErrConflict
		}
		w = s.newWrite()
		if c.Address != "" {
			if s.view.addressOwner(c.Address) != "" {
				return nil, storage.ErrAddressTaken
			}
			at := token(c.Address)
			w.put(s.subj.rec(kindAddress, at), s.view.seqOf(recKey(kindAddress, at)), addrRef)
		}
		for _, name := range slices.Sorted(maps.Keys(sealed)) {
			nt := token(name)
			w.put(s.subj.rec(kindSecret, c.ID, nt), s.view.seqOf(recKey(kindSecret, c.ID, nt)), sealed[name])
		}
		return w, s.putChannel(w, rc, nil, false)
	})
	if err != nil {
		return wrap("create channel", err)
	}
	c.Seq = s.view.channelSeq(c.ID, w.first+uint64(len(w.msgs))-1)
	return nil
}

// putChannel adds to w a channel's record, after its secret metadata
// members sealed apart as channel secrets "meta:<member>", so that a view
// applies the record with them: the members that changed since cur (the
// channel as the view has it, nil for a new one) are put, those it no
// longer has deleted. The record holds null in their place. A deleted
// channel's record is written alone (its deletion removes its secrets).
func (s *Store) putChannel(w *write, ch storage.Channel, cur *storage.Channel, deleted bool) error {
	public, members, err := storage.SplitSecrets(ch.Metadata)
	if err != nil {
		return err
	}
	if !deleted {
		var old map[string]json.RawMessage
		if cur != nil {
			_, old, _ = storage.SplitSecrets(cur.Metadata)
		}
		for _, member := range slices.Sorted(maps.Keys(members)) {
			name := storage.MemberSecretPrefix + member
			if v, ok := old[member]; ok && bytes.Equal(v, members[member]) {
				continue
			}
			sv, err := seal.Seal(s.key, storage.ChannelSecretAAD(ch.ID, name), members[member])
			if err != nil {
				return err
			}
			nt := token(name)
			w.put(s.subj.rec(kindSecret, ch.ID, nt), s.view.seqOf(recKey(kindSecret, ch.ID, nt)), sv)
		}
		for _, name := range s.view.secretNames(ch.ID) {
			member, ok := strings.CutPrefix(name, storage.MemberSecretPrefix)
			if _, keep := members[member]; ok && !keep {
				nt := token(name)
				w.del(s.subj.rec(kindSecret, ch.ID, nt), s.view.seqOf(recKey(kindSecret, ch.ID, nt)), s.opts.TombstoneTTL)
			}
		}
	}
	ch.Metadata = public
	rec, err := storage.EncodeJSON(channelRecord{Channel: ch, Deleted: deleted})
	if err != nil {
		return err
	}
	w.put(s.subj.rec(kindChannel, ch.ID), s.view.seqOf(recKey(kindChannel, ch.ID)), rec)
	return nil
}

// Channel implements storage.Store. The record is the view's; callers must
// not modify its Metadata or Platform.
func (s *Store) Channel(ctx context.Context, id string) (storage.Channel, error) {
	if err := s.enter(); err != nil {
		return storage.Channel{}, err
	}
	defer s.leave()
	c, err := s.liveChannel(ctx, id)
	return c, wrap("channel", err)
}

// CurrentChannel implements storage.Store: the view once it has caught up
// with the stream to the channel's last record.
func (s *Store) CurrentChannel(ctx context.Context, id string) (storage.Channel, error) {
	if err := s.enter(); err != nil {
		return storage.Channel{}, err
	}
	defer s.leave()
	if err := s.catchUp(ctx, s.subj.rec(kindChannel, id)); err != nil {
		return storage.Channel{}, wrap("channel", err)
	}
	c, err := s.liveChannel(ctx, id)
	return c, wrap("channel", err)
}

// liveChannel returns a channel that is not deleted, from the view or, when
// the view does not have it (created through another instance a moment
// ago), once the view has caught up with the stream to the channel's
// record: the record follows its secrets (putChannel), so the view then
// holds them too, where reading the record alone would give the channel
// without its pairing code.
func (s *Store) liveChannel(ctx context.Context, id string) (storage.Channel, error) {
	get := func() (storage.Channel, bool) {
		rec, ok := s.view.channel(id)
		if !ok || rec.Deleted {
			return storage.Channel{}, false
		}
		return rec.Channel, true
	}
	if c, ok := get(); ok {
		return c, nil
	}
	if err := s.catchUp(ctx, s.subj.rec(kindChannel, id)); err != nil {
		return storage.Channel{}, err
	}
	if c, ok := get(); ok {
		return c, nil
	}
	return storage.Channel{}, storage.ErrNotFound
}

// ChannelsOfType implements storage.Store.
func (s *Store) ChannelsOfType(_ context.Context, typ string) ([]storage.Channel, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.view.channelsWhere(func(c *channelRecord) bool { return !c.Deleted && c.Type == typ }), nil
}

// Channels implements storage.Store.
//
// The list includes every channel created before the call, on any instance:
// a client behind a load balancer lists on one node what it created on
// another a moment ago. That costs a read of the stream's last channel
// record.
func (s *Store) Channels(ctx context.Context, userID string) ([]storage.Channel, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := s.catchUp(ctx, s.subj.rec(kindChannel, ">")); err != nil {
		return nil, wrap("channels", err)
	}
	return s.view.userChannels(userID), nil
}

// UpdateChannel implements storage.Store.
func (s *Store) UpdateChannel(ctx context.Context, id string, fn func(*storage.Channel) error) (storage.Channel, error) {
	if err := s.enter(); err != nil {
		return storage.Channel{}, err
	}
	defer s.leave()
	var out storage.Channel
	err := s.update(ctx, func() (*write, error) {
		cur, err := s.liveChannel(ctx, id)
		if err != nil {
			return nil, err
		}
		ch := cloneChannel(cur)
		if err := fn(&ch); err != nil {
			return nil, err
		}
		ch.ID, ch.Seq = id, cur.Seq // identity is not fn's to change
		out = ch
		w := s.newWrite()
		return w, s.putChannel(w, ch, &cur, false)
	})
	return out, wrap("update channel", err)
}

// DeleteChannel implements storage.Store: one atomic batch marks the
// channel deleted (its id stays taken until PurgeDeleted), deletes its
// secrets, address and reply target, fails its pending deliveries and
// closes its response log.
func (s *Store) DeleteChannel(ctx context.Context, userID, id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	now := s.now().UTC()
	ch, err := s.liveChannel(ctx, id)
	if err == nil && ch.UserID != userID {
		err = storage.ErrNotFound
	}
	if err == nil {
		err = s.failPendingAhead(ctx, id, "channel deleted", now)
	}
	if err != nil {
		return wrap("delete channel", err)
	}
	unlock := s.locks.lock(s.subj.msgLog(userID)) // it writes to the user's log: this instance's appends wait
	defer unlock()
	err = s.update(ctx, func() (*write, error) {
		ch, err := s.liveChannel(ctx, id)
		if err != nil {
			return nil, err
		}
		if ch.UserID != userID {
			return nil, storage.ErrNotFound
		}
		w := s.newWrite()
		if err := s.putChannel(w, ch, nil, true); err != nil {
			return nil, err
		}
		s.releaseChannel(w, ch)
		if err := s.failPending(w, id, "channel deleted", now); err != nil {
			return nil, err
		}
		last, _ := s.view.outTail(id)
		expectSeq(w.add(s.subj.rec(kindOut, id), nil, hdrOp, opClose), last)
		// Its dedupe keys and accepted senders are forgotten, as its
		// messages stay in their user's log.
		mlast, _, _ := s.idx.tail(ch.UserID)
		expectSeq(w.add(s.subj.msgLog(ch.UserID), nil, hdrOp, opUnkey, hdrChannel, id), mlast)
		return w, nil
	})
	return wrap("delete channel", err)
}

// releaseChannel adds to w the deletion of what a channel holds besides its
// record and logs: its secrets, its address and its reply target.
func (s *Store) releaseChannel(w *write, ch storage.Channel) {
	ttl := s.opts.TombstoneTTL
	for _, name := range s.view.secretNames(ch.ID) {
		nt := token(name)
		w.del(s.subj.rec(kindSecret, ch.ID, nt), s.view.seqOf(recKey(kindSecret, ch.ID, nt)), ttl)
	}
	if ch.Address != "" && s.view.addressOwner(ch.Address) == ch.ID {
		at := token(ch.Address)
		w.del(s.subj.rec(kindAddress, at), s.view.seqOf(recKey(kindAddress, at)), ttl)
	}
	if seq := s.view.seqOf(recKey(kindTarget, ch.ID)); seq != 0 {
		w.del(s.subj.rec(kindTarget, ch.ID), seq, ttl)
	}
}

// ChannelByAddress implements storage.Store.
func (s *Store) ChannelByAddress(ctx context.Context, addr string) (storage.Channel, error) {
	if err := s.enter(); err != nil {
		return storage.Channel{}, err
	}
	defer s.leave()
	id, err := find(ctx, s, s.subj.rec(kindAddress, token(addr)), func() (string, bool) {
		id := s.view.addressOwner(addr)
		return id, id != ""
	})
	if err != nil {
		return storage.Channel{}, wrap("channel by address", err)
	}
	c, err := s.liveChannel(ctx, id)
	return c, wrap("channel by address", err)
}

// ConsumeChannelSecret implements storage.Store.
func (s *Store) ConsumeChannelSecret(ctx context.Context, channelID, name string, match func([]byte) bool, fn func(*storage.Channel) error) (storage.Channel, error) {
	if err := s.enter(); err != nil {
		return storage.Channel{}, err
	}
	defer s.leave()
	var out storage.Channel
	nt := token(name)
	err := s.update(ctx, func() (*write, error) {
		cur, err := s.liveChannel(ctx, channelID)
		if err != nil {
			return nil, err
		}
		v, err := s.channelSecret(ctx, channelID, name)
		if isNotFound(err) {
			return nil, storage.ErrSecretMismatch
		}
		if err != nil {
			return nil, err
		}
		plain, err := seal.Open(s.key, storage.ChannelSecretAAD(channelID, name), v)
		if err != nil {
			return nil, err
		}
		if !match(plain) {
			return nil, storage.ErrSecretMismatch
		}
		ch := cloneChannel(cur)
		if err := fn(&ch); err != nil {
			return nil, err
		}
		ch.ID, ch.Seq = channelID, cur.Seq
		out = ch
		w := s.newWrite()
		w.del(s.subj.rec(kindSecret, channelID, nt), s.view.seqOf(recKey(kindSecret, channelID, nt)), s.opts.TombstoneTTL)
		return w, s.putChannel(w, ch, &cur, false)
	})
	return out, wrap("consume channel secret", err)
}

// ReplyTarget implements storage.Store.
func (s *Store) ReplyTarget(ctx context.Context, channelID string) (string, error) {
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.leave()
	if _, err := s.liveChannel(ctx, channelID); err != nil {
		return "", wrap("reply target", err)
	}
	return s.view.target(channelID), nil
}

// ChannelSecret implements storage.Store.
func (s *Store) ChannelSecret(ctx context.Context, channelID, name string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	v, err := s.channelSecret(ctx, channelID, name)
	if err != nil {
		return nil, wrap("channel secret", err)
	}
	out, err := seal.Open(s.key, storage.ChannelSecretAAD(channelID, name), v)
	return out, wrap("channel secret", err)
}

// channelSecret returns a channel's sealed secret.
func (s *Store) channelSecret(ctx context.Context, channelID, name string) ([]byte, error) {
	return find(ctx, s, s.subj.rec(kindSecret, channelID, token(name)), func() ([]byte, bool) {
		return s.view.secret(channelID, name)
	})
}

// cloneChannel copies c deeply enough for a callback to change it.
func cloneChannel(c storage.Channel) storage.Channel {
	c.Metadata = slices.Clone(c.Metadata)
	c.Platform = maps.Clone(c.Platform)
	return c
}

// channelSeq returns a channel's Seq as the view has it, or seq.
func (v *view) channelSeq(id string, seq uint64) uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c := v.channels[id]; c != nil {
		return c.Seq
	}
	return seq
}

// channel returns a channel's record, deleted or not.
func (v *view) channel(id string) (*channelRecord, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c, ok := v.channels[id]
	return c, ok
}

func (v *view) channelsWhere(keep func(*channelRecord) bool) []storage.Channel {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []storage.Channel
	for _, c := range v.channels {
		if keep(c) {
			out = append(out, c.Channel)
		}
	}
	slices.SortFunc(out, func(a, b storage.Channel) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// userChannels returns a user's live channels in creation order.
func (v *view) userChannels(userID string) []storage.Channel {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]storage.Channel, 0, len(v.userChans[userID]))
	for id := range v.userChans[userID] {
		out = append(out, v.channels[id].Channel)
	}
	slices.SortFunc(out, func(a, b storage.Channel) int { return cmpUint(a.Seq, b.Seq) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (v *view) addressOwner(addr string) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.addresses[addr]
}

func (v *view) secret(channelID, name string) ([]byte, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	val, ok := v.secrets[channelID][name]
	return val, ok
}

func (v *view) secretNames(channelID string) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	names := slices.Collect(maps.Keys(v.secrets[channelID]))
	slices.Sort(names)
	return names
}

func (v *view) target(channelID string) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.targets[channelID]
}

// outTail returns a channel's response log bounds.
func (v *view) outTail(channelID string) (lastSeq, newest uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.outs[channelID].tail()
}
