package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// resyncEvery is how often a follower starts over from a fresh snapshot
	// of its bucket, so that a change it missed (a marker that expired while
	// its consumer was being recreated) is never missed for long.
	resyncEvery = 5 * time.Minute
	// watchRetry is how long a follower waits before watching again after a
	// failure (NATS unreachable).
	watchRetry = 500 * time.Millisecond
)

// follower keeps a local copy of one bucket current, without reading the
// bucket per call: a watcher delivers every change (deletions and expiries
// included, as entries whose Operation is not Put) and reset hands over a
// whole snapshot, which replaces what the changes built. A snapshot comes
// first, then after a reconnect (resync) and every resyncEvery.
//
// apply and reset run on the follower's goroutine, one at a time, and must
// not block: the watcher stalls behind them.
type follower struct {
	kv    jetstream.KeyValue
	log   *slog.Logger
	apply func(e jetstream.KeyValueEntry)
	reset func(all []jetstream.KeyValueEntry)

	resyncCh chan struct{} // cap 1
	synced   chan struct{} // closed after the first snapshot
	once     sync.Once
}

func newFollower(kv jetstream.KeyValue, log *slog.Logger, apply func(jetstream.KeyValueEntry), reset func([]jetstream.KeyValueEntry)) *follower {
	return &follower{kv: kv, log: log.With("bucket", kv.Bucket()), apply: apply, reset: reset,
		resyncCh: make(chan struct{}, 1), synced: make(chan struct{})}
}

// resync makes the follower start over from a fresh snapshot.
func (f *follower) resync() {
	select {
	case f.resyncCh <- struct{}{}:
	default:
	}
}

// run follows the bucket until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		// Ending the watch by its context, not by Stop: Stop deletes the
		// consumer and waits for the answer, seconds without NATS, while
		// the context has nats.go do it on its own goroutine.
		wctx, cancel := context.WithCancel(ctx)
		w, err := f.kv.WatchAll(wctx)
		if err != nil {
			cancel()
			f.log.Debug("cluster: watch", "err", err)
			_ = sleep(ctx, watchRetry)
			continue
		}
		closed := f.consume(ctx, w)
		cancel()
		drain(w)
		if closed { // the connection closed, or the consumer is gone
			_ = sleep(ctx, watchRetry)
		}
	}
}

// drain reads what a cancelled watcher still delivers until it closes its
// channel, for a while: nats.go's delivery blocks while the channel is full.
func drain(w jetstream.KeyWatcher) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-t.C:
			return
		}
	}
}

// consume gathers the watcher's snapshot, hands it to reset and then every
// change to apply, until ctx ends, the watcher closes, or it is time to
// start over. It reports whether the watcher closed.
func (f *follower) consume(ctx context.Context, w jetstream.KeyWatcher) (closed bool) {
	t := time.NewTimer(resyncEvery)
	defer t.Stop()
	var snapshot []jetstream.KeyValueEntry
	initial := true
	for {
		select {
		case <-ctx.Done():
			return false
		case <-f.resyncCh:
			return false
		case <-t.C:
			return false
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return true
			case initial && e == nil:
				f.reset(snapshot)
				snapshot, initial = nil, false
				f.once.Do(func() { close(f.synced) })
			case initial:
				snapshot = append(snapshot, e)
			case e != nil:
				f.apply(e)
			}
		}
	}
}
