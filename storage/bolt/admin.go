package bolt

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// adminSession is what a sealed admin session record holds.
type adminSession struct {
	CreatedAt time.Time `json:"createdAt"`
}

// PutAdminSession implements storage.Store.
func (s *Store) PutAdminSession(ctx context.Context, tokenHash []byte, createdAt time.Time) error {
	raw, _ := json.Marshal(adminSession{CreatedAt: createdAt.UTC()})
	sealed, err := seal.Seal(s.key, sealAAD(bAdmin, tokenHash), raw)
	if err != nil {
		return wrap("seal admin session", err)
	}
	return wrap("put admin session", s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bAdmin).Put(tokenHash, sealed)
	}))
}

// AdminSession implements storage.Store.
func (s *Store) AdminSession(_ context.Context, tokenHash []byte) (time.Time, error) {
	var a adminSession
	err := s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bAdmin).Get(tokenHash)
		if v == nil {
			return storage.ErrNotFound
		}
		raw, err := seal.Open(s.key, sealAAD(bAdmin, tokenHash), v)
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &a)
	})
	return a.CreatedAt, wrap("admin session", err)
}

// DeleteAdminSession implements storage.Store.
func (s *Store) DeleteAdminSession(ctx context.Context, tokenHash []byte) error {
	return wrap("delete admin session", s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bAdmin).Delete(tokenHash)
	}))
}

// ExpireAdminSessions implements storage.Store.
func (s *Store) ExpireAdminSessions(ctx context.Context, before time.Time) (int, error) {
	var expired [][]byte
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bAdmin).ForEach(func(k, v []byte) error {
			var a adminSession
			raw, err := seal.Open(s.key, sealAAD(bAdmin, k), v)
			if err != nil || json.Unmarshal(raw, &a) != nil || a.CreatedAt.Before(before) {
				expired = append(expired, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil || len(expired) == 0 {
		return 0, wrap("expire admin sessions", err)
	}
	return len(expired), wrap("expire admin sessions", s.update(ctx, func(tx *bbolt.Tx) error {
		for _, k := range expired {
			if err := tx.Bucket(bAdmin).Delete(k); err != nil {
				return err
			}
		}
		return nil
	}))
}

// CountUsers implements storage.Store.
func (s *Store) CountUsers(_ context.Context) (int, error) {
	n := 0
	err := s.view(func(tx *bbolt.Tx) error { n = tx.Bucket(bUsersByTime).Stats().KeyN; return nil })
	return n, wrap("count users", err)
}

// UsersNewestFirst implements storage.Store.
func (s *Store) UsersNewestFirst(_ context.Context, offset, limit int) ([]storage.User, error) {
	var out []storage.User
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bUsersByTime).Cursor()
		i := 0
		for k, _ := c.Last(); k != nil && len(out) < limit; k, _ = c.Prev() {
			if i++; i <= offset {
				continue
			}
			u, err := s.getUser(tx, k[9:])
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	return out, wrap("users newest first", err)
}

// CountMessagesSince implements storage.Store, from the index.
func (s *Store) CountMessagesSince(_ context.Context, since time.Time) (int, error) {
	return s.index.countSince(toMillis(since)), nil
}

// RecentItems implements storage.Store: the newest messages are at the end
// of the message log; the newest responses are among the newest of the
// channels whose last response is the most recent, which the channel state
// records hold (a global time index of responses would double their writes).
func (s *Store) RecentItems(_ context.Context, limit int) ([]storage.Item, error) {
	var out []storage.Item
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bMessageLog).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			ms, user := splitTimeKey(k)
			it, err := messageItem(string(user), ms, v)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		type stream struct {
			id   string
			last uint64
		}
		var streams []stream
		_ = tx.Bucket(bChanState).ForEach(func(k, v []byte) error {
			var st chanState
			if json.Unmarshal(v, &st) == nil && st.LastResponse > 0 {
				streams = append(streams, stream{id: string(k), last: st.LastResponse})
			}
			return nil
		})
		sort.Slice(streams, func(i, j int) bool { return streams[i].last > streams[j].last })
		for _, st := range streams[:min(limit, len(streams))] {
			prefix := streamPrefix(st.id)
			c := tx.Bucket(bResponses).Cursor()
			k, _ := c.Seek(streamKey(st.id, st.last+1))
			if k == nil { // past the end of the bucket: Prev does not step back from there
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			for ; hasPrefix(k, prefix); k, _ = c.Prev() {
				it, ok, err := responseItem(tx, st.id, streamNumber(k))
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				if len(out) >= limit && !it.Timestamp.After(out[limit-1].Timestamp) {
					break // this stream has nothing newer than what is kept
				}
				out = append(out, it)
				sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp.After(out[j].Timestamp) })
				out = out[:min(len(out), limit)]
			}
		}
		return nil
	})
	return out, wrap("recent items", err)
}

// UserItems implements storage.Store: a user's messages and the responses of
// their channels, newest first, strictly older than before (zero: newest).
func (s *Store) UserItems(_ context.Context, userID string, before time.Time, limit int) ([]storage.Item, error) {
	end := uint64(1<<63 - 1)
	if !before.IsZero() {
		end = toMillis(before)
	}
	var out []storage.Item
	err := s.view(func(tx *bbolt.Tx) error {
		if tx.Bucket(bUsers).Get([]byte(userID)) == nil {
			return storage.ErrNotFound
		}
		log := tx.Bucket(bMessageLog).Cursor()
		for _, ms := range s.index.before(userID, end, limit) {
			if v := messageAt(log, userID, ms); v != nil {
				it, err := messageItem(userID, ms, v)
				if err != nil {
					return err
				}
				out = append(out, it)
			}
		}
		c := tx.Bucket(bUserChannels).Cursor()
		prefix := streamPrefix(userID)
		for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
			channelID := string(v)
			p := streamPrefix(channelID)
			cur := tx.Bucket(bResponses).Cursor()
			k, _ := cur.Seek(streamKey(channelID, end))
			if k == nil || !hasPrefix(k, p) || streamNumber(k) >= end {
				k, _ = cur.Prev()
			}
			for n := 0; hasPrefix(k, p) && n < limit; k, _ = cur.Prev() {
				if streamNumber(k) >= end {
					continue
				}
				it, ok, err := responseItem(tx, channelID, streamNumber(k))
				if err != nil {
					return err
				}
				if ok {
					out = append(out, it)
					n++
				}
			}
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp.After(out[j].Timestamp) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, wrap("user items", err)
}

// messageItem is the dashboard's view of the message record v.
func messageItem(userID string, ms uint64, v []byte) (storage.Item, error) {
	rec, err := storage.DecodeMessage(v)
	if err != nil {
		return storage.Item{}, err
	}
	return storage.Item{ID: rec.ID, UserID: userID, ChannelType: rec.ChannelType, ChannelID: rec.ChannelID,
		From: rec.From, Content: rec.Content, Timestamp: fromMillis(ms)}, nil
}

func responseItem(tx *bbolt.Tx, channelID string, ms uint64) (storage.Item, bool, error) {
	v := tx.Bucket(bResponses).Get(streamKey(channelID, ms))
	if v == nil {
		return storage.Item{}, false, nil
	}
	var rec storage.StoredResponse
	if err := json.Unmarshal(v, &rec); err != nil {
		return storage.Item{}, false, err
	}
	it := storage.Item{Out: true, ID: rec.ID, UserID: rec.UserID, ChannelType: rec.ChannelType, ChannelID: channelID,
		From: rec.From, Content: rec.Content, Timestamp: fromMillis(ms)}
	var d storage.Delivery
	if err := getJSON(tx.Bucket(bDeliveries), []byte(rec.ID), &d); err == nil {
		it.Delivery = &d
	}
	return it, true, nil
}

// Deliveries implements storage.Store: newest first (response ids are
// UUIDv7, so key order is time order), after the cursor id, optionally of
// one status.
func (s *Store) Deliveries(_ context.Context, status, cursor string, limit int) ([]storage.Delivery, error) {
	var out []storage.Delivery
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bDeliveries).Cursor()
		var k, v []byte
		if cursor == "" {
			k, v = c.Last()
		} else {
			k, v = c.Seek([]byte(cursor))
			if k == nil || string(k) >= cursor {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var d storage.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if status == "" || d.Status == status {
				out = append(out, d)
			}
		}
		return nil
	})
	return out, wrap("deliveries", err)
}

// DeliveryCounts implements storage.Store.
func (s *Store) DeliveryCounts(_ context.Context) (map[string]int, error) {
	counts := map[string]int{storage.StatusPending: 0, storage.StatusSent: 0, storage.StatusFailed: 0, storage.StatusStored: 0}
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bDeliveries).ForEach(func(_, v []byte) error {
			var d struct{ Status string }
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			counts[d.Status]++
			return nil
		})
	})
	return counts, wrap("delivery counts", err)
}

// DeleteUser implements storage.Store.
func (s *Store) DeleteUser(ctx context.Context, userID string) ([]storage.Channel, error) {
	now := s.now().UTC()
	var deleted []storage.Channel
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		deleted = nil
		var rec userRecord
		if err := getJSON(tx.Bucket(bUsers), []byte(userID), &rec); err != nil {
			return err
		}
		if err := tx.Bucket(bAPIKeys).Delete(rec.APIKeyHash); err != nil {
			return err
		}
		if rec.FingerprintHash != nil {
			if err := tx.Bucket(bPubKeys).Delete(rec.FingerprintHash); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bUserKeys).Delete([]byte(userID)); err != nil {
			return err
		}
		if err := tx.Bucket(bUsersByTime).Delete(timeKey(toMillis(rec.CreatedAt), userID)); err != nil {
			return err
		}
		prefix := streamPrefix(userID)
		c := tx.Bucket(bUserChannels).Cursor()
		var ids []string
		for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
			ids = append(ids, string(v))
		}
		for _, id := range ids {
			ch, err := getChannel(tx, s.key, id)
			if err != nil {
				return err
			}
			deleted = append(deleted, ch)
			if err := failPending(tx, id, "session deleted", now); err != nil {
				return err
			}
			if err := releaseChannel(tx, ch); err != nil {
				return err
			}
			if err := deletePrefix(tx.Bucket(bResponses), streamPrefix(id)); err != nil {
				return err
			}
			for _, b := range [][]byte{bChannels, bChanState, bDeleted} {
				if err := tx.Bucket(b).Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		if err := deletePrefix(tx.Bucket(bUserChannels), prefix); err != nil {
			return err
		}
		log := tx.Bucket(bMessageLog)
		for _, stamps := range [][]uint64{s.index.after(userID, 0, math.MaxInt), s.changes.appendedTo(userID)} {
			for _, ms := range stamps {
				if err := log.Delete(timeKey(ms, userID)); err != nil {
					return err
				}
			}
		}
		s.changes.dropped(userID)
		if err := tx.Bucket(bHorizons).Delete([]byte(userID)); err != nil {
			return err
		}
		return tx.Bucket(bUsers).Delete([]byte(userID))
	})
	for _, ch := range deleted {
		s.channels.invalidate(ch.ID)
	}
	return deleted, wrap("delete user", err)
}

// Buckets implements storage.Store.
func (s *Store) Buckets(_ context.Context) ([]storage.BucketCount, error) {
	var out []storage.BucketCount
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			out = append(out, storage.BucketCount{Name: string(name), Count: b.Stats().KeyN})
			return nil
		})
	})
	return out, wrap("buckets", err)
}

// Browse implements storage.Store: path[0] names a bucket; the rest is a key
// prefix, its segments joined with the \x00 separator of composite keys.
func (s *Store) Browse(_ context.Context, path []string, limit int) ([]storage.Entry, error) {
	if len(path) == 0 {
		return nil, storage.ErrNotFound
	}
	var out []storage.Entry
	err := s.view(func(tx *bbolt.Tx) error {
		b0 := []byte(path[0])
		b := tx.Bucket(b0)
		if b == nil {
			return storage.ErrNotFound
		}
		prefix := []byte(strings.Join(path[1:], "\x00"))
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			e := storage.Entry{Key: keySegments(k), Sealed: seal.IsSealed(v)}
			if !e.Sealed {
				e.Value = browseValue(b0, v)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, wrap("browse", err)
}

// browseValue is how the store browser shows a value: a message record as
// its JSON form, JSON as it is, anything else as a hex string.
func browseValue(bucket, v []byte) []byte {
	if bytes.Equal(bucket, bMessageLog) {
		if rec, err := storage.DecodeMessage(v); err == nil {
			if out, err := storage.EncodeJSON(rec); err == nil {
				return out
			}
		}
	}
	if json.Valid(v) {
		return bytes.Clone(v)
	}
	out, _ := json.Marshal(hex.EncodeToString(v))
	return out
}

// keySegments splits a key into the segments of the layouts in keys.go:
// "<id>\x00<name>", "<id>\x00<8-byte number>", "<8-byte number>\x00<id>",
// or a single key. Segments that are not printable text are shown in hex.
func keySegments(k []byte) []string {
	n := len(k)
	switch i := bytes.IndexByte(k, 0); {
	case printable(k):
		return []string{string(k)}
	case i > 0 && printable(k[:i]) && printable(k[i+1:]):
		return []string{string(k[:i]), string(k[i+1:])}
	case n >= 9 && k[n-9] == 0 && printable(k[:n-9]):
		return []string{string(k[:n-9]), hex.EncodeToString(k[n-8:])}
	case n >= 9 && k[8] == 0 && printable(k[9:]):
		return []string{hex.EncodeToString(k[:8]), string(k[9:])}
	}
	return []string{hex.EncodeToString(k)}
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
