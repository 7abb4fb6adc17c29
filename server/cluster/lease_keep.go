package cluster

import (
	"context"
	"time"
)

// keep renews term t every LeaseTTL/3 until it ends, and ends it as lost
// when the key is no longer this node's, or when a renewal has not
// succeeded by the time the bucket may expire the key.
func (l *Lease) keep(t *term) {
	defer close(t.done)
	renew := time.NewTicker(l.c.o.LeaseTTL / 3)
	defer renew.Stop()
	for {
		l.mu.Lock()
		deadline := t.validUntil
		l.mu.Unlock()
		expire := time.NewTimer(time.Until(deadline))
		select {
		case <-t.ctx.Done():
			expire.Stop()
			return
		case <-expire.C:
			l.lose(t, "not renewed in time")
			return
		case <-renew.C:
			expire.Stop()
			if l.c.nc.IsConnected() {
				l.renew(t, deadline)
			}
		}
	}
}

// renew writes the key again, expecting the revision of t, and moves the
// deadline on. A conflict means another node has the lease, unless the
// revision is this node's own from a renewal that went unanswered.
func (l *Lease) renew(t *term, deadline time.Time) {
	ctx, cancel := context.WithDeadline(t.ctx, deadline)
	defer cancel()
	kv := l.c.kv.leases
	sent := time.Now()
	rev, err := kv.Update(ctx, l.key, l.value, t.rev)
	if isConflict(err) {
		if cur, rerr := l.c.last(ctx, kv, l.key); rerr == nil && cur.put && cur.rev > t.rev && holderOf(cur.value) == l.c.id {
			sent = time.Now()
			rev, err = kv.Update(ctx, l.key, l.value, cur.rev)
		}
	}
	switch {
	case err == nil:
		l.mu.Lock()
		if l.term == t {
			t.rev, t.validUntil = rev, sent.Add(l.c.o.LeaseTTL)
		}
		l.mu.Unlock()
	case isConflict(err):
		l.lose(t, "taken over or expired")
	case t.ctx.Err() == nil:
		l.c.renewLog.warn(l.c.log, "cluster: lease renewal", "lease", l.name, "err", err)
	}
}

// lose ends t as lost, if it has not ended already.
func (l *Lease) lose(t *term, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loseLocked(t, why)
}

// loseLocked is lose. Lock must be held.
func (l *Lease) loseLocked(t *term, why string) {
	if l.term == t {
		l.term, l.lost = nil, t
		t.end(ErrLeaseLost)
		l.c.log.Warn("cluster: lease lost", "lease", l.name, "why", why)
	}
}
