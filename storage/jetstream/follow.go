package jetstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage"
)

// follower runs one ordered consumer of the stream and records how far it
// has applied it. Waiters block until a sequence has been applied: an
// acknowledged write that this instance could not apply itself, or a
// conflict's retry that needs another writer's message.
type follower struct {
	name string

	mu       sync.Mutex
	applied  uint64 // the stream sequence of the last message applied
	waiters  []waiter
	caughtUp chan struct{} // closed once it has applied what the stream held when it started
	done     bool          // caughtUp is closed
	cc       jetstream.ConsumeContext
}

type waiter struct {
	seq uint64
	ch  chan struct{}
}

// followHeartbeat is how often the server tells an idle consumer that it is
// still there. A consumer lives on one NATS server: when that server is
// lost, two missed heartbeats make the client create the consumer again on
// another, and until then this instance sees no other instance's writes.
// The client's default, 5 s, left a node's index 10 s behind after one
// server of three was lost; 1 s costs one small message a second per
// consumer.
const followHeartbeat = time.Second

func newFollower(name string) *follower {
	return &follower{name: name, caughtUp: make(chan struct{})}
}

// start creates the ordered consumer of filter from the stream's first
// message and consumes it with handle, which must call advance.
func (f *follower) start(ctx context.Context, stream jetstream.Stream, filter string, handle func(*follower, jetstream.Msg)) error {
	c, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, // each instance's consumers get a unique name
	})
	if err != nil {
		return fmt.Errorf("jetstream: %s consumer: %w", f.name, err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) { handle(f, m) }, jetstream.PullHeartbeat(followHeartbeat))
	if err != nil {
		return fmt.Errorf("jetstream: %s consumer: %w", f.name, err)
	}
	f.mu.Lock()
	f.cc = cc
	if c.CachedInfo().NumPending == 0 {
		f.markCaughtUp()
	}
	f.mu.Unlock()
	return nil
}

// advance records that the message at seq was applied; pending is how many
// messages of the filter the stream held beyond it when it was delivered.
func (f *follower) advance(seq, pending uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = max(f.applied, seq)
	if pending == 0 {
		f.markCaughtUp()
	}
	n := 0
	for _, w := range f.waiters {
		if w.seq <= f.applied {
			close(w.ch)
			continue
		}
		f.waiters[n] = w
		n++
	}
	clear(f.waiters[n:])
	f.waiters = f.waiters[:n]
}

// markCaughtUp closes caughtUp once. Lock must be held.
func (f *follower) markCaughtUp() {
	if !f.done {
		f.done = true
		close(f.caughtUp)
	}
}

// wait blocks until the message at seq has been applied, for at most
// timeout.
func (f *follower) wait(ctx context.Context, seq uint64, timeout time.Duration) error {
	f.mu.Lock()
	if f.applied >= seq {
		f.mu.Unlock()
		return nil
	}
	w := waiter{seq: seq, ch: make(chan struct{})}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("jetstream: %w: the %s consumer has not reached sequence %d", storage.ErrUnavailable, f.name, seq)
	}
}

// stop stops the consumer.
func (f *follower) stop() {
	f.mu.Lock()
	cc := f.cc
	f.cc = nil
	f.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

// consumeRecord applies a message of the records consumer to the view.
func (s *Store) consumeRecord(f *follower, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	if ns, toks, ok := s.subj.split(m.Subject()); ok && ns == nsRecords && len(toks) >= 2 {
		s.view.apply(record{kind: toks[0], keys: toks[1:], seq: md.Sequence.Stream, prev: anyPrev,
			hdr: m.Headers(), data: m.Data(), at: md.Timestamp})
	}
	f.advance(md.Sequence.Stream, md.NumPending)
}

// consumeMessage applies a message of the message logs' consumer to the
// index, and tells OnAppend about a new message. The consumer brings the
// bodies too, for the recent cache: a socket on this instance then gets a
// message another instance appended without a read from JetStream, which
// was most of a cross-node delivery's time.
func (s *Store) consumeMessage(f *follower, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	ns, toks, ok := s.subj.split(m.Subject())
	if !ok || ns != nsMessages || len(toks) != 1 {
		f.advance(md.Sequence.Stream, md.NumPending)
		return
	}
	s.recent.put(md.Sequence.Stream, m.Data()) // before the index lists it
	_, added := s.idx.apply(toks[0], md.Sequence.Stream, anyPrev, m.Headers())
	f.advance(md.Sequence.Stream, md.NumPending)
	if added {
		s.appended(toks[0])
	}
}

// appended tells OnAppend that user's log has a new message.
func (s *Store) appended(user string) {
	if s.ready.Load() && s.opts.OnAppend != nil {
		s.opts.OnAppend(user)
	}
}

// keyLocks serialises this instance's writes to one log (a user's
// messages, a channel's responses): they would only conflict with each
// other. Other instances' writes are kept out by the expectations.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (l *keyLocks) lock(key string) func() {
	l.mu.Lock()
	k := l.m[key]
	if k == nil {
		k = &keyLock{}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}
