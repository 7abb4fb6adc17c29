package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/seal"
)

// setupTimeout bounds the API calls of setup (not the loading of the view).
const setupTimeout = 10 * time.Second

// streamConfig is the one stream that holds every record. One stream, so
// that every multi-record change can be one atomic batch.
func (s *Store) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              s.opts.Prefix,
		Description:       "relay store (storage/jetstream)",
		Subjects:          []string{s.opts.Prefix + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          s.opts.Replicas,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		MaxMsgSize:        -1,
		// Records roll their subject up; tombstones expire.
		AllowRollup: true,
		AllowMsgTTL: true,
		// Multi-record changes are atomic batches with per-subject expectations.
		AllowAtomicPublish: true,
		// Pages of messages are read with direct batch gets; what a lagging
		// follower misses is read again from the leader (read.go).
		AllowDirect: true,
	}
}

// setup creates or updates the stream, starts following it, waits until the
// view and the index hold everything the stream held, and checks the root
// key. Errors wrapped in fatalError are final.
func (s *Store) setup() error {
	if mp, want := s.nc.MaxPayload(), int64(s.opts.MaxRecordBytes+headerAllowance); mp < want {
		return &fatalError{fmt.Errorf("jetstream: the NATS server's max_payload is %d bytes, less than the %d of the largest record the relay writes: "+
			"set max_payload to at least %d (e.g. \"max_payload: 2MB\") in the nats-server configuration", mp, want, want)}
	}
	ctx, cancel := context.WithTimeout(s.ctx, setupTimeout)
	defer cancel()
	stream, err := s.js.CreateOrUpdateStream(ctx, s.streamConfig())
	if err != nil {
		return fmt.Errorf("jetstream: stream %s: %w", s.opts.Prefix, err)
	}
	if s.stream == nil {
		s.stream = stream
		if err := s.follow(ctx); err != nil {
			s.stream = nil
			return err
		}
	}
	for _, f := range []*follower{s.rFollow, s.mFollow} {
		select {
		case <-f.caughtUp:
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
	if !s.checkKey {
		return nil
	}
	return s.checkRootKey()
}

// follow starts the two consumers that keep the view and the index
// current. Their followers make them again after a reconnect or the loss of
// their server (follow.go).
func (s *Store) follow(ctx context.Context) error {
	if err := s.rFollow.start(ctx, s.stream, s.opts.Prefix+".r.>", s.log, s.consumeRecord); err != nil {
		return err
	}
	if err := s.mFollow.start(ctx, s.stream, s.opts.Prefix+".m.>", s.log, s.consumeMessage); err != nil {
		s.rFollow.stop()
		return err
	}
	return nil
}

// checkRootKey refuses a root key other than the one the store's sealed
// values were sealed with, and on a new store writes the check value that
// ties the store to the key.
func (s *Store) checkRootKey() error {
	if err := s.checkKeyIDs(); err != nil {
		return &fatalError{err}
	}
	key := recKey(kindMeta, keycheckKey)
	for range 3 {
		if s.view.metaValue(keycheckKey) != nil {
			return nil
		}
		sealed, err := seal.Seal(s.key, seal.AAD("meta", keycheckKey), []byte("relay"))
		if err != nil {
			return &fatalError{err}
		}
		w := s.newWrite()
		w.put(s.subj.rec(kindMeta, keycheckKey), s.view.seqOf(key), sealed)
		err = s.commit(s.ctx, w)
		var c *conflictError
		if !errors.As(err, &c) {
			return err
		}
		if err := s.resolve(s.ctx, w); err != nil { // another instance wrote it first
			return err
		}
		if err := s.checkKeyIDs(); err != nil {
			return &fatalError{err}
		}
	}
	return fmt.Errorf("jetstream: root key check value: %w", storage.ErrUnavailable)
}

// checkKeyIDs checks the key id of every sealed value in the view.
func (s *Store) checkKeyIDs() error {
	for name, v := range s.view.sealedValues() {
		id, err := seal.KeyID(v)
		if err != nil {
			return fmt.Errorf("jetstream: sealed value %s: %w", name, err)
		}
		if id != s.key.ID() {
			return fmt.Errorf("jetstream: %w: store sealed under root key %s, configured key is %s", seal.ErrWrongKey, id, s.key.ID())
		}
	}
	return nil
}
