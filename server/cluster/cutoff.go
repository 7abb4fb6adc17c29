package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// cutWatch is a registration of OnCutOff.
type cutWatch struct {
	after         time.Duration
	cut, rejoined func()
	isCut         bool // cut was called, rejoined not yet; guarded by cutoffs.mu
}

// cutoffs follows the connection's status: it rejoins after a reconnect,
// and calls the OnCutOff functions.
type cutoffs struct {
	c    *Cluster
	poke chan struct{} // cap 1: a registration was added

	mu      sync.Mutex
	watches []*cutWatch
}

// OnCutOff calls cut once the connection to NATS has been down for after,
// and rejoined once it is back (after this node has written its heartbeat
// again). Both run on the goroutine that follows the connection: they must
// not block. A relay uses it to close its sockets when cut off, if
// Others() says their clients have somewhere else to go.
func (c *Cluster) OnCutOff(after time.Duration, cut func(), rejoined func()) {
	o := c.cutoffs
	o.mu.Lock()
	o.watches = append(o.watches, &cutWatch{after: after, cut: cut, rejoined: rejoined})
	o.mu.Unlock()
	select {
	case o.poke <- struct{}{}:
	default:
	}
}

// run follows the connection's status until ctx ends. It listens with
// StatusChanged, which leaves the connection's handlers (the store's)
// alone, and reads the status itself after each event, since events may
// be dropped.
func (o *cutoffs) run(ctx context.Context) {
	nc := o.c.nc
	ch := nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	defer nc.RemoveStatusListener(ch)
	var downSince time.Time // zero while connected
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		connected := nc.IsConnected()
		switch {
		case !connected && downSince.IsZero():
			downSince = time.Now()
		case connected && !downSince.IsZero():
			downSince = time.Time{}
			o.c.rejoin(ctx)
			o.rejoined()
		}
		if !downSince.IsZero() {
			if next, ok := o.cut(downSince); ok {
				timer.Reset(time.Until(next))
			}
		}
		select {
		case <-ctx.Done():
			return
		case st := <-ch:
			// A disconnection the connection recovered from before this
			// loop looked still needs a rejoin: the heartbeat may be gone.
			if st != nats.CONNECTED && downSince.IsZero() {
				downSince = time.Now()
			}
		case <-o.poke:
		case <-timer.C:
		}
	}
}

// cut calls the cut functions due after an outage that began at since, and
// returns when the next is due.
func (o *cutoffs) cut(since time.Time) (next time.Time, ok bool) {
	var due []func()
	o.mu.Lock()
	for _, w := range o.watches {
		if w.isCut {
			continue
		}
		at := since.Add(w.after)
		if !time.Now().Before(at) {
			w.isCut = true
			due = append(due, w.cut)
		} else if !ok || at.Before(next) {
			next, ok = at, true
		}
	}
	o.mu.Unlock()
	for _, f := range due {
		f()
	}
	return next, ok
}

// rejoined calls the rejoined functions of the watches that were cut.
func (o *cutoffs) rejoined() {
	var due []func()
	o.mu.Lock()
	for _, w := range o.watches {
		if w.isCut {
			w.isCut = false
			due = append(due, w.rejoined)
		}
	}
	o.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// rejoin runs after a reconnect: the heartbeat and the sockets may have
// expired or been swept while this node was away, and the local copies of
// the buckets may have missed changes.
func (c *Cluster) rejoin(ctx context.Context) {
	if err := c.beat(ctx, c.o.DeadAfter/2); err != nil {
		c.log.Warn("cluster: heartbeat after reconnecting", "err", err)
		select { // the heartbeat loop tries again at once
		case c.beatNow <- struct{}{}:
		default:
		}
	}
	c.sockets.rewrite()
	for _, f := range c.followers {
		f.resync()
	}
	c.log.Info("cluster: reconnected to NATS")
}
