package cluster

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// releaseTimeout bounds the release of a lease when Run ends: its context
// has ended by then.
const releaseTimeout = 5 * time.Second

// Run campaigns for the lease until ctx ends or the Cluster closes, and
// runs fn whenever this node holds it, with a context that ends when the
// lease is lost (cause ErrLeaseLost), when ctx ends or when the Cluster
// closes. Once fn has returned, Run releases the lease unless it was lost,
// and campaigns again: at once after a loss, after a retry interval if fn
// returned on its own. A campaign tries when the key is deleted or expires
// (the watcher wakes it), and otherwise every LeaseTTL/3 or so; it does not
// even try while the local copy of the bucket shows the lease renewed by
// another alive node. Run returns after fn has returned and the lease is
// released. Call Run at most once at a time per lease.
func (l *Lease) Run(ctx context.Context, fn func(ctx context.Context)) {
	if !l.c.runs.add() {
		return
	}
	defer l.c.runs.done()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(l.c.ctx, func() { cancel(ErrClosed) })
	defer stop()
	for ctx.Err() == nil {
		if !l.c.leases.heldElsewhere(l.key) {
			held, err := l.TryAcquire(ctx)
			if err != nil && ctx.Err() == nil {
				l.c.renewLog.warn(l.c.log, "cluster: lease campaign", "lease", l.name, "err", err)
			}
			if held {
				if !l.hold(ctx, fn) {
					// fn returned on its own: let another node have a turn.
					_ = sleep(ctx, l.retryInterval())
				}
				continue // after a loss, try again at once, in case it was a blip
			}
		}
		l.waitCampaign(ctx)
	}
}

// hold runs fn for the current term, and then releases the lease unless
// it was lost. It reports whether the lease was lost.
func (l *Lease) hold(ctx context.Context, fn func(ctx context.Context)) (lost bool) {
	l.mu.Lock()
	t := l.term
	l.mu.Unlock()
	if t == nil {
		return true
	}
	fctx, fcancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(t.ctx, func() { fcancel(context.Cause(t.ctx)) })
	fn(fctx)
	stop()
	fcancel(nil)
	if errors.Is(context.Cause(t.ctx), ErrLeaseLost) {
		return true
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer rcancel()
	if err := l.Release(rctx); err != nil {
		l.c.log.Warn("cluster: lease release", "lease", l.name, "err", err)
	}
	return false
}

// waitCampaign waits until the lease's key is deleted or expires, the
// retry interval passes, or ctx ends.
func (l *Lease) waitCampaign(ctx context.Context) {
	t := time.NewTimer(l.retryInterval())
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-l.wake:
	case <-t.C:
	}
}

// retryInterval is between 1/6 and 1/3 of the TTL, spread so that the
// nodes do not all try at once.
func (l *Lease) retryInterval() time.Duration {
	third := l.c.o.LeaseTTL / 3
	return third/2 + rand.N(third/2+1)
}
