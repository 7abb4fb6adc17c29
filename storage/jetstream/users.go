package jetstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// update runs build until the write it returns commits. build reads the
// view and returns the write, or nil when there is nothing to write; after a
// conflict the view is brought up to date and build runs again. So build
// must derive everything from the view and have no other effect. A build
// that returns errMore with its write runs again after the write.
func (s *Store) update(ctx context.Context, build func() (*write, error)) error {
	deadline := time.Now().Add(s.opts.WriteTimeout)
	for {
		// A build reads records and then the sequences its write expects:
		// a record applied in between would have the write expect its new
		// sequence with what was derived from the old one. So a build runs
		// again unless it read one state of the view.
		gen := s.view.generation()
		w, err := build()
		if s.view.generation() != gen {
			if time.Now().After(deadline) {
				return unavailable("the records kept changing", nil)
			}
			continue
		}
		more := errors.Is(err, errMore)
		if more {
			err = nil
		}
		if err != nil || w == nil {
			return err
		}
		err = s.commit(ctx, w)
		if err == nil && more {
			continue
		}
		if !isConflict(err) {
			return err
		}
		if time.Now().After(deadline) {
			return unavailable("writes kept conflicting", err)
		}
		if err := s.settle(ctx, deadline, func() error { return s.resolve(ctx, w) }); err != nil {
			return err
		}
	}
}

// find returns get's answer from the view, or, when the view does not have
// the record, after reading subject from the stream: another instance may
// have written it a moment ago.
func find[T any](ctx context.Context, s *Store, subject string, get func() (T, bool)) (T, error) {
	if v, ok := get(); ok {
		return v, nil
	}
	if err := s.reload(ctx, subject); err != nil {
		var zero T
		return zero, err
	}
	if v, ok := get(); ok {
		return v, nil
	}
	var zero T
	return zero, storage.ErrNotFound
}

// Secret implements storage.Store.
func (s *Store) Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out, err := s.secret(ctx, name, create)
	return out, wrap("secret "+name, err)
}

// secret is Secret, within a call.
func (s *Store) secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	metaName := "secret:" + name
	subject := s.subj.rec(kindMeta, token(metaName))
	aad := storage.StoreSecretAAD(name)
	get := func() ([]byte, bool) { v := s.view.metaValue(metaName); return v, v != nil }
	if v, err := find(ctx, s, subject, get); err == nil {
		return seal.Open(s.key, aad, v)
	} else if !isNotFound(err) {
		return nil, err
	}
	fresh, err := create()
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	sealed, err := seal.Seal(s.key, aad, fresh)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := fresh
	err = s.update(ctx, func() (*write, error) {
		if v, ok := get(); ok { // created concurrently: keep the first
			var err error
			out, err = seal.Open(s.key, aad, v)
			return nil, err
		}
		w := s.newWrite()
		w.put(subject, s.view.seqOf(recKey(kindMeta, token(metaName))), sealed)
		return w, nil
	})
	return out, err
}

// indexKeyName is the store secret the reclaim index is keyed with
// (storage.FingerprintHash), named as storage/bolt names it.
const indexKeyName = "index_key"

// indexKeyCache keeps the index key opened, for as long as the store
// secret holds the value it was opened from (an import replaces it).
type indexKeyCache struct {
	mu          sync.Mutex
	sealed, key []byte
}

// fingerprintHash is the reclaim index key of pk, under the store's index
// key (created on first use).
func (s *Store) fingerprintHash(ctx context.Context, pk storage.PublicKey) ([]byte, error) {
	c := &s.indexKey
	sealed := s.view.metaValue("secret:" + indexKeyName)
	c.mu.Lock()
	key := c.key
	if sealed == nil || !bytes.Equal(sealed, c.sealed) {
		key = nil
	}
	c.mu.Unlock()
	if key == nil {
		var err error
		key, err = s.secret(ctx, indexKeyName, func() ([]byte, error) {
			k := make([]byte, 32)
			_, err := rand.Read(k)
			return k, err
		})
		if err != nil {
			return nil, fmt.Errorf("index key: %w", err)
		}
		c.mu.Lock()
		c.sealed, c.key = s.view.metaValue("secret:"+indexKeyName), key
		c.mu.Unlock()
	}
	return storage.FingerprintHash(key, pk), nil
}

// RegisterUser implements storage.Store. The public key is sealed in its
// own record, and the reclaim index holds its fingerprint's keyed hash.
func (s *Store) RegisterUser(ctx context.Context, u storage.User, apiKeyHash []byte) (storage.User, bool, error) {
	if err := s.enter(); err != nil {
		return storage.User{}, false, err
	}
	defer s.leave()
	rec := userRecord{User: u, APIKeyHash: apiKeyHash}
	rec.PublicKey = nil // sealed apart, never in the record
	var sealedKey []byte
	if u.PublicKey != nil {
		var err error
		if rec.FingerprintHash, err = s.fingerprintHash(ctx, *u.PublicKey); err != nil {
			return storage.User{}, false, wrap("register user", err)
		}
		if sealedKey, err = storage.SealPublicKey(s.key, u.ID, *u.PublicKey); err != nil {
			return storage.User{}, false, wrap("seal public key", err)
		}
	}
	raw, err := storage.EncodeJSON(rec)
	if err != nil {
		return storage.User{}, false, wrap("register user", err)
	}
	keyRef, _ := json.Marshal(userRef{UserID: u.ID})
	var (
		out     storage.User
		created bool
		owner   string // the user the public key belongs to already
	)
	fp := hashToken(rec.FingerprintHash)
	err = s.update(ctx, func() (*write, error) {
		if rec.FingerprintHash != nil {
			if owner = s.view.pubKeyOwner(fp); owner != "" {
				return nil, nil // reclaim
			}
		}
		if _, ok := s.view.user(u.ID); ok {
			return nil, storage.ErrConflict
		}
		w := s.newWrite()
		if sealedKey != nil { // before the user, so that a reader finds the user with it
			w.put(s.subj.rec(kindUserKey, u.ID), s.view.seqOf(recKey(kindUserKey, u.ID)), sealedKey)
			w.put(s.subj.rec(kindPubKey, fp), s.view.seqOf(recKey(kindPubKey, fp)), keyRef)
		}
		w.put(s.subj.rec(kindUser, u.ID), s.view.seqOf(recKey(kindUser, u.ID)), raw)
		hk := hashToken(apiKeyHash)
		w.put(s.subj.rec(kindAPIKey, hk), s.view.seqOf(recKey(kindAPIKey, hk)), keyRef)
		return w, nil
	})
	switch {
	case err != nil:
		return storage.User{}, false, wrap("register user", err)
	case owner != "":
		out, err = s.userByID(ctx, owner)
	default:
		out, created = u, true
	}
	return out, created, wrap("register user", err)
}

// UserByAPIKeyHash implements storage.Store.
func (s *Store) UserByAPIKeyHash(ctx context.Context, hash []byte) (storage.User, error) {
	if err := s.enter(); err != nil {
		return storage.User{}, err
	}
	defer s.leave()
	hk := hashToken(hash)
	id, err := find(ctx, s, s.subj.rec(kindAPIKey, hk), func() (string, bool) { return s.view.apiKeyOwner(hk) })
	if err != nil {
		return storage.User{}, wrap("user by api key", err)
	}
	u, err := s.userByID(ctx, id)
	return u, wrap("user by api key", err)
}

// User implements storage.Store.
func (s *Store) User(ctx context.Context, id string) (storage.User, error) {
	if err := s.enter(); err != nil {
		return storage.User{}, err
	}
	defer s.leave()
	u, err := s.userByID(ctx, id)
	return u, wrap("user", err)
}

// userByID returns a user with its public key, reading from the stream what
// the view does not have yet.
func (s *Store) userByID(ctx context.Context, id string) (storage.User, error) {
	rec, err := find(ctx, s, s.subj.rec(kindUser, id), func() (userRecord, bool) { return s.view.user(id) })
	if err != nil || rec.FingerprintHash == nil || rec.PublicKey != nil {
		return rec.User, err
	}
	// Its key is sealed apart: written before the user, but perhaps not
	// applied here yet.
	if err := s.reload(ctx, s.subj.rec(kindUserKey, id)); err != nil {
		return storage.User{}, err
	}
	rec, _ = s.view.user(id)
	if rec.PublicKey == nil {
		return storage.User{}, fmt.Errorf("the public key of %s does not open", id)
	}
	return rec.User, nil
}

// user returns a user's record with its public key opened.
func (v *view) user(id string) (userRecord, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	u, ok := v.users[id]
	if pk := v.opened[id]; ok && pk != nil {
		c := *pk
		u.PublicKey = &c
	}
	return u, ok
}

func (v *view) apiKeyOwner(hk string) (string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	id, ok := v.apiKeys[hk]
	return id, ok
}

func (v *view) pubKeyOwner(fp string) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.pubKeys[fp]
}
