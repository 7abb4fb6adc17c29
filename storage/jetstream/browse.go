package jetstream

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// The store browser shows the stream's own records, grouped into buckets
// named as storage/bolt names its buckets, read from JetStream in stream
// order. Tombstones, markers and key entries are not shown (dedupe keys and
// accepted senders travel in the headers of the message log); sealed values
// are marked sealed and never shown.

// bucket is a group of subjects shown as one bucket.
type bucket struct {
	name   string
	filter string // subject filter after the prefix
	count  func(s *Store) int
}

var buckets = []bucket{
	{"meta", "r.meta.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.meta) }) }},
	{"users", "r.user.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.users) }) }},
	{"user_keys", "r.ukey.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.userKeys) }) }},
	{"apikeys", "r.key.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.apiKeys) }) }},
	{"pubkeys", "r.fp.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.pubKeys) }) }},
	{"channels", "r.ch.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.channels) }) }},
	{"secrets", "r.sec.>", func(s *Store) int {
		return s.view.count(func(v *view) int {
			n := 0
			for _, names := range v.secrets {
				n += len(names)
			}
			return n
		})
	}},
	{"addresses", "r.addr.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.addresses) }) }},
	{"channel_state", "r.rt.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.targets) }) }},
	{"responses", "r.out.>", func(s *Store) int {
		return s.view.count(func(v *view) int {
			n := 0
			for _, l := range v.outs {
				n += l.count()
			}
			return n
		})
	}},
	{"deliveries", "r.dlv.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.delivs) }) }},
	{"admin_sessions", "r.adm.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.admin) }) }},
	{"floors", "r.floor.>", func(s *Store) int { return s.view.count(func(v *view) int { return len(v.floors) }) }},
	{"message_log", "m.>", func(s *Store) int { return s.idx.total() }},
}

// browseScan bounds how many messages one Browse reads.
const browseScan = 10_000

// Buckets implements storage.Store.
func (s *Store) Buckets(context.Context) ([]storage.BucketCount, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := make([]storage.BucketCount, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, storage.BucketCount{Name: b.name, Count: b.count(s)})
	}
	return out, nil
}

// Browse implements storage.Store: path[0] names a bucket, the rest is a
// prefix of the records' key segments (the last segment a prefix of the
// key's).
func (s *Store) Browse(ctx context.Context, path []string, limit int) ([]storage.Entry, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if len(path) == 0 {
		return nil, wrap("browse", storage.ErrNotFound)
	}
	var b *bucket
	for i := range buckets {
		if buckets[i].name == path[0] {
			b = &buckets[i]
		}
	}
	if b == nil {
		return nil, wrap("browse", storage.ErrNotFound)
	}
	out := []storage.Entry{}
	from, scanned := uint64(1), 0
	for len(out) < limit && scanned < browseScan {
		msgs, err := jetstreamext.GetBatch(ctx, s.js, s.opts.Prefix, 256, jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(s.opts.Prefix+"."+b.filter))
		if err != nil {
			return nil, wrap("browse", readError(err))
		}
		n := 0
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return nil, wrap("browse", readError(err))
			}
			n++
			from = m.Sequence + 1
			if e, ok := s.browseEntry(b.name, m); ok && hasKeyPrefix(e.Key, path[1:]) && len(out) < limit {
				out = append(out, e)
			}
		}
		scanned += n
		if n == 0 {
			break
		}
	}
	return out, nil
}

// browseEntry shows a stored message as an entry; false for tombstones and
// markers.
func (s *Store) browseEntry(bucket string, m *jetstream.RawStreamMsg) (storage.Entry, bool) {
	if m.Header.Get(hdrOp) != "" {
		return storage.Entry{}, false
	}
	ns, toks, ok := s.subj.split(m.Subject)
	if !ok {
		return storage.Entry{}, false
	}
	if ns != nsMessages {
		toks = toks[1:] // after the kind
	}
	key := make([]string, len(toks))
	for i, t := range toks {
		key[i] = untoken(t)
	}
	ts := storage.FormatTime(fromMillis(headerMillis(m.Header, hdrTs)))
	e := storage.Entry{Key: key, Sealed: seal.IsSealed(m.Data)}
	switch bucket {
	case "message_log":
		e.Key = []string{ts, key[0]}
		if rec, err := storage.DecodeMessage(m.Data); err == nil {
			e.Value, _ = storage.EncodeJSON(rec)
		}
	case "responses":
		e.Key = append(key, ts)
		e.Value = m.Data
	default:
		if !e.Sealed && len(m.Data) > 0 {
			e.Value = m.Data
		}
	}
	return e, true
}

// hasKeyPrefix reports whether key starts with prefix, whose last segment
// may be a prefix of the key's segment.
func hasKeyPrefix(key, prefix []string) bool {
	if len(prefix) > len(key) {
		return false
	}
	for i, p := range prefix {
		if i == len(prefix)-1 {
			return strings.HasPrefix(key[i], p)
		}
		if key[i] != p {
			return false
		}
	}
	return true
}

// count reads a number off the view.
func (v *view) count(f func(*view) int) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return f(v)
}
