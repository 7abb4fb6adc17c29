// Package bolt is the relay's bbolt storage backend: one file, ordered keys
// whose byte order is time order, and a single writer goroutine that commits
// concurrent writes in groups (PROTOCOL §11.1).
package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bbolt "go.etcd.io/bbolt"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
	"github.com/chaos-relay/relay/storage/storemetrics"
)

// DefaultBatchMaxSize is the most writes one group commit holds. Larger groups
// amortise the fsync further but make every write in them wait for the slowest.
const DefaultBatchMaxSize = 64

// FileName is the database file inside the data directory.
const FileName = "relay.db"

// Options configure Open.
type Options struct {
	// RootKey seals and opens secrets at rest. Required.
	RootKey *seal.RootKey
	// BatchMaxSize is the most writes per group commit (default DefaultBatchMaxSize).
	BatchMaxSize int
	// Now is the clock that stamps messages and responses (default time.Now).
	Now func() time.Time
	// OnCommit, if set, observes every commit.
	OnCommit func(storage.Commit)
	// Registry, if set, receives the store's commit metrics.
	Registry prometheus.Registerer
	// OnAppend, if set, is called with the user's id after each message of
	// theirs is stored and readable: the change feed for live delivery. It
	// runs on the appending goroutine and must not block.
	OnAppend func(userID string)
}

// Store is the bbolt implementation of storage.Store.
type Store struct {
	db       *bbolt.DB
	key      *seal.RootKey
	indexKey []byte // keys the reclaim index (storage.FingerprintHash)
	now      func() time.Time
	onCommit func(storage.Commit)
	onAppend func(userID string)
	maxBatch int

	// mu guards closed and the send side of writes: writers hold it for reading
	// while they enqueue, Close holds it for writing to close the channel.
	mu       sync.RWMutex
	closed   bool
	writes   chan *write
	done     chan struct{}
	degraded atomic.Bool

	channels *chanCache

	// index finds each user's messages in the message log. changes is the
	// writer goroutine's record of what the transaction in progress does to it.
	index   *userIndex
	changes indexChanges

	// sweepMark is where the log's next sweep starts (ms): before it, only
	// messages with a retention of their own are left.
	sweepMark atomic.Uint64
}

var _ storage.Store = (*Store)(nil)

// write is one unit of a group commit. fn runs inside the shared transaction and
// may run more than once, so it must derive everything from tx.
type write struct {
	fn  func(tx *bbolt.Tx) error
	err chan error
}

// Open opens (creating if needed) the database in dir. It fails fast when
// another process holds the file lock, and refuses a store whose sealed values
// were sealed under a different root key.
func Open(dir string, opts Options) (*Store, error) {
	if opts.RootKey == nil {
		return nil, errors.New("bolt: open: a root key is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bolt: open: %w", err)
	}
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, &bbolt.Options{
		Timeout: time.Second, // a second process fails fast on the file lock
		// The freelist is rebuilt from the pages at open instead of being
		// written by every commit (as etcd does): far fewer dirty pages per
		// commit. Durability is unchanged: data and meta pages are fsynced.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		// Map a generous region up front so that growth rarely remaps (a remap
		// waits for every reader).
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", filepath.Join(dir, FileName), err)
	}
	s := &Store{
		db:       db,
		key:      opts.RootKey,
		now:      opts.Now,
		onCommit: opts.OnCommit,
		onAppend: opts.OnAppend,
		maxBatch: opts.BatchMaxSize,
		writes:   make(chan *write, 1024),
		done:     make(chan struct{}),
		channels: newChanCache(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBatch <= 0 {
		s.maxBatch = DefaultBatchMaxSize
	}

	err = db.Update(func(tx *bbolt.Tx) (err error) {
		if s.indexKey, err = prepare(tx, s.key); err != nil {
			return err
		}
		s.index = loadIndex(tx)
		s.changes.index = s.index
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if opts.Registry != nil { // once the store is open: a failed Open registers nothing
		m := storemetrics.New(true)
		m.Register(opts.Registry)
		s.onCommit = m.Hook(opts.OnCommit)
	}
	go s.writer()
	return s, nil
}

// Close stops accepting writes, waits for the queued ones to commit and closes
// the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.writes)
	s.mu.Unlock()
	<-s.done
	return s.db.Close()
}

// Health implements storage.Store.
func (s *Store) Health() storage.Health {
	s.mu.RLock()
	open := !s.closed
	s.mu.RUnlock()
	h := storage.Health{Engine: "bolt", Open: open, Degraded: s.degraded.Load()}
	if open {
		_ = s.db.View(func(tx *bbolt.Tx) error { h.SizeBytes = tx.Size(); return nil })
	}
	return h
}

// update runs fn in the next group commit and returns once that commit is
// durable. fn's own error fails only this write.
func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &write{fn: fn, err: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return storage.ErrClosed
	}
	s.writes <- w
	s.mu.RUnlock()
	// Once queued, the write may commit: wait for the truth rather than ctx.
	return <-w.err
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return storage.ErrClosed
	}
	return s.db.View(fn)
}

// writer is the single goroutine that owns write transactions. It commits the
// groups its batcher forms, one after the other.
func (s *Store) writer() {
	defer close(s.done)
	b := newBatcher(s.writes, s.maxBatch)
	group := make([]*write, 0, s.maxBatch)
	for {
		var ok bool
		if group, ok = b.next(group); !ok {
			return
		}
		start := time.Now()
		s.commit(group)
		b.committed(len(group), time.Since(start))
	}
}

// run runs the write's function in tx. A panic (in a caller's callback, such
// as UpdateChannel's fn) is that write's error: it must not take the writer
// goroutine down with it, or every later write would wait forever.
func (w *write) run(tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bolt: write panicked: %v", p)
		}
	}()
	return w.fn(tx)
}

// errWriteFailed marks a rollback caused by one write's own error.
var errWriteFailed = errors.New("bolt: write failed")

// commit runs group in one transaction. When a write fails, the transaction is
// rolled back, that write gets its error, and the others are re-run without it.
// The index learns what a transaction did once it has committed, before any of
// its writes is acknowledged.
func (s *Store) commit(group []*write) {
	for len(group) > 0 {
		failed, failErr := -1, error(nil)
		var start time.Time
		var pages int64
		if s.onCommit != nil {
			start, pages = time.Now(), s.pagesWritten()
		}
		s.changes.reset()
		err := s.db.Update(func(tx *bbolt.Tx) error {
			for i, w := range group {
				if err := w.run(tx); err != nil {
					failed, failErr = i, err
					return errWriteFailed
				}
			}
			return nil
		})
		if failed >= 0 {
			group[failed].err <- failErr
			group = append(group[:failed], group[failed+1:]...)
			continue
		}
		if s.onCommit != nil {
			// The writer is the only writer, so the counter's growth is this commit's.
			pages = s.pagesWritten() - pages
			s.onCommit(storage.Commit{Duration: time.Since(start), Writes: len(group), Pages: int(pages), Err: err})
		}
		if err != nil {
			// A failed fsync may have lost pages that a later fsync will not bring
			// back; report degraded until the process is restarted.
			s.degraded.Store(true)
			err = fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		} else {
			s.index.apply(&s.changes)
		}
		for _, w := range group {
			w.err <- err
		}
		return
	}
}

// pagesWritten is how many pages commits have written to the file so far.
func (s *Store) pagesWritten() int64 {
	stats := s.db.Stats()
	return stats.TxStats.GetWrite()
}
