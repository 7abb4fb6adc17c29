package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// Secret implements storage.Store.
func (s *Store) Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	key := []byte("secret:" + name)
	var out []byte
	err := s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bMeta).Get(key)
		if v == nil {
			return storage.ErrNotFound
		}
		var err error
		out, err = seal.Open(s.key, sealAAD(bMeta, key), v)
		return err
	})
	if err == nil || !isNotFound(err) {
		return out, wrap("secret "+name, err)
	}
	fresh, err := create()
	if err != nil {
		return nil, fmt.Errorf("bolt: create secret %s: %w", name, err)
	}
	sealed, err := seal.Seal(s.key, sealAAD(bMeta, key), fresh)
	if err != nil {
		return nil, fmt.Errorf("bolt: seal secret %s: %w", name, err)
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bMeta)
		if v := b.Get(key); v != nil { // created concurrently: keep the first
			var err error
			out, err = seal.Open(s.key, sealAAD(bMeta, key), v)
			return err
		}
		out = fresh
		return b.Put(key, sealed)
	})
	return out, wrap("secret "+name, err)
}

// RegisterUser implements storage.Store.
func (s *Store) RegisterUser(ctx context.Context, u storage.User, apiKeyHash []byte) (storage.User, bool, error) {
	var (
		out     storage.User
		created bool
	)
	rec := userRecord{User: u, APIKeyHash: apiKeyHash}
	rec.PublicKey = nil // sealed apart, never in the record
	var sealedKey []byte
	if u.PublicKey != nil {
		rec.FingerprintHash = storage.FingerprintHash(s.indexKey, *u.PublicKey)
		var err error
		if sealedKey, err = storage.SealPublicKey(s.key, u.ID, *u.PublicKey); err != nil {
			return out, false, wrap("seal public key", err)
		}
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		created = false
		if rec.FingerprintHash != nil {
			if id := tx.Bucket(bPubKeys).Get(rec.FingerprintHash); id != nil {
				var err error
				out, err = s.getUser(tx, id)
				return err
			}
		}
		if tx.Bucket(bUsers).Get([]byte(u.ID)) != nil {
			return storage.ErrConflict
		}
		if err := putJSON(tx.Bucket(bUsers), []byte(u.ID), rec); err != nil {
			return err
		}
		if err := tx.Bucket(bUsersByTime).Put(timeKey(toMillis(u.CreatedAt), u.ID), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bAPIKeys).Put(apiKeyHash, []byte(u.ID)); err != nil {
			return err
		}
		if sealedKey != nil {
			if err := tx.Bucket(bUserKeys).Put([]byte(u.ID), sealedKey); err != nil {
				return err
			}
			if err := tx.Bucket(bPubKeys).Put(rec.FingerprintHash, []byte(u.ID)); err != nil {
				return err
			}
		}
		out, created = u, true
		return nil
	})
	return out, created, wrap("register user", err)
}

// UserByAPIKeyHash implements storage.Store.
func (s *Store) UserByAPIKeyHash(_ context.Context, hash []byte) (storage.User, error) {
	var u storage.User
	err := s.view(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bAPIKeys).Get(hash)
		if id == nil {
			return storage.ErrNotFound
		}
		var err error
		u, err = s.getUser(tx, id)
		return err
	})
	return u, wrap("user by api key", err)
}

// User implements storage.Store.
func (s *Store) User(_ context.Context, id string) (storage.User, error) {
	var u storage.User
	err := s.view(func(tx *bbolt.Tx) (err error) { u, err = s.getUser(tx, []byte(id)); return err })
	return u, wrap("user", err)
}

// userRecord is a user with what its deletion needs to find. Its public key
// is not in it: it is sealed in the user_keys bucket, and the reclaim index
// holds only FingerprintHash.
type userRecord struct {
	storage.User
	APIKeyHash      []byte `json:"apiKeyHash"`
	FingerprintHash []byte `json:"fingerprintHash,omitempty"`
}

// getUser reads a user with its public key opened.
func (s *Store) getUser(tx *bbolt.Tx, id []byte) (storage.User, error) {
	var rec userRecord
	if err := getJSON(tx.Bucket(bUsers), id, &rec); err != nil {
		return storage.User{}, err
	}
	if v := tx.Bucket(bUserKeys).Get(id); v != nil {
		var err error
		if rec.PublicKey, err = storage.OpenPublicKey(s.key, string(id), v); err != nil {
			return storage.User{}, err
		}
	}
	return rec.User, nil
}

// getJSON decodes b[key] into v; storage.ErrNotFound when absent.
func getJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return storage.ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}
