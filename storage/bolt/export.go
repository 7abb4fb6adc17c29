package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
)

// Export implements storage.Store: one read transaction is the snapshot.
// The indexes that Import rebuilds (API keys, fingerprints, a user's
// channels, addresses, pending deliveries…) are not exported.
func (s *Store) Export(ctx context.Context, fn func(storage.Record) error) error {
	return wrap("export", s.view(func(tx *bbolt.Tx) error {
		for _, part := range []func(*bbolt.Tx, func(storage.Record) error) error{
			exportMeta, exportUsers, exportChannels, exportSecrets, exportMessages, exportResponses,
			exportDeliveries, exportDedupe, exportAdminSessions, exportHorizons,
		} {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := part(tx, fn); err != nil {
				return err
			}
		}
		return nil
	}))
}

func exportMeta(tx *bbolt.Tx, fn func(storage.Record) error) error {
	meta := tx.Bucket(bMeta)
	if err := meta.ForEach(func(k, v []byte) error {
		if name, ok := strings.CutPrefix(string(k), "secret:"); ok {
			return fn(storage.Record{Secret: &storage.SealedRecord{Name: name, Sealed: v}})
		}
		return nil
	}); err != nil {
		return err
	}
	if floor := getUint64(meta, keySweptThrough); floor > 0 {
		return fn(storage.Record{Clock: &storage.ClockRecord{Floor: fromMillis(floor)}})
	}
	return nil
}

func exportUsers(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
		var rec userRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		return fn(storage.Record{User: &storage.UserRecord{ID: rec.ID, CreatedAt: rec.CreatedAt, APIKeyHash: rec.APIKeyHash,
			FingerprintHash: rec.FingerprintHash, SealedKey: tx.Bucket(bUserKeys).Get(k)}})
	})
}

func exportChannels(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bChannels).ForEach(func(k, v []byte) error {
		var rec channelRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		st, err := getChanState(tx, string(k))
		if err != nil {
			return err
		}
		out := &storage.ChannelRecord{Channel: rec.Channel, Deleted: rec.Deleted, ReplyTarget: st.ReplyTarget}
		if st.LastResponse > 0 {
			out.LastResponse = fromMillis(st.LastResponse)
		}
		return fn(storage.Record{Channel: out})
	})
}

func exportSecrets(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bSecrets).ForEach(func(k, v []byte) error {
		channelID, name, _ := bytes.Cut(k, []byte{0})
		return fn(storage.Record{ChannelSecret: &storage.SealedRecord{Owner: string(channelID), Name: string(name), Sealed: v}})
	})
}

func exportMessages(tx *bbolt.Tx, fn func(storage.Record) error) error {
	expires := map[string]uint64{} // only messages with a retention of their own
	if err := tx.Bucket(bExpiry).ForEach(func(k, _ []byte) error {
		expires[string(k[9:])] = binary.BigEndian.Uint64(k)
		return nil
	}); err != nil {
		return err
	}
	return tx.Bucket(bMessageLog).ForEach(func(k, v []byte) error {
		rec, err := storage.DecodeMessage(v)
		if err != nil {
			return err
		}
		ms, user := splitTimeKey(k)
		m := &storage.MessageRecord{ID: rec.ID, UserID: string(user), ChannelType: rec.ChannelType, ChannelID: rec.ChannelID,
			From: rec.From, Content: rec.Content, Timestamp: fromMillis(ms), Metadata: rec.Metadata}
		if exp, ok := expires[string(k)]; ok {
			m.ExpiresAt = fromMillis(exp)
		}
		return fn(storage.Record{Message: m})
	})
}

func exportResponses(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bResponses).ForEach(func(k, v []byte) error {
		var rec storage.StoredResponse
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		return fn(storage.Record{Response: &storage.ResponseRecord{ID: rec.ID, UserID: rec.UserID, ChannelType: rec.ChannelType,
			ChannelID: string(k[:len(k)-9]), From: rec.From, Content: rec.Content, Timestamp: fromMillis(streamNumber(k)),
			Metadata: rec.Metadata}})
	})
}

func exportDeliveries(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bDeliveries).ForEach(func(_, v []byte) error {
		var d storage.Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		return fn(storage.Record{Delivery: &d})
	})
}

func exportDedupe(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bDedupe).ForEach(func(k, v []byte) error {
		channelID, key, _ := bytes.Cut(k, []byte{0})
		if len(v) != 8 {
			return fmt.Errorf("dedupe %q: value of %d bytes", k, len(v))
		}
		return fn(storage.Record{Dedupe: &storage.DedupeRecord{ChannelID: string(channelID), Key: string(key),
			Seen: fromMillis(binary.BigEndian.Uint64(v))}})
	})
}

func exportAdminSessions(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bAdmin).ForEach(func(k, v []byte) error {
		return fn(storage.Record{AdminSession: &storage.SealedRecord{Name: hex.EncodeToString(k), Sealed: v}})
	})
}

func exportHorizons(tx *bbolt.Tx, fn func(storage.Record) error) error {
	return tx.Bucket(bHorizons).ForEach(func(k, v []byte) error {
		return fn(storage.Record{Horizon: &storage.HorizonRecord{UserID: string(k), Horizon: fromMillis(binary.BigEndian.Uint64(v))}})
	})
}

// importBatch is how many records one import transaction holds.
const importBatch = 1000

// Import implements storage.Store. It checks that the store is empty, then
// writes the records in transactions of importBatch, rebuilding the indexes
// that Export leaves out, and finally reloads what the store keeps in memory.
func (s *Store) Import(ctx context.Context, records iter.Seq2[storage.Record, error]) error {
	if err := s.view(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bUsers, bChannels, bMessageLog, bResponses, bDeliveries, bAdmin} {
			if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
				return storage.ErrNotEmpty
			}
		}
		return nil
	}); err != nil {
		return wrap("import", err)
	}
	batch := make([]storage.Record, 0, importBatch)
	flush := func() error {
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			for _, rec := range batch {
				if err := s.importRecord(tx, rec); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	for rec, err := range records {
		if err != nil {
			return wrap("import", err)
		}
		if batch = append(batch, rec); len(batch) == importBatch {
			if err := flush(); err != nil {
				return wrap("import", err)
			}
		}
	}
	if err := flush(); err != nil {
		return wrap("import", err)
	}
	return wrap("import", s.reload())
}

// reload rebuilds what the store keeps in memory from the file.
func (s *Store) reload() error {
	return s.update(context.Background(), func(tx *bbolt.Tx) (err error) {
		uc := tx.Bucket(bUserChannels)
		var seq uint64
		if err := tx.Bucket(bChannels).ForEach(func(_, v []byte) error {
			var rec channelRecord
			err := json.Unmarshal(v, &rec)
			seq = max(seq, rec.Seq)
			return err
		}); err != nil {
			return err
		}
		if seq > uc.Sequence() {
			if err := uc.SetSequence(seq); err != nil {
				return err
			}
		}
		if s.indexKey, err = loadIndexKey(tx.Bucket(bMeta), s.key); err != nil {
			return err
		}
		index := loadIndex(tx)
		s.index.mu.Lock()
		s.index.users, s.index.floor, s.index.horizons = index.users, index.floor, index.horizons
		s.index.mu.Unlock()
		s.channels.invalidate()
		return nil
	})
}

// sealedFor checks an imported sealed value's root key.
func (s *Store) sealedFor(what string, v []byte) ([]byte, error) {
	return v, storage.CheckSealedBy(s.key, what, v)
}

// importRecord writes one record and its indexes.
func (s *Store) importRecord(tx *bbolt.Tx, rec storage.Record) error {
	switch {
	case rec.Secret != nil:
		v, err := s.sealedFor("secret "+rec.Secret.Name, rec.Secret.Sealed)
		if err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("secret:"+rec.Secret.Name), v)
	case rec.Clock != nil:
		meta := tx.Bucket(bMeta)
		return meta.Put(keySweptThrough, putUint64(max(toMillis(rec.Clock.Floor), getUint64(meta, keySweptThrough))))
	case rec.User != nil:
		return s.importUser(tx, rec.User)
	case rec.Channel != nil:
		return importChannel(tx, rec.Channel)
	case rec.ChannelSecret != nil:
		v, err := s.sealedFor("channel secret "+rec.ChannelSecret.Name, rec.ChannelSecret.Sealed)
		if err != nil {
			return err
		}
		return tx.Bucket(bSecrets).Put(secretKey(rec.ChannelSecret.Owner, rec.ChannelSecret.Name), v)
	case rec.Message != nil:
		m := rec.Message
		key := timeKey(toMillis(m.Timestamp), m.UserID)
		err := streamBucket(tx, bMessageLog).Put(key, storage.EncodeMessage(storage.StoredMessage{ID: m.ID, ChannelType: m.ChannelType,
			ChannelID: m.ChannelID, From: m.From, Content: m.Content, Metadata: m.Metadata}))
		if err != nil || m.ExpiresAt.IsZero() {
			return err
		}
		if err := tx.Bucket(bExpiry).Put(expiryKey(toMillis(m.ExpiresAt), key), nil); err != nil {
			return err
		}
		return tx.Bucket(bKeep).Put(key, nil)
	case rec.Response != nil:
		r := rec.Response
		return putRecord(streamBucket(tx, bResponses), streamKey(r.ChannelID, toMillis(r.Timestamp)),
			storage.StoredResponse{ID: r.ID, UserID: r.UserID, ChannelType: r.ChannelType, From: r.From, Content: r.Content, Metadata: r.Metadata})
	case rec.Delivery != nil:
		d := rec.Delivery
		if d.Status == storage.StatusPending {
			if err := tx.Bucket(bPending).Put(streamKey(d.ChannelID, toMillis(d.CreatedAt)), []byte(d.ResponseID)); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bDeliveries), []byte(d.ResponseID), d)
	case rec.Dedupe != nil:
		return tx.Bucket(bDedupe).Put(append(streamPrefix(rec.Dedupe.ChannelID), rec.Dedupe.Key...), putUint64(toMillis(rec.Dedupe.Seen)))
	case rec.AdminSession != nil:
		hash, err := hex.DecodeString(rec.AdminSession.Name)
		if err != nil {
			return fmt.Errorf("admin session %q: %w", rec.AdminSession.Name, err)
		}
		v, err := s.sealedFor("admin session", rec.AdminSession.Sealed)
		if err != nil {
			return err
		}
		return tx.Bucket(bAdmin).Put(hash, v)
	case rec.Horizon != nil:
		return tx.Bucket(bHorizons).Put([]byte(rec.Horizon.UserID), putUint64(toMillis(rec.Horizon.Horizon)))
	case rec.Meta != nil:
		return nil // nothing this version knows
	}
	return errors.New("a record of no known kind")
}

func (s *Store) importUser(tx *bbolt.Tx, u *storage.UserRecord) error {
	id := []byte(u.ID)
	rec := userRecord{User: storage.User{ID: u.ID, CreatedAt: u.CreatedAt}, APIKeyHash: u.APIKeyHash, FingerprintHash: u.FingerprintHash}
	if err := putJSON(tx.Bucket(bUsers), id, rec); err != nil {
		return err
	}
	if err := tx.Bucket(bUsersByTime).Put(timeKey(toMillis(u.CreatedAt), u.ID), nil); err != nil {
		return err
	}
	if err := tx.Bucket(bAPIKeys).Put(u.APIKeyHash, id); err != nil {
		return err
	}
	if u.FingerprintHash != nil {
		if err := tx.Bucket(bPubKeys).Put(u.FingerprintHash, id); err != nil {
			return err
		}
	}
	if u.SealedKey != nil {
		v, err := s.sealedFor("public key of "+u.ID, u.SealedKey)
		if err != nil {
			return err
		}
		return tx.Bucket(bUserKeys).Put(id, v)
	}
	return nil
}

func importChannel(tx *bbolt.Tx, c *storage.ChannelRecord) error {
	ch, id := c.Channel, []byte(c.Channel.ID)
	if err := putJSON(tx.Bucket(bChannels), id, channelRecord{Channel: ch, Deleted: c.Deleted}); err != nil {
		return err
	}
	st := chanState{ReplyTarget: c.ReplyTarget}
	if !c.LastResponse.IsZero() {
		st.LastResponse = toMillis(c.LastResponse)
	}
	if err := putJSON(tx.Bucket(bChanState), id, st); err != nil {
		return err
	}
	if c.Deleted {
		return tx.Bucket(bDeleted).Put(id, nil)
	}
	if ch.Address != "" {
		if err := tx.Bucket(bAddresses).Put([]byte(ch.Address), id); err != nil {
			return err
		}
	}
	return tx.Bucket(bUserChannels).Put(streamKey(ch.UserID, ch.Seq), id)
}
