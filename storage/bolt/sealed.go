package bolt

import (
	"encoding/json"
	"maps"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// putChannel writes a channel record with its secret metadata members sealed
// apart, as channel secrets, replacing those it had; the record keeps null in
// their place. A tombstone keeps none: its secrets go with the channel.
func putChannel(tx *bbolt.Tx, key *seal.RootKey, ch storage.Channel, deleted bool) error {
	public, sealed, err := storage.SealMembers(key, ch.ID, ch.Metadata)
	if err != nil {
		return err
	}
	if err := deletePrefix(tx.Bucket(bSecrets), secretKey(ch.ID, storage.MemberSecretPrefix)); err != nil {
		return err
	}
	if !deleted {
		for _, name := range slices.Sorted(maps.Keys(sealed)) {
			if err := tx.Bucket(bSecrets).Put(secretKey(ch.ID, name), sealed[name]); err != nil {
				return err
			}
		}
	}
	ch.Metadata = public
	return putJSON(tx.Bucket(bChannels), []byte(ch.ID), channelRecord{Channel: ch, Deleted: deleted})
}

// getChannel reads a live channel with its secret metadata members opened;
// tombstones are not found.
func getChannel(tx *bbolt.Tx, key *seal.RootKey, id string) (storage.Channel, error) {
	var rec channelRecord
	if err := getJSON(tx.Bucket(bChannels), []byte(id), &rec); err != nil {
		return storage.Channel{}, err
	}
	if rec.Deleted {
		return storage.Channel{}, storage.ErrNotFound
	}
	return openChannel(tx, key, rec.Channel)
}

// openChannel puts a channel's sealed metadata members back into it.
func openChannel(tx *bbolt.Tx, key *seal.RootKey, ch storage.Channel) (storage.Channel, error) {
	prefix := secretKey(ch.ID, storage.MemberSecretPrefix)
	var sealed map[string][]byte
	c := tx.Bucket(bSecrets).Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		if sealed == nil {
			sealed = map[string][]byte{}
		}
		sealed[string(k[len(streamPrefix(ch.ID)):])] = v
	}
	var err error
	ch.Metadata, err = storage.OpenMembers(key, ch.ID, ch.Metadata, sealed)
	return ch, err
}

// sealAtRest converts a version 2 store: users' public keys move into
// user_keys, sealed, and are indexed by a keyed hash; channels' secret
// metadata members are sealed apart.
func sealAtRest(tx *bbolt.Tx, key *seal.RootKey, indexKey []byte) error {
	var users []userRecord
	err := tx.Bucket(bUsers).ForEach(func(_, v []byte) error {
		var rec userRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		if rec.PublicKey != nil {
			users = append(users, rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, rec := range users {
		sealed, err := storage.SealPublicKey(key, rec.ID, *rec.PublicKey)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bUserKeys).Put([]byte(rec.ID), sealed); err != nil {
			return err
		}
		if err := tx.Bucket(bPubKeys).Delete([]byte(rec.PublicKey.Fingerprint())); err != nil {
			return err
		}
		rec.FingerprintHash = storage.FingerprintHash(indexKey, *rec.PublicKey)
		if err := tx.Bucket(bPubKeys).Put(rec.FingerprintHash, []byte(rec.ID)); err != nil {
			return err
		}
		rec.PublicKey = nil
		if err := putJSON(tx.Bucket(bUsers), []byte(rec.ID), rec); err != nil {
			return err
		}
	}
	var chans []channelRecord
	err = tx.Bucket(bChannels).ForEach(func(_, v []byte) error {
		var rec channelRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		chans = append(chans, rec)
		return nil
	})
	if err != nil {
		return err
	}
	for _, rec := range chans {
		if err := putChannel(tx, key, rec.Channel, rec.Deleted); err != nil {
			return err
		}
	}
	return nil
}
