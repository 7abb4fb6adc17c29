package jetstream

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// adminSession is what a sealed admin session record holds.
type adminSession struct {
	CreatedAt time.Time `json:"createdAt"`
}

// PutAdminSession implements storage.Store.
func (s *Store) PutAdminSession(ctx context.Context, tokenHash []byte, createdAt time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	raw, _ := json.Marshal(adminSession{CreatedAt: createdAt.UTC()})
	sealed, err := seal.Seal(s.key, storage.AdminSessionAAD(tokenHash), raw)
	if err != nil {
		return wrap("seal admin session", err)
	}
	w := s.newWrite()
	w.putBlind(s.subj.rec(kindAdmin, hashToken(tokenHash)), sealed, 0)
	return wrap("put admin session", s.commit(ctx, w))
}

// AdminSession implements storage.Store.
func (s *Store) AdminSession(ctx context.Context, tokenHash []byte) (time.Time, error) {
	if err := s.enter(); err != nil {
		return time.Time{}, err
	}
	defer s.leave()
	ht := hashToken(tokenHash)
	v, err := find(ctx, s, s.subj.rec(kindAdmin, ht), func() ([]byte, bool) { return s.view.adminSession(ht) })
	if err != nil {
		return time.Time{}, wrap("admin session", err)
	}
	raw, err := seal.Open(s.key, storage.AdminSessionAAD(tokenHash), v)
	if err != nil {
		return time.Time{}, wrap("admin session", err)
	}
	var a adminSession
	return a.CreatedAt, wrap("admin session", json.Unmarshal(raw, &a))
}

// DeleteAdminSession implements storage.Store.
func (s *Store) DeleteAdminSession(ctx context.Context, tokenHash []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	ht := hashToken(tokenHash)
	err := s.update(ctx, func() (*write, error) {
		if _, ok := s.view.adminSession(ht); !ok {
			return nil, nil
		}
		w := s.newWrite()
		w.del(s.subj.rec(kindAdmin, ht), s.view.seqOf(recKey(kindAdmin, ht)), s.opts.TombstoneTTL)
		return w, nil
	})
	return wrap("delete admin session", err)
}

// ExpireAdminSessions implements storage.Store.
func (s *Store) ExpireAdminSessions(ctx context.Context, before time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	total := 0
	for {
		var expired []string
		for ht, v := range s.view.adminSessions() {
			var a adminSession
			hash, _ := hex.DecodeString(ht)
			raw, err := seal.Open(s.key, storage.AdminSessionAAD(hash), v)
			if err == nil && json.Unmarshal(raw, &a) == nil && !a.CreatedAt.Before(before) {
				continue
			}
			if expired = append(expired, ht); len(expired) == maxWriteMsgs {
				break
			}
		}
		if len(expired) == 0 {
			return total, nil
		}
		err := s.update(ctx, func() (*write, error) {
			w := s.newWrite()
			for _, ht := range expired {
				w.del(s.subj.rec(kindAdmin, ht), s.view.seqOf(recKey(kindAdmin, ht)), s.opts.TombstoneTTL)
			}
			return w, nil
		})
		if err != nil {
			return total, wrap("expire admin sessions", err)
		}
		total += len(expired)
	}
}

// CountUsers implements storage.Store.
func (s *Store) CountUsers(context.Context) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	return s.view.userCount(), nil
}

// UsersNewestFirst implements storage.Store.
func (s *Store) UsersNewestFirst(_ context.Context, offset, limit int) ([]storage.User, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	users := s.view.allUsers()
	slices.SortFunc(users, func(a, b storage.User) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if offset >= len(users) {
		return nil, nil
	}
	return users[offset:min(len(users), offset+limit)], nil
}

// CountMessagesSince implements storage.Store, from the index.
func (s *Store) CountMessagesSince(_ context.Context, since time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	return s.idx.countSince(toMillis(since)), nil
}

// RecentItems implements storage.Store.
func (s *Store) RecentItems(ctx context.Context, limit int) ([]storage.Item, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out []storage.Item
	for _, ue := range s.idx.newest(limit) {
		it, ok, err := s.messageItem(ctx, ue.user, ue.entry)
		if err != nil {
			return nil, wrap("recent items", err)
		}
		if ok {
			out = append(out, it)
		}
	}
	for _, ce := range s.view.newestResponses(limit) {
		it, ok, err := s.responseItem(ctx, ce.user, ce.entry)
		if err != nil {
			return nil, wrap("recent items", err)
		}
		if ok {
			out = append(out, it)
		}
	}
	return newestItems(out, limit), nil
}

// UserItems implements storage.Store.
func (s *Store) UserItems(ctx context.Context, userID string, before time.Time, limit int) ([]storage.Item, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if _, err := s.userByID(ctx, userID); err != nil {
		return nil, wrap("user items", err)
	}
	end := ^uint64(0)
	if !before.IsZero() {
		end = toMillis(before)
	}
	var out []storage.Item
	for _, e := range s.idx.before(userID, end, limit) {
		it, ok, err := s.messageItem(ctx, userID, e)
		if err != nil {
			return nil, wrap("user items", err)
		}
		if ok {
			out = append(out, it)
		}
	}
	for _, ch := range s.view.userChannels(userID) {
		for _, e := range s.view.outBefore(ch.ID, end, limit) {
			it, ok, err := s.responseItem(ctx, ch.ID, e)
			if err != nil {
				return nil, wrap("user items", err)
			}
			if ok {
				out = append(out, it)
			}
		}
	}
	return newestItems(out, limit), nil
}

// newestItems sorts items newest first and keeps limit of them.
func newestItems(items []storage.Item, limit int) []storage.Item {
	slices.SortStableFunc(items, func(a, b storage.Item) int { return b.Timestamp.Compare(a.Timestamp) })
	return items[:min(len(items), limit)]
}

// messageItem reads a message of userID for the admin views.
func (s *Store) messageItem(ctx context.Context, userID string, e entry) (storage.Item, bool, error) {
	got, err := s.getItems(ctx, s.subj.msgLog(userID), []entry{e})
	if err != nil || len(got) == 0 {
		return storage.Item{}, false, err
	}
	m, err := toMessage(userID, got[0])
	if err != nil {
		return storage.Item{}, false, err
	}
	return storage.Item{ID: m.ID, UserID: userID, ChannelType: m.ChannelType, ChannelID: m.ChannelID,
		From: m.From, Content: m.Content, Timestamp: m.Timestamp}, true, nil
}

// responseItem reads a response of a channel, with its delivery.
func (s *Store) responseItem(ctx context.Context, channelID string, e entry) (storage.Item, bool, error) {
	got, err := s.getItems(ctx, s.subj.rec(kindOut, channelID), []entry{e})
	if err != nil || len(got) == 0 {
		return storage.Item{}, false, err
	}
	r, err := toResponse(channelID, got[0])
	if err != nil {
		return storage.Item{}, false, err
	}
	it := storage.Item{Out: true, ID: r.ID, UserID: r.UserID, ChannelType: r.ChannelType, ChannelID: channelID,
		From: r.From, Content: r.Content, Timestamp: r.Timestamp}
	if d, ok := s.view.delivery(r.ID); ok {
		it.Delivery = &d
	}
	return it, true, nil
}

// Deliveries implements storage.Store: newest first (response ids are
// UUIDv7, so id order is time order), after the cursor id, optionally of
// one status.
func (s *Store) Deliveries(_ context.Context, status, cursor string, limit int) ([]storage.Delivery, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	all := s.view.deliveriesWhere(func(d storage.Delivery) bool {
		return (status == "" || d.Status == status) && (cursor == "" || d.ResponseID < cursor)
	})
	slices.SortFunc(all, func(a, b storage.Delivery) int { return strings.Compare(b.ResponseID, a.ResponseID) })
	return all[:min(len(all), limit)], nil
}

// DeliveryCounts implements storage.Store.
func (s *Store) DeliveryCounts(context.Context) (map[string]int, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	counts := map[string]int{storage.StatusPending: 0, storage.StatusSent: 0, storage.StatusFailed: 0, storage.StatusStored: 0}
	for _, d := range s.view.deliveriesWhere(func(storage.Delivery) bool { return true }) {
		counts[d.Status]++
	}
	return counts, nil
}

// PendingCounts implements storage.Store.
func (s *Store) PendingCounts(context.Context) (map[string]int, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.view.pendingCounts(), nil
}

// DeleteUser implements storage.Store: one atomic batch deletes the user,
// their index records and channels (with secrets, addresses and reply
// targets), fails their pending deliveries, and drops their message log and
// their channels' response logs (rolled-up markers).
func (s *Store) DeleteUser(ctx context.Context, userID string) ([]storage.Channel, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	now := s.now().UTC()
	ttl := s.opts.TombstoneTTL
	if _, err := s.userByID(ctx, userID); err != nil {
		return nil, wrap("delete user", err)
	}
	for _, ch := range s.view.userChannels(userID) {
		if err := s.failPendingAhead(ctx, ch.ID, "session deleted", now); err != nil {
			return nil, wrap("delete user", err)
		}
	}
	var deleted []storage.Channel
	unlock := s.locks.lock(s.subj.msgLog(userID)) // it drops the user's log: this instance's appends wait
	defer unlock()
	err := s.update(ctx, func() (*write, error) {
		u, err := find(ctx, s, s.subj.rec(kindUser, userID), func() (userRecord, bool) { return s.view.user(userID) })
		if err != nil {
			return nil, err
		}
		w := s.newWrite()
		w.del(s.subj.rec(kindUser, userID), s.view.seqOf(recKey(kindUser, userID)), ttl)
		hk := hashToken(u.APIKeyHash)
		w.del(s.subj.rec(kindAPIKey, hk), s.view.seqOf(recKey(kindAPIKey, hk)), ttl)
		if u.FingerprintHash != nil {
			fp := hashToken(u.FingerprintHash)
			w.del(s.subj.rec(kindPubKey, fp), s.view.seqOf(recKey(kindPubKey, fp)), ttl)
		}
		if seq := s.view.seqOf(recKey(kindUserKey, userID)); seq != 0 {
			w.del(s.subj.rec(kindUserKey, userID), seq, ttl)
		}
		deleted = s.view.userChannels(userID)
		for _, ch := range deleted {
			if err := s.failPending(w, ch.ID, "session deleted", now); err != nil {
				return nil, err
			}
			s.releaseChannel(w, ch)
			w.del(s.subj.rec(kindChannel, ch.ID), s.view.seqOf(recKey(kindChannel, ch.ID)), ttl)
			last, _ := s.view.outTail(ch.ID)
			expectSeq(w.add(s.subj.rec(kindOut, ch.ID), nil, hdrOp, opDrop, "Nats-Rollup", "sub"), last)
		}
		last, newest, _ := s.idx.tail(userID)
		expectSeq(w.add(s.subj.msgLog(userID), nil, hdrOp, opDrop, hdrThrough, formatMillis(newest), "Nats-Rollup", "sub"), last)
		return w, nil
	})
	if err != nil {
		return nil, wrap("delete user", err)
	}
	return deleted, nil
}

func (v *view) adminSession(ht string) ([]byte, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	val, ok := v.admin[ht]
	return val, ok
}

func (v *view) adminSessions() map[string][]byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string][]byte, len(v.admin))
	for k, val := range v.admin {
		out[k] = val
	}
	return out
}

func (v *view) userCount() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.users)
}

func (v *view) allUsers() []storage.User {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]storage.User, 0, len(v.users))
	for _, u := range v.users {
		out = append(out, u.User)
	}
	return out
}

func (v *view) deliveriesWhere(keep func(storage.Delivery) bool) []storage.Delivery {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []storage.Delivery
	for _, d := range v.delivs {
		if keep(d) {
			out = append(out, d)
		}
	}
	return out
}

func (v *view) pendingCounts() map[string]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	counts := map[string]int{}
	for _, list := range v.pending {
		for _, p := range list {
			counts[v.delivs[p.id].ChannelType]++
		}
	}
	return counts
}

// outBefore returns up to n of a channel's newest responses older than end.
func (v *view) outBefore(channelID string, end uint64, n int) []entry {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.outs[channelID].before(end, n)
}

// newestResponses returns up to n of the newest responses over all
// channels, newest first (user is the channel's id).
func (v *view) newestResponses(n int) []userEntry {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []userEntry
	for id, l := range v.outs {
		for _, e := range l.before(^uint64(0), n) {
			out = append(out, userEntry{user: id, entry: e})
		}
	}
	slices.SortFunc(out, func(a, b userEntry) int { return cmpUint(b.ts, a.ts) })
	return out[:min(n, len(out))]
}
