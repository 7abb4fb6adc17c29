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
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		created = false
		if u.PublicKey != nil {
			if id := tx.Bucket(bPubKeys).Get([]byte(u.PublicKey.Fingerprint())); id != nil {
				return getJSON(tx.Bucket(bUsers), id, &out)
			}
		}
		if tx.Bucket(bUsers).Get([]byte(u.ID)) != nil {
			return storage.ErrConflict
		}
		if err := putJSON(tx.Bucket(bUsers), []byte(u.ID), userRecord{User: u, APIKeyHash: apiKeyHash}); err != nil {
			return err
		}
		if err := tx.Bucket(bUsersByTime).Put(timeKey(toMillis(u.CreatedAt), u.ID), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bAPIKeys).Put(apiKeyHash, []byte(u.ID)); err != nil {
			return err
		}
		if u.PublicKey != nil {
			if err := tx.Bucket(bPubKeys).Put([]byte(u.PublicKey.Fingerprint()), []byte(u.ID)); err != nil {
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
		return getJSON(tx.Bucket(bUsers), id, &u)
	})
	return u, wrap("user by api key", err)
}

// User implements storage.Store.
func (s *Store) User(_ context.Context, id string) (storage.User, error) {
	var u storage.User
	err := s.view(func(tx *bbolt.Tx) error { return getJSON(tx.Bucket(bUsers), []byte(id), &u) })
	return u, wrap("user", err)
}

// userRecord is a user with what its deletion needs to find.
type userRecord struct {
	storage.User
	APIKeyHash []byte `json:"apiKeyHash"`
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
