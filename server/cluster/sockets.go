package cluster

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// socketTimeout bounds one write to the sockets bucket.
const socketTimeout = 5 * time.Second

// socketSet is this node's sockets, written to the sockets bucket in the
// background, and the local copy of the bucket (socketcopy.go).
//
// Lock order: excessMu before copyMu and before mu; copyMu before
// nodeSet.mu; mu and copyMu are never held together.
type socketSet struct {
	c        *Cluster
	excessMu sync.Mutex // serialises the calls of the OnExcess functions

	mu     sync.Mutex
	own    map[string]ownSocket // by key
	queue  []socketOp           // writes not done yet, in order
	signal chan struct{}        // cap 1: the queue is not empty

	copyMu  sync.Mutex
	byUser  map[string]map[string]socketEntry // user token → key → entry
	watches []excessWatch
}

// ownSocket is a socket of this node.
type ownSocket struct {
	userID, connID string
	opened         time.Time
}

// socketOp is a write to the sockets bucket: a put of value, or a purge.
type socketOp struct {
	key   string
	value []byte // nil: purge
}

func newSocketSet(c *Cluster) *socketSet {
	return &socketSet{c: c, own: map[string]ownSocket{}, signal: make(chan struct{}, 1),
		byUser: map[string]map[string]socketEntry{}}
}

// socketKey is "<user>.<node>.<conn>", user and conn as tokens.
func socketKey(userID, node, connID string) string {
	return token(userID) + "." + node + "." + token(connID)
}

// splitSocketKey returns the user token and node of a socket key.
func splitSocketKey(key string) (user, node string, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// SocketOpened registers a socket of this node for the user, opened at
// opened. It returns at once; the write happens in the background, and
// failures are logged and repaired by the node's periodic reconciliation.
func (c *Cluster) SocketOpened(userID, connID string, opened time.Time) {
	s := c.sockets
	key := socketKey(userID, c.id, connID)
	s.mu.Lock()
	s.own[key] = ownSocket{userID: userID, connID: connID, opened: opened}
	s.enqueueLocked(socketOp{key: key, value: []byte(opened.UTC().Format(time.RFC3339Nano))})
	s.mu.Unlock()
}

// SocketClosed unregisters a socket of this node, in the background.
func (c *Cluster) SocketClosed(userID, connID string) {
	s := c.sockets
	key := socketKey(userID, c.id, connID)
	s.mu.Lock()
	delete(s.own, key)
	s.enqueueLocked(socketOp{key: key})
	s.mu.Unlock()
}

// enqueueLocked queues a write. Lock must be held.
func (s *socketSet) enqueueLocked(op socketOp) {
	s.queue = append(s.queue, op)
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// ownCount is the number of this node's sockets.
func (s *socketSet) ownCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.own)
}

// writes does the queued writes, in order, until ctx ends. Without NATS
// they are dropped: the rejoin and the reconciliation write them again.
func (s *socketSet) writes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.signal:
		}
		s.mu.Lock()
		ops := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, op := range ops {
			if !s.c.nc.IsConnected() {
				break
			}
			if err := s.write(ctx, op); err != nil && ctx.Err() == nil {
				s.c.socketLog.warn(s.c.log, "cluster: socket registry", "err", err)
			}
		}
	}
}

// write does one write.
func (s *socketSet) write(ctx context.Context, op socketOp) error {
	ctx, cancel := context.WithTimeout(ctx, socketTimeout)
	defer cancel()
	if op.value == nil {
		return s.c.kv.sockets.Purge(ctx, op.key, jetstream.PurgeTTL(markerTTL))
	}
	_, err := s.c.kv.sockets.Put(ctx, op.key, op.value)
	return err
}

// rewrite queues a put of every socket of this node: after a reconnect,
// the janitor of another node may have purged them.
func (s *socketSet) rewrite() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, o := range s.own {
		s.enqueueLocked(socketOp{key: key, value: []byte(o.opened.UTC().Format(time.RFC3339Nano))})
	}
}

// reconcile makes the bucket agree with this node's sockets: it queues a
// put of each missing from the copy and a purge of each the copy has but
// this node does not (a failed purge).
func (s *socketSet) reconcile() {
	listed := s.ownKeysInCopy()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, o := range s.own {
		if _, ok := listed[key]; !ok {
			s.enqueueLocked(socketOp{key: key, value: []byte(o.opened.UTC().Format(time.RFC3339Nano))})
		}
	}
	for key := range listed {
		if _, ok := s.own[key]; !ok {
			s.enqueueLocked(socketOp{key: key})
		}
	}
}

// reconciles reconciles every DeadAfter while NATS is reachable, until ctx
// ends.
func (s *socketSet) reconciles(ctx context.Context) {
	t := time.NewTicker(s.c.o.DeadAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.c.nc.IsConnected() {
				s.reconcile()
			}
		}
	}
}

// purgeOwn purges every socket of this node from the bucket, at Close.
func (s *socketSet) purgeOwn(ctx context.Context) error {
	keys := s.ownKeysInCopy()
	s.mu.Lock()
	for key := range s.own {
		keys[key] = 0
	}
	s.mu.Unlock()
	for key := range keys {
		if err := s.c.kv.sockets.Purge(ctx, key, jetstream.PurgeTTL(markerTTL)); err != nil {
			return err
		}
	}
	return nil
}
