package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage"
)

// follower runs one consumer of the stream and records how far it has
// applied it. Waiters block until a sequence has been applied: an
// acknowledged write that this instance could not apply itself, or a
// conflict's retry that needs another writer's message.
//
// The consumer is ordered, as nats.go's ordered consumer is, but the
// follower makes it again itself: from the message after the last one
// applied, whenever it may have missed one (a gap in its sequence, missed
// heartbeats, a reconnect, the consumer gone), with short attempts and a
// short back-off. nats.go's own waits up to 10 s per attempt and backs off
// to 10 s, which left a node blind to other nodes' writes for half a
// minute when the server holding its consumer was lost during an election.
type follower struct {
	name string

	mu       sync.Mutex
	applied  uint64 // the stream sequence of the last message applied
	waiters  []waiter
	caughtUp chan struct{} // closed once it has applied what the stream held when it started
	done     bool          // caughtUp is closed

	kicks chan struct{} // the consumer must be made again
	loop  sync.WaitGroup

	// Set by start.
	stream jetstream.Stream
	filter string
	handle func(*follower, jetstream.Msg)
	log    *slog.Logger
	ctx    context.Context // ends with stop
	cancel context.CancelFunc

	// hmu is held while a message is handled and while the consumer
	// changes, so that no message of a replaced consumer is applied after
	// its replacement took its starting point.
	hmu       sync.Mutex
	gen       uint64 // the current consumer's generation
	delivered uint64 // the current consumer's sequence of its last message
	cc        jetstream.ConsumeContext
	consumer  string // the current consumer's name
}

type waiter struct {
	seq uint64
	ch  chan struct{}
}

// followHeartbeat is how often the server tells an idle consumer that it is
// still there. A consumer lives on one NATS server: when that server is
// lost, two missed heartbeats make the follower create the consumer again
// on another, and until then this instance sees no other instance's
// writes. The client's default, 5 s, left a node's index 10 s behind after
// one server of three was lost; 1 s costs one small message a second per
// consumer.
const followHeartbeat = time.Second

// How the follower makes its consumer again: each attempt bounded by
// remakeAttempt, the next one after a back-off from remakeBackoff doubling
// up to remakeBackoffMax, until one works.
const (
	remakeAttempt    = 2 * time.Second
	remakeBackoff    = 50 * time.Millisecond
	remakeBackoffMax = time.Second
)

// consumerIdle is how long the server keeps a consumer nobody pulls from:
// one this instance dropped, or left behind when it died.
const consumerIdle = 5 * time.Minute

func newFollower(name string) *follower {
	return &follower{name: name, caughtUp: make(chan struct{}), kicks: make(chan struct{}, 1)}
}

// start creates the consumer of filter from the stream's first message and
// consumes it with handle, which must call advance; from then on it keeps
// the consumer going until stop.
func (f *follower) start(ctx context.Context, stream jetstream.Stream, filter string, log *slog.Logger, handle func(*follower, jetstream.Msg)) error {
	f.stream, f.filter, f.handle, f.log = stream, filter, handle, log
	f.ctx, f.cancel = context.WithCancel(context.Background())
	pending, err := f.consume(ctx)
	if err != nil {
		f.cancel()
		return fmt.Errorf("jetstream: %s consumer: %w", f.name, err)
	}
	if pending == 0 {
		f.mu.Lock()
		f.markCaughtUp()
		f.mu.Unlock()
	}
	f.loop.Go(f.keep)
	return nil
}

// consume replaces the consumer with one that starts after the last message
// applied. It returns how many messages of the filter the stream holds from
// there.
func (f *follower) consume(ctx context.Context) (uint64, error) {
	f.hmu.Lock()
	f.gen++
	gen := f.gen
	old, oldName := f.cc, f.consumer
	f.cc, f.consumer, f.delivered = nil, "", 0
	f.mu.Lock()
	from := f.applied + 1
	f.mu.Unlock()
	f.hmu.Unlock()
	if old != nil {
		old.Stop()
		go f.drop(oldName)
	}
	name := f.name + "_" + newNonce()
	cons, err := f.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Name:              name,
		FilterSubject:     f.filter,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: consumerIdle,
	})
	if err != nil {
		return 0, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { f.deliver(gen, m) },
		jetstream.PullHeartbeat(followHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { f.failed(gen, err) }))
	if err != nil {
		go f.drop(name)
		return 0, err
	}
	f.hmu.Lock()
	defer f.hmu.Unlock()
	if gen != f.gen || f.ctx.Err() != nil { // stopped meanwhile
		cc.Stop()
		go f.drop(name)
		return 0, errFollowerStopped
	}
	f.cc, f.consumer = cc, name
	return cons.CachedInfo().NumPending, nil
}

var errFollowerStopped = errors.New("stopped")

// drop deletes a consumer that is no longer used; if the server cannot be
// reached, it goes by itself after consumerIdle.
func (f *follower) drop(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), remakeAttempt)
	defer cancel()
	_ = f.stream.DeleteConsumer(ctx, name)
}

// deliver hands a message of consumer generation gen to handle, in order:
// a gap means the consumer missed a message, and it is made again.
func (f *follower) deliver(gen uint64, m jetstream.Msg) {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	if gen != f.gen {
		return // a replaced consumer's
	}
	md, err := m.Metadata()
	if err != nil {
		return
	}
	if md.Sequence.Consumer != f.delivered+1 {
		f.kick()
		return
	}
	f.delivered = md.Sequence.Consumer
	f.handle(f, m)
}

// failed makes the consumer of generation gen again when an error says it
// may be gone or may have missed messages.
func (f *follower) failed(gen uint64, err error) {
	if !errors.Is(err, jetstream.ErrNoHeartbeat) && !errors.Is(err, jetstream.ErrConsumerDeleted) &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, nats.ErrNoResponders) {
		return
	}
	f.hmu.Lock()
	current := gen == f.gen
	f.hmu.Unlock()
	if current {
		f.kick()
	}
}

// kick asks for the consumer to be made again (after a reconnect, the
// store's connection handler calls it: messages in flight were lost).
func (f *follower) kick() {
	select {
	case f.kicks <- struct{}{}:
	default:
	}
}

// keep makes the consumer again each time it is kicked, until stop.
func (f *follower) keep() {
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.kicks:
		}
		failures := 0
		for backoff := remakeBackoff; ; backoff = min(2*backoff, remakeBackoffMax) {
			ctx, cancel := context.WithTimeout(f.ctx, remakeAttempt)
			_, err := f.consume(ctx)
			cancel()
			if f.ctx.Err() != nil {
				return
			}
			if err == nil {
				if failures > 0 {
					f.log.Info("following the stream again", "consumer", f.name, "attempts", failures+1)
				}
				break
			}
			if failures == 0 { // once per episode: an outage retries every second
				f.log.Warn("following the stream: cannot make the consumer again, retrying", "consumer", f.name, "err", err)
			}
			failures++
			select {
			case <-f.ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}
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

// stop stops the consumer and the follower.
func (f *follower) stop() {
	if f.cancel == nil {
		return // never started
	}
	f.cancel()
	f.loop.Wait()
	f.hmu.Lock()
	f.gen++ // what the consumer still delivers is dropped
	cc := f.cc
	f.cc = nil
	f.hmu.Unlock()
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
