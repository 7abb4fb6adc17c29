package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
	"github.com/chaos-relay/relay/storage/storemetrics"
)

// Defaults of Options.
const (
	// DefaultPrefix names the stream and prefixes its subjects.
	DefaultPrefix = "relay"
	// DefaultWriteTimeout is how long a write is held and retried while
	// JetStream does not answer, before it fails with
	// storage.ErrUnavailable. After the stream leader's server is killed, the
	// others notice within Raft's election timeout (4–9 s) and elect; writes
	// sent meanwhile were answered 6–10.3 s after the SIGKILL in
	// TestClusterNATSServerKilled, so 10 s failed some of them.
	DefaultWriteTimeout = 15 * time.Second
	// DefaultTombstoneTTL is how long JetStream keeps the tombstone of a
	// deleted record, from which every instance learns of the deletion. An
	// instance cut off from NATS for longer may keep a deleted record in its
	// view until it restarts.
	DefaultTombstoneTTL = 7 * 24 * time.Hour
	// DefaultMaxRecordBytes is the largest record the relay writes with its
	// default request body limit of 1 MiB: a reply with its metadata, plus
	// the record's own fields.
	DefaultMaxRecordBytes = 1<<20 + 16<<10
	// DefaultMaxReconnectWait caps the back-off between connection attempts.
	DefaultMaxReconnectWait = 2 * time.Second
)

const (
	// attemptTimeout bounds one attempt of a write or one read; a write is
	// retried until its WriteTimeout.
	attemptTimeout = 2 * time.Second
	// headerAllowance is what a record's subject and headers add to it.
	headerAllowance = 4 << 10
	// maintainEvery is how often the store refreshes its size for Health
	// and forgets expired tombstones.
	maintainEvery = 10 * time.Second
	// applyWait bounds how long an acknowledged write waits for this
	// instance's consumer to make it readable, when it cannot do so itself.
	applyWait = 5 * time.Second
	// reconnectGrace is how long a call waits for a lost connection to come
	// back before it fails: long enough for a client to move to another
	// server of a cluster, short enough that calls fail promptly when NATS
	// is down.
	reconnectGrace = 500 * time.Millisecond
)

// Options configure Open.
type Options struct {
	// URLs are the NATS servers, comma-separated (nats:// or tls://, with
	// user:password@ where the server wants it).
	URLs string
	// Creds are the contents of a NATS .creds file (JWT and nkey seed);
	// optional.
	Creds []byte
	// Replicas of the stream (default 1). A write succeeds once a quorum of
	// them stored it.
	Replicas int
	// Prefix names the stream and starts every subject (default
	// DefaultPrefix). Relays with different prefixes share a NATS account
	// without seeing each other's records.
	Prefix string
	// RootKey seals and opens secrets at rest. Required; every instance of
	// one relay must use the same.
	RootKey *seal.RootKey
	// Now stamps messages and responses (default time.Now).
	Now func() time.Time
	// Logger receives the store's warnings (default slog.Default()).
	Logger *slog.Logger
	// OnAppend, if set, is called with the user's id whenever a message of
	// theirs becomes readable on this instance, whichever instance appended
	// it: the change feed for live delivery. It runs on the goroutine that
	// makes the message readable (the append's, or the consumer's) and must
	// not block.
	OnAppend func(userID string)
	// OnCommit, if set, observes every write: its duration (retries
	// included) and outcome.
	OnCommit func(storage.Commit)
	// Registry, if set, receives the store's commit metrics (those of
	// storage/bolt but the pages written, which JetStream does not tell).
	Registry prometheus.Registerer
	// WriteTimeout bounds how long a write is retried while JetStream does
	// not answer (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// TombstoneTTL is how long a deleted record's tombstone is kept (default
	// DefaultTombstoneTTL).
	TombstoneTTL time.Duration
	// MaxRecordBytes is the largest record the relay writes (default
	// DefaultMaxRecordBytes; the request body limit plus 16 KiB). A NATS
	// server whose max_payload is smaller is refused.
	MaxRecordBytes int
	// MaxReconnectWait caps the back-off between connection attempts
	// (default DefaultMaxReconnectWait).
	MaxReconnectWait time.Duration
}

// Store is the JetStream implementation of storage.Store.
type Store struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	key  *seal.RootKey
	subj subjects

	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream // set by setup, before ready

	getter   *getter
	recent   *recent
	idx      *msgIndex
	view     *view
	mFollow  *follower // the message logs' consumer
	rFollow  *follower // the records' consumer
	locks    keyLocks
	connWake chan struct{} // a connection was (re)established
	checkKey bool          // refuse a root key the store was not sealed with
	indexKey indexKeyCache
	onCommit func(storage.Commit) // Options.OnCommit, and the metrics

	// ctx is cancelled by Close: it ends retries, waits and background work.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines

	// opsMu is held for reading by every call in progress, so that Close
	// can wait for them.
	opsMu    sync.RWMutex
	closed   atomic.Bool
	ready    atomic.Bool
	readyCh  chan struct{} // closed once ready or failed for good
	fatalMu  sync.Mutex
	fatal    error
	degraded atomic.Bool
	size     atomic.Int64
}

var _ storage.Store = (*Store)(nil)

// Open connects to NATS, creates or updates the stream, loads this
// instance's view of the records and index of the messages, and checks the
// root key. It refuses a root key other than the one the store was sealed
// with (an error wrapping seal.ErrWrongKey) and a NATS whose max_payload is
// below MaxRecordBytes.
//
// When NATS cannot be reached, or JetStream does not answer, Open does not
// fail: it returns a store that connects in the background, with back-off
// and without end, and becomes usable once connected (Health().Open). Until
// then every call fails with storage.ErrUnavailable. Wait tells when it is
// ready or has failed for good. ctx bounds how long Open waits for its first
// attempt (loading a large store takes a while: 0.35 s for 100,000
// messages on a local server).
func Open(ctx context.Context, opts Options) (*Store, error) { return open(ctx, opts, true) }

// open is Open; checkKey false skips the root key's check (for rotation,
// which finds values under either key).
func open(ctx context.Context, opts Options, checkKey bool) (*Store, error) {
	if opts.RootKey == nil {
		return nil, errors.New("jetstream: open: a root key is required")
	}
	if opts.URLs == "" {
		return nil, errors.New("jetstream: open: no NATS URL")
	}
	opts = withDefaults(opts)
	if !ValidPrefix(opts.Prefix) {
		return nil, fmt.Errorf("jetstream: open: prefix %q is not 1 to 32 of [A-Za-z0-9_-]", opts.Prefix)
	}
	s := &Store{
		opts: opts, log: opts.Logger, now: opts.Now, key: opts.RootKey,
		subj: subjects{prefix: opts.Prefix}, idx: newMsgIndex(), view: newView(opts.RootKey), recent: newRecent(),
		mFollow: newFollower("messages"), rFollow: newFollower("records"),
		locks: keyLocks{m: map[string]*keyLock{}}, connWake: make(chan struct{}, 1), readyCh: make(chan struct{}),
		checkKey: checkKey, onCommit: opts.OnCommit,
	}
	var metrics *storemetrics.Commits
	if opts.Registry != nil {
		metrics = storemetrics.New(false)
		s.onCommit = metrics.Hook(opts.OnCommit)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	natsOpts, err := s.natsOptions()
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("jetstream: credentials: %w", err)
	}
	nc, err := nats.Connect(opts.URLs, natsOpts...)
	if err != nil { // a bad URL; unreachable servers are retried
		s.cancel()
		return nil, fmt.Errorf("jetstream: connect: %w", err)
	}
	s.nc = nc
	if s.js, err = jetstream.New(nc); err == nil {
		s.getter, err = newGetter(nc, opts.Prefix)
	}
	if err != nil {
		s.cancel()
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	first := make(chan error, 1)
	s.wg.Go(func() { s.run(first) })
	select {
	case err = <-first:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	if metrics != nil { // once the store is open: a failed Open registers nothing
		metrics.Register(opts.Registry)
	}
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = DefaultTombstoneTTL
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxReconnectWait <= 0 {
		o.MaxReconnectWait = DefaultMaxReconnectWait
	}
	return o
}

func (s *Store) natsOptions() ([]nats.Option, error) {
	maxWait := s.opts.MaxReconnectWait
	opts := []nats.Option{
		nats.Name("relay"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		// Back-off from 50 ms up to maxWait, so that a restarted server is
		// found quickly and a long outage costs little.
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return min(maxWait, 50*time.Millisecond<<min(attempts, 10))
		}),
		// While disconnected a publish fails at once instead of being
		// buffered: a write is never reported before JetStream has it.
		nats.ReconnectBufSize(-1),
		nats.Timeout(attemptTimeout),
		nats.ConnectHandler(func(*nats.Conn) { s.wake() }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
			s.wake()
			s.rFollow.kick() // what the consumers sent meanwhile was lost
			s.mFollow.kick()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !s.closed.Load() {
				s.log.Warn("disconnected from NATS", "err", err)
			}
		}),
	}
	if len(s.opts.Creds) > 0 {
		creds, err := credsOption(s.opts.Creds)
		if err != nil {
			return nil, err
		}
		opts = append(opts, creds)
	}
	return opts, nil
}

func (s *Store) wake() {
	select {
	case s.connWake <- struct{}{}:
	default:
	}
}

// run brings the store up (once connected) and then maintains it. It sends
// the outcome of the first attempt on first: nil when the store is ready,
// still connecting or retrying, the error when it failed for good.
func (s *Store) run(first chan<- error) {
	report := func(err error) {
		if first != nil {
			first <- err
			first = nil
		}
	}
	delay := 50 * time.Millisecond
	for {
		if !s.nc.IsConnected() {
			report(nil)
			select {
			case <-s.ctx.Done():
				return
			case <-s.connWake:
			}
			continue
		}
		err := s.setup()
		if err == nil {
			break
		}
		var f *fatalError
		if errors.As(err, &f) {
			s.setFatal(f.err)
			report(f.err)
			return
		}
		if s.ctx.Err() != nil {
			report(nil)
			return
		}
		s.log.Warn("store not ready, retrying", "err", err, "retry_in", delay)
		report(nil)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, s.opts.MaxReconnectWait)
	}
	s.ready.Store(true)
	close(s.readyCh)
	report(nil)
	s.maintain()
}

// fatalError is a setup failure that retrying cannot cure.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

func (s *Store) setFatal(err error) {
	s.fatalMu.Lock()
	s.fatal = err
	s.fatalMu.Unlock()
	s.log.Error("store refused", "err", err)
	close(s.readyCh)
}

func (s *Store) fatalErr() error {
	s.fatalMu.Lock()
	defer s.fatalMu.Unlock()
	return s.fatal
}

// maintain refreshes the store's size for Health and forgets the tombstones
// JetStream has let expire, until Close.
func (s *Store) maintain() {
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		if s.nc.IsConnected() {
			ctx, cancel := context.WithTimeout(s.ctx, attemptTimeout)
			if info, err := s.stream.Info(ctx); err == nil {
				s.size.Store(int64(info.State.Bytes))
			}
			cancel()
		}
		s.view.forgetTombs(time.Now().Add(-s.opts.TombstoneTTL)) // JetStream's clock, not the relay's
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Wait blocks until the store is ready (nil), has failed for good (the
// error, e.g. a wrong root key found after a background connect), or ctx
// ends.
func (s *Store) Wait(ctx context.Context) error {
	select {
	case <-s.readyCh:
		return s.fatalErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Health implements storage.Store. Open is true while the store is ready and
// connected to NATS; Degraded while the most recent write failed.
func (s *Store) Health() storage.Health {
	open := !s.closed.Load() && s.ready.Load() && s.nc.IsConnected()
	return storage.Health{Engine: "nats", Open: open, Degraded: s.degraded.Load(), SizeBytes: s.size.Load()}
}

// Close stops accepting calls, waits for those in progress, stops following
// the stream and closes the connection.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.cancel()
	s.opsMu.Lock() // every call in progress has returned; later ones see closed
	defer s.opsMu.Unlock()
	s.wg.Wait()
	s.mFollow.stop()
	s.rFollow.stop()
	s.getter.close()
	s.nc.Close()
	return nil
}

// enter starts a call: it fails when the store is closed, failed or not
// usable now, and otherwise holds opsMu for reading until leave.
func (s *Store) enter() error {
	s.opsMu.RLock()
	if err := s.usable(); err != nil {
		s.opsMu.RUnlock()
		return err
	}
	return nil
}

func (s *Store) leave() { s.opsMu.RUnlock() }

func (s *Store) usable() error {
	switch {
	case s.closed.Load():
		return storage.ErrClosed
	case !s.ready.Load():
		if err := s.fatalErr(); err != nil {
			return err
		}
		return fmt.Errorf("jetstream: %w: not connected to NATS yet", storage.ErrUnavailable)
	case !s.waitConnected(s.ctx):
		return fmt.Errorf("jetstream: %w: disconnected from NATS", storage.ErrUnavailable)
	}
	return nil
}

// waitConnected reports whether the connection is up, waiting up to
// reconnectGrace for it to come back.
func (s *Store) waitConnected(ctx context.Context) bool {
	if s.nc.IsConnected() {
		return true
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(reconnectGrace)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if s.nc.IsConnected() {
			return true
		}
	}
	return false
}

// wrap prefixes err with the operation, keeping nil nil and sentinels
// matchable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("jetstream: %s: %w", op, err)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
