package cluster

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaseValue is a lease's value in the leases bucket.
type leaseValue struct {
	Node string `json:"node"` // the holder
	Name string `json:"name"` // the lease's name, as given (the key may be a hash)
}

// leaseEntry is one key of the local copy of the leases bucket.
type leaseEntry struct {
	rev    uint64
	holder string    // "" once deleted or expired: a tombstone
	name   string    // "" for a tombstone
	seen   time.Time // when this revision reached the copy (real clock)
}

// leaseSet is this node's leases by name, and the local copy of the leases
// bucket, tombstones included: a campaign woken by a deletion writes
// expecting the tombstone's revision, without reading the key first (a read
// may be answered by a replica that has not seen the deletion yet).
type leaseSet struct {
	c *Cluster

	mu      sync.Mutex
	byName  map[string]*Lease
	byKey   map[string]*Lease
	entries map[string]leaseEntry
	freed   []freedWatch
}

// freedWatch is a registration of OnLeaseFreed.
type freedWatch struct {
	prefix string
	fn     func(name string)
}

// OnLeaseFreed calls fn with the name of every lease that starts with
// prefix when its holder, on any node, gives it up or lets it expire (a
// holder that died): what the lease guarded can be taken up at once,
// rather than when some node next looks for it. fn runs on the goroutine
// that follows the bucket: it must not block.
func (c *Cluster) OnLeaseFreed(prefix string, fn func(name string)) {
	s := c.leases
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freed = append(s.freed, freedWatch{prefix: prefix, fn: fn})
}

// freedLocked returns the calls of OnLeaseFreed's functions due when a key
// changes from prev to cur. Lock must be held.
func (s *leaseSet) freedLocked(prev, cur leaseEntry) []func() {
	if prev.holder == "" || prev.name == "" || cur.holder != "" {
		return nil
	}
	var calls []func()
	for _, w := range s.freed {
		if strings.HasPrefix(prev.name, w.prefix) {
			calls = append(calls, func() { w.fn(prev.name) })
		}
	}
	return calls
}

func newLeaseSet(c *Cluster) *leaseSet {
	return &leaseSet{c: c, byName: map[string]*Lease{}, byKey: map[string]*Lease{}, entries: map[string]leaseEntry{}}
}

// Lease returns the lease called name: the same *Lease for the same name,
// so that this node holds a lease at most once. Leases are meant for a
// bounded set of names (one per bot, channel or job): they are kept for the
// life of the Cluster. The name "janitor" is the Cluster's own.
func (c *Cluster) Lease(name string) *Lease {
	s := c.leases
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.byName[name]; l != nil {
		return l
	}
	l := newLease(c, name)
	s.byName[name] = l
	s.byKey[l.key] = l
	return l
}

// Holders maps the name of every held lease to its holder's node id, per
// the local copy of the bucket: for the admin dashboard.
func (c *Cluster) Holders() map[string]string {
	s := c.leases
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(s.entries))
	for key, e := range s.entries {
		switch {
		case e.holder == "":
		case e.name == "":
			m[key] = e.holder // a value this code did not write
		default:
			m[e.name] = e.holder
		}
	}
	return m
}

// decodeLease returns the entry an update of the bucket makes.
func decodeLease(e jetstream.KeyValueEntry, now time.Time) leaseEntry {
	le := leaseEntry{rev: e.Revision(), seen: now}
	if e.Operation() == jetstream.KeyValuePut {
		le.holder, le.name = decodeLeaseValue(e.Value())
	}
	return le
}

// decodeLeaseValue returns the holder and name of a lease's value. A value
// this code did not write has holder "?": certainly not this node.
func decodeLeaseValue(b []byte) (holder, name string) {
	var v leaseValue
	if json.Unmarshal(b, &v) != nil || v.Node == "" {
		return "?", ""
	}
	return v.Node, v.Name
}

// holderOf returns the holder a lease's value names.
func holderOf(b []byte) string {
	holder, _ := decodeLeaseValue(b)
	return holder
}

// apply is the follower's apply.
func (s *leaseSet) apply(e jetstream.KeyValueEntry) {
	le := decodeLease(e, time.Now())
	s.mu.Lock()
	freed := s.freedLocked(s.entries[e.Key()], le)
	s.entries[e.Key()] = le
	l := s.byKey[e.Key()]
	s.mu.Unlock()
	if l != nil {
		l.observe(le)
	}
	for _, f := range freed {
		f()
	}
}

// reset is the follower's reset. A held lease missing from the snapshot is
// left to its keeper: the snapshot may predate the lease's creation.
func (s *leaseSet) reset(all []jetstream.KeyValueEntry) {
	now := time.Now()
	entries := make(map[string]leaseEntry, len(all))
	for _, e := range all {
		entries[e.Key()] = decodeLease(e, now)
	}
	s.mu.Lock()
	var freed []func()
	for key, prev := range s.entries {
		freed = append(freed, s.freedLocked(prev, entries[key])...) // a missing key is as good as a tombstone
	}
	s.entries = entries
	type seen struct {
		l  *Lease
		le leaseEntry
	}
	var ls []seen
	for key, l := range s.byKey {
		le, ok := entries[key]
		if !ok { // gone altogether: as good as a tombstone for a campaign
			le = leaseEntry{}
		}
		ls = append(ls, seen{l, le})
	}
	s.mu.Unlock()
	for _, x := range ls {
		x.l.observe(x.le)
	}
	for _, f := range freed {
		f()
	}
}

// tombstone returns the revision of key's deletion or expiry, or 0 when
// the copy holds no tombstone for it.
func (s *leaseSet) tombstone(key string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && e.holder == "" {
		return e.rev
	}
	return 0
}

// heldElsewhere reports whether the copy shows key held by another alive
// node that renewed it within the TTL: a campaign need not try then. A
// holder not seen renewing for a TTL is tried anyway, in case the copy
// missed its expiry.
func (s *leaseSet) heldElsewhere(key string) bool {
	s.mu.Lock()
	e, ok := s.entries[key]
	s.mu.Unlock()
	return ok && e.holder != "" && e.holder != s.c.id && time.Since(e.seen) < s.c.o.LeaseTTL && s.c.nodes.alive(e.holder)
}

// all returns this node's leases.
func (s *leaseSet) all() []*Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := make([]*Lease, 0, len(s.byName))
	for _, l := range s.byName {
		ls = append(ls, l)
	}
	return ls
}
