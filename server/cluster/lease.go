package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errReleased is the cause of a term's end by Release.
var errReleased = errors.New("cluster: lease released")

// Lease is a named lease that at most one node of the cluster holds at a
// time, for LeaseTTL after its last renewal. The Cluster renews a held
// lease every LeaseTTL/3 until Release or loss. A holder that cannot renew
// gives the lease up (Held turns false, Run's function is cancelled) no
// later than the bucket expires it, so two holders never overlap in time,
// up to the time the holder takes to react.
//
// Lock order: acq before mu.
type Lease struct {
	c     *Cluster
	name  string
	key   string
	value []byte        // leaseValue of this node
	wake  chan struct{} // cap 1: the key was deleted or expired

	acq sync.Mutex // serialises TryAcquire and Release

	mu   sync.Mutex
	term *term // non-nil while held
	lost *term // the last term, if it was lost: its key may still be this node's
}

// term is one tenure of a lease, from its acquisition to its release or loss.
type term struct {
	rev        uint64    // the revision this node last wrote; written by the keeper (and begin), under Lease.mu
	validUntil time.Time // when the bucket may expire it at the earliest; guarded by Lease.mu
	ctx        context.Context
	end        context.CancelCauseFunc // ends the term: ErrLeaseLost or errReleased
	done       chan struct{}           // closed when the keeper has returned
}

func newLease(c *Cluster, name string) *Lease {
	v, _ := json.Marshal(leaseValue{Node: c.id, Name: name}) // cannot fail
	return &Lease{c: c, name: name, key: leaseKey(name), value: v, wake: make(chan struct{}, 1)}
}

// Name is the lease's name.
func (l *Lease) Name() string { return l.name }

// Held reports whether this node holds the lease.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term != nil && time.Now().Before(l.term.validUntil)
}

// TryAcquire takes the lease if no node holds it, and reports whether this
// node holds it (true if it already did). It costs one KV round trip when
// the lease is free and the local copy of the bucket knows it, two when
// another node holds it, three when the copy is behind. Errors are those
// of NATS; a lease held elsewhere is (false, nil).
func (l *Lease) TryAcquire(ctx context.Context) (bool, error) {
	l.acq.Lock()
	defer l.acq.Unlock()
	l.mu.Lock()
	if t := l.term; t != nil {
		if time.Now().Before(t.validUntil) {
			l.mu.Unlock()
			return true, nil
		}
		l.loseLocked(t, "not renewed in time") // its keeper is about to notice
	}
	l.mu.Unlock()
	if l.c.closing() {
		return false, ErrClosed
	}
	rev, sent, err := l.acquire(ctx)
	if err != nil || rev == 0 {
		return false, err
	}
	l.mu.Lock()
	l.lost = nil // taken back, or not this node's any more
	l.mu.Unlock()
	if !l.begin(rev, sent) {
		return false, ErrClosed // the key expires after the TTL
	}
	return true, nil
}

// acquire writes this node into the lease's key if no node holds it, and
// returns the revision written and when it was sent, or 0 if another node
// holds the lease. The first write expects what the local copy of the
// bucket knows: the revision of the key's deletion or expiry, or no key.
// If that is out of date, the key is read from the stream leader and, if
// it is free after all, written once more.
func (l *Lease) acquire(ctx context.Context) (rev uint64, sent time.Time, err error) {
	kv := l.c.kv.leases
	sent = time.Now()
	rev, err = kv.Update(ctx, l.key, l.value, l.c.leases.tombstone(l.key))
	if !isConflict(err) {
		return rev, sent, l.wrap("acquire", err)
	}
	cur, err := l.c.last(ctx, kv, l.key)
	if err != nil {
		return 0, sent, l.wrap("acquire", err)
	}
	// A key this node holds is free to take back: a term it gave up for
	// lost because a renewal went unanswered although it was written.
	if cur.put && holderOf(cur.value) != l.c.id {
		return 0, sent, nil
	}
	sent = time.Now()
	rev, err = kv.Update(ctx, l.key, l.value, cur.rev)
	if isConflict(err) {
		return 0, sent, nil
	}
	return rev, sent, l.wrap("acquire", err)
}

// begin starts a term at revision rev, written at sent, and its keeper.
// It reports false if the Cluster is closing.
func (l *Lease) begin(rev uint64, sent time.Time) bool {
	t := &term{rev: rev, validUntil: sent.Add(l.c.o.LeaseTTL), done: make(chan struct{})}
	t.ctx, t.end = context.WithCancelCause(context.Background())
	l.mu.Lock()
	l.term = t
	l.mu.Unlock()
	if !l.c.keepers.goFunc(func() { l.keep(t) }) {
		l.end(t, ErrClosed)
		close(t.done)
		return false
	}
	return true
}

// end ends term t with cause, unless it has ended already.
func (l *Lease) end(t *term, cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term == t {
		l.term = nil
		t.end(cause)
	}
}

// Release gives the lease up, if held, and deletes its key so that a
// campaign elsewhere takes it over at once rather than after the TTL. It
// also deletes the key of a term lost a moment ago by not renewing it in
// time (the bucket may not have expired it yet). Without NATS the key is
// left to expire.
func (l *Lease) Release(ctx context.Context) error {
	l.acq.Lock()
	defer l.acq.Unlock()
	l.mu.Lock()
	t, lost := l.term, l.lost
	l.lost = nil
	l.mu.Unlock()
	switch {
	case t != nil:
		l.end(t, errReleased)
	case lost != nil && time.Since(lost.validUntil) < l.c.o.LeaseTTL:
		t = lost
	default:
		return nil
	}
	<-t.done // no renewal in flight: the revision is final
	if !l.c.nc.IsConnected() {
		return nil
	}
	err := l.c.kv.leases.Delete(ctx, l.key, jetstream.LastRevision(t.rev))
	if !isConflict(err) {
		return l.wrap("release", err)
	}
	// A renewal cancelled by the release may have been written.
	cur, err := l.c.last(ctx, l.c.kv.leases, l.key)
	if err != nil || !cur.put || holderOf(cur.value) != l.c.id {
		return l.wrap("release", err) // not ours any more
	}
	err = l.c.kv.leases.Delete(ctx, l.key, jetstream.LastRevision(cur.rev))
	if isConflict(err) {
		return nil
	}
	return l.wrap("release", err)
}

// abandon ends the term, if any, without deleting the key, which expires.
func (l *Lease) abandon() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.term; t != nil {
		l.term = nil
		t.end(ErrClosed)
	}
}

// observe learns of a change of the lease's key: another revision than
// this node's while held means the lease is lost; a deletion or expiry
// wakes a campaign.
func (l *Lease) observe(e leaseEntry) {
	l.mu.Lock()
	if t := l.term; t != nil && e.rev > t.rev && e.holder != l.c.id {
		why := "deleted or expired"
		if e.holder != "" {
			why = "taken by node " + e.holder
		}
		l.loseLocked(t, why)
	}
	l.mu.Unlock()
	if e.holder == "" {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

func (l *Lease) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("cluster: lease %s: %s: %w", l.name, op, err)
}
