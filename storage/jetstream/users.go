package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		w, err := build()
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
		if err := s.resolve(ctx, w); err != nil {
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
	metaName := "secret:" + name
	subject := s.subj.rec(kindMeta, token(metaName))
	aad := seal.AAD("meta", metaName)
	get := func() ([]byte, bool) { v := s.view.metaValue(metaName); return v, v != nil }
	if v, err := find(ctx, s, subject, get); err == nil {
		out, err := seal.Open(s.key, aad, v)
		return out, wrap("secret "+name, err)
	} else if !isNotFound(err) {
		return nil, wrap("secret "+name, err)
	}
	fresh, err := create()
	if err != nil {
		return nil, fmt.Errorf("jetstream: create secret %s: %w", name, err)
	}
	sealed, err := seal.Seal(s.key, aad, fresh)
	if err != nil {
		return nil, fmt.Errorf("jetstream: seal secret %s: %w", name, err)
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
	return out, wrap("secret "+name, err)
}

// RegisterUser implements storage.Store.
func (s *Store) RegisterUser(ctx context.Context, u storage.User, apiKeyHash []byte) (storage.User, bool, error) {
	if err := s.enter(); err != nil {
		return storage.User{}, false, err
	}
	defer s.leave()
	rec, err := encodeJSON(userRecord{User: u, APIKeyHash: apiKeyHash})
	if err != nil {
		return storage.User{}, false, wrap("register user", err)
	}
	keyRef, _ := json.Marshal(userRef{UserID: u.ID})
	var (
		out     storage.User
		created bool
		owner   string // the user the public key belongs to already
	)
	err = s.update(ctx, func() (*write, error) {
		if u.PublicKey != nil {
			if owner = s.view.pubKeyOwner(u.PublicKey.Fingerprint()); owner != "" {
				return nil, nil // reclaim
			}
		}
		if _, ok := s.view.user(u.ID); ok {
			return nil, storage.ErrConflict
		}
		w := s.newWrite()
		w.put(s.subj.rec(kindUser, u.ID), s.view.seqOf(recKey(kindUser, u.ID)), rec)
		hk := hashToken(apiKeyHash)
		w.put(s.subj.rec(kindAPIKey, hk), s.view.seqOf(recKey(kindAPIKey, hk)), keyRef)
		if u.PublicKey != nil {
			fp := token(u.PublicKey.Fingerprint())
			w.put(s.subj.rec(kindPubKey, fp), s.view.seqOf(recKey(kindPubKey, fp)), keyRef)
		}
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

func (s *Store) userByID(ctx context.Context, id string) (storage.User, error) {
	rec, err := find(ctx, s, s.subj.rec(kindUser, id), func() (userRecord, bool) { return s.view.user(id) })
	return rec.User, err
}

func (v *view) user(id string) (userRecord, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	u, ok := v.users[id]
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
