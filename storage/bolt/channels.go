package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// channelRecord is a channel, or the tombstone of a deleted one whose
// responses are still being purged (its id stays taken until then).
type channelRecord struct {
	storage.Channel
	Deleted bool `json:"deleted,omitempty"`
}

// chanState is the per-channel state that is not configuration.
type chanState struct {
	LastResponse uint64 `json:"lastResponse,omitempty"` // ms of the newest response
	ReplyTarget  string `json:"replyTarget,omitempty"`
}

// CreateChannel implements storage.Store.
func (s *Store) CreateChannel(ctx context.Context, c *storage.Channel, secrets map[string][]byte) error {
	sealed := make(map[string][]byte, len(secrets))
	for name, v := range secrets {
		k := secretKey(c.ID, name)
		sv, err := seal.Seal(s.key, sealAAD(bSecrets, k), v)
		if err != nil {
			return wrap("seal channel secret", err)
		}
		sealed[string(k)] = sv
	}
	rec := channelRecord{Channel: *c}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		chans := tx.Bucket(bChannels)
		if chans.Get([]byte(c.ID)) != nil {
			return storage.ErrConflict
		}
		if c.Address != "" {
			if tx.Bucket(bAddresses).Get([]byte(c.Address)) != nil {
				return storage.ErrAddressTaken
			}
			if err := tx.Bucket(bAddresses).Put([]byte(c.Address), []byte(c.ID)); err != nil {
				return err
			}
		}
		uc := tx.Bucket(bUserChannels)
		seq, err := uc.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq = seq
		if err := putChannel(tx, s.key, rec.Channel, false); err != nil {
			return err
		}
		if err := uc.Put(streamKey(c.UserID, seq), []byte(c.ID)); err != nil {
			return err
		}
		for k, v := range sealed {
			if err := tx.Bucket(bSecrets).Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		c.Seq = rec.Seq
	}
	s.channels.invalidate(c.ID)
	return wrap("create channel", err)
}

// CurrentChannel implements storage.Store: with one instance, Channel is
// always current.
func (s *Store) CurrentChannel(ctx context.Context, id string) (storage.Channel, error) {
	return s.Channel(ctx, id)
}

// Channel implements storage.Store. The record comes from the channel cache
// when it can, as a copy.
func (s *Store) Channel(_ context.Context, id string) (storage.Channel, error) {
	if c, ok := s.channels.get(id); ok {
		return c, nil
	}
	gen := s.channels.gen.Load()
	var c storage.Channel
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		c, err = getChannel(tx, s.key, id)
		return err
	})
	if err != nil {
		return c, wrap("channel", err)
	}
	s.channels.fill(gen, c)
	return c, nil
}

// Channels implements storage.Store.
func (s *Store) Channels(_ context.Context, userID string) ([]storage.Channel, error) {
	out := []storage.Channel{}
	err := s.view(func(tx *bbolt.Tx) error {
		prefix := streamPrefix(userID)
		c := tx.Bucket(bUserChannels).Cursor()
		for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
			ch, err := getChannel(tx, s.key, string(v))
			if err != nil {
				return err
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, wrap("channels", err)
}

// ChannelsOfType implements storage.Store.
func (s *Store) ChannelsOfType(_ context.Context, typ string) ([]storage.Channel, error) {
	var out []storage.Channel
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bChannels).ForEach(func(_, v []byte) error {
			var rec channelRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if rec.Deleted || rec.Type != typ {
				return nil
			}
			ch, err := openChannel(tx, s.key, rec.Channel)
			out = append(out, ch)
			return err
		})
	})
	return out, wrap("channels of type", err)
}

// UpdateChannel implements storage.Store.
func (s *Store) UpdateChannel(ctx context.Context, id string, fn func(*storage.Channel) error) (storage.Channel, error) {
	var out storage.Channel
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		ch, err := getChannel(tx, s.key, id)
		if err != nil {
			return err
		}
		if err := fn(&ch); err != nil {
			return err
		}
		ch.ID = id // identity is not fn's to change
		out = ch
		return putChannel(tx, s.key, ch, false)
	})
	s.channels.invalidate(id)
	return out, wrap("update channel", err)
}

// DeleteChannel implements storage.Store.
func (s *Store) DeleteChannel(ctx context.Context, userID, id string) error {
	now := s.now()
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		ch, err := getChannel(tx, s.key, id)
		if err != nil {
			return err
		}
		if ch.UserID != userID {
			return storage.ErrNotFound
		}
		if err := putChannel(tx, s.key, ch, true); err != nil {
			return err
		}
		if err := tx.Bucket(bDeleted).Put([]byte(id), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bUserChannels).Delete(streamKey(ch.UserID, ch.Seq)); err != nil {
			return err
		}
		if err := releaseChannel(tx, ch); err != nil {
			return err
		}
		if err := failPending(tx, id, "channel deleted", now); err != nil {
			return err
		}
		// The reply target goes now; the last response timestamp stays with the
		// state record until the responses are purged.
		st, err := getChanState(tx, id)
		if err != nil {
			return err
		}
		st.ReplyTarget = ""
		return putJSON(tx.Bucket(bChanState), []byte(id), st)
	})
	s.channels.invalidate(id)
	return wrap("delete channel", err)
}

// ReplyTarget implements storage.Store.
func (s *Store) ReplyTarget(_ context.Context, channelID string) (string, error) {
	var target string
	err := s.view(func(tx *bbolt.Tx) error {
		if _, err := getChannel(tx, s.key, channelID); err != nil {
			return err
		}
		st, err := getChanState(tx, channelID)
		target = st.ReplyTarget
		return err
	})
	return target, wrap("reply target", err)
}

// releaseChannel removes what a deleted channel holds besides its record and
// streams: secrets, its address, and the senders it accepted mail from.
func releaseChannel(tx *bbolt.Tx, ch storage.Channel) error {
	if err := deletePrefix(tx.Bucket(bSecrets), streamPrefix(ch.ID)); err != nil {
		return err
	}
	if err := deletePrefix(tx.Bucket(bDedupe), streamPrefix(ch.ID)); err != nil {
		return err
	}
	if ch.Address != "" {
		return tx.Bucket(bAddresses).Delete([]byte(ch.Address))
	}
	return nil
}

// ChannelByAddress implements storage.Store.
func (s *Store) ChannelByAddress(_ context.Context, addr string) (storage.Channel, error) {
	var ch storage.Channel
	err := s.view(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bAddresses).Get([]byte(addr))
		if id == nil {
			return storage.ErrNotFound
		}
		var err error
		ch, err = getChannel(tx, s.key, string(id))
		return err
	})
	return ch, wrap("channel by address", err)
}

// ConsumeChannelSecret implements storage.Store.
func (s *Store) ConsumeChannelSecret(ctx context.Context, channelID, name string, match func([]byte) bool, fn func(*storage.Channel) error) (storage.Channel, error) {
	var out storage.Channel
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		ch, err := getChannel(tx, s.key, channelID)
		if err != nil {
			return err
		}
		k := secretKey(channelID, name)
		v := tx.Bucket(bSecrets).Get(k)
		if v == nil {
			return storage.ErrSecretMismatch
		}
		plain, err := seal.Open(s.key, sealAAD(bSecrets, k), v)
		if err != nil {
			return err
		}
		if !match(plain) {
			return storage.ErrSecretMismatch
		}
		if err := tx.Bucket(bSecrets).Delete(k); err != nil {
			return err
		}
		if err := fn(&ch); err != nil {
			return err
		}
		ch.ID = channelID
		out = ch
		return putChannel(tx, s.key, ch, false)
	})
	s.channels.invalidate(channelID)
	return out, wrap("consume channel secret", err)
}

// acceptedKey is the dedupe-bucket key recording a sender an email channel
// accepted; the retention sweep expires it like other dedupe keys.
func acceptedKey(channelID, addr string) []byte {
	return append(streamPrefix(channelID), "sender:"+addr...)
}

// ChannelSecret implements storage.Store.
func (s *Store) ChannelSecret(_ context.Context, channelID, name string) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bbolt.Tx) error {
		k := secretKey(channelID, name)
		v := tx.Bucket(bSecrets).Get(k)
		if v == nil {
			return storage.ErrNotFound
		}
		var err error
		out, err = seal.Open(s.key, sealAAD(bSecrets, k), v)
		return err
	})
	return out, wrap("channel secret", err)
}

// channelSecretNames lists the names of a channel's sealed secrets.
func channelSecretNames(tx *bbolt.Tx, channelID string) []string {
	var names []string
	prefix := streamPrefix(channelID)
	c := tx.Bucket(bSecrets).Cursor()
	for k, _ := c.Seek(prefix); hasPrefix(k, prefix); k, _ = c.Next() {
		names = append(names, string(k[len(prefix):]))
	}
	return names
}

func getChanState(tx *bbolt.Tx, id string) (chanState, error) {
	var st chanState
	if err := getJSON(tx.Bucket(bChanState), []byte(id), &st); err != nil && !isNotFound(err) {
		return st, err
	}
	return st, nil
}

// deletePrefix deletes every key of b that starts with prefix.
func deletePrefix(b *bbolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); hasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, slices.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// PurgeDeleted implements storage.Store.
func (s *Store) PurgeDeleted(ctx context.Context, batch int) (int, error) {
	var ids []string
	if err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bDeleted).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
	}); err != nil {
		return 0, wrap("purge deleted", err)
	}
	total := 0
	for _, id := range ids {
		for {
			n, done := 0, false
			err := s.update(ctx, func(tx *bbolt.Tx) error {
				n, done = 0, false
				var err error
				n, err = deleteResponses(tx, id, math.MaxUint64, batch)
				if err != nil || n == batch {
					return err
				}
				done = true
				if err := tx.Bucket(bChanState).Delete([]byte(id)); err != nil {
					return err
				}
				if err := tx.Bucket(bDeleted).Delete([]byte(id)); err != nil {
					return err
				}
				return tx.Bucket(bChannels).Delete([]byte(id))
			})
			if err != nil {
				return total, wrap("purge deleted", err)
			}
			total += n
			if done {
				break
			}
		}
	}
	return total, nil
}

// putUint64 is a tiny helper for big-endian counters.
func putUint64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
