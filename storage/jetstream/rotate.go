package jetstream

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// RotateRootKey re-wraps the data key of every sealed value of the store
// that opts names from root key old to new, without touching the sealed
// payloads, and returns how many values it re-wrapped. Values already under
// new are left as they are, so an interrupted rotation can be run again.
// Every relay instance of the store must be stopped meanwhile: one still
// running would refuse the new key only at its next start, and seal new
// values under the old key until then. opts.RootKey is not used.
func RotateRootKey(ctx context.Context, opts Options, old, new *seal.RootKey) (int, error) {
	opts.RootKey = old
	s, err := open(ctx, opts, false)
	if err != nil {
		return 0, fmt.Errorf("jetstream: rotate root key: %w", err)
	}
	defer s.Close()
	if err := s.Wait(ctx); err != nil {
		return 0, fmt.Errorf("jetstream: rotate root key: %w", err)
	}
	var values []sealedRecord
	for _, v := range s.view.sealedRecords() {
		if id, err := seal.KeyID(v.value); err != nil || id != new.ID() {
			values = append(values, v)
		}
	}
	n := 0
	for len(values) > 0 {
		chunk := values[:min(len(values), maxWriteMsgs)]
		values = values[len(chunk):]
		w := s.newWrite()
		for _, v := range chunk {
			nv, err := seal.Rewrap(old, new, v.aad, v.value)
			if err != nil {
				return n, fmt.Errorf("jetstream: rotate root key: %s: %w", v.subject, err)
			}
			w.put(s.subj.rec(v.kind, v.keys...), v.seq, nv)
		}
		if err := s.commit(ctx, w); err != nil {
			return n, fmt.Errorf("jetstream: rotate root key: %w", err)
		}
		n += len(chunk)
	}
	return n, nil
}

// sealedRecord is a sealed value of the view with what re-sealing it needs.
type sealedRecord struct {
	kind    string
	keys    []string
	subject string // for errors
	seq     uint64
	aad     []byte
	value   []byte
}

// sealedRecords returns every sealed value the view holds.
func (v *view) sealedRecords() []sealedRecord {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []sealedRecord
	add := func(kind string, keys []string, aad, value []byte) {
		out = append(out, sealedRecord{kind: kind, keys: keys, subject: recKey(kind, keys...),
			seq: v.seqs[recKey(kind, keys...)], aad: aad, value: value})
	}
	for name, val := range v.meta {
		add(kindMeta, []string{token(name)}, seal.AAD("meta", name), val)
	}
	for id, names := range v.secrets {
		for name, val := range names {
			add(kindSecret, []string{id, token(name)}, storage.ChannelSecretAAD(id, name), val)
		}
	}
	for ht, val := range v.admin {
		hash, err := hex.DecodeString(ht)
		if err == nil {
			add(kindAdmin, []string{ht}, storage.AdminSessionAAD(hash), val)
		}
	}
	for id, val := range v.userKeys {
		add(kindUserKey, []string{id}, storage.UserKeyAAD(id), val)
	}
	return out
}
