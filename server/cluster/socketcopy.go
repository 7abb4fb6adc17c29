package cluster

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// socketEntry is a socket of the local copy of the sockets bucket.
type socketEntry struct {
	node   string
	opened time.Time
	rev    uint64
	seen   time.Time // when it reached the copy (real clock)
}

// excessWatch is a registration of OnExcess.
type excessWatch struct {
	limit int
	fn    func(userID string, connIDs []string)
}

// decodeSocket returns the user token and entry of an update of the
// bucket, ok=false for a purge or a key this code did not write.
func decodeSocket(e jetstream.KeyValueEntry, now time.Time) (user, key string, se socketEntry, ok bool) {
	user, node, ok := splitSocketKey(e.Key())
	if !ok {
		return "", "", socketEntry{}, false
	}
	se = socketEntry{node: node, rev: e.Revision(), seen: now}
	if e.Operation() != jetstream.KeyValuePut {
		return user, e.Key(), se, false
	}
	se.opened, _ = time.Parse(time.RFC3339Nano, string(e.Value())) // zero, the oldest, if garbled
	return user, e.Key(), se, true
}

// apply is the follower's apply.
func (s *socketSet) apply(e jetstream.KeyValueEntry) {
	user, key, se, ok := decodeSocket(e, time.Now())
	if user == "" {
		return
	}
	s.copyMu.Lock()
	m := s.byUser[user]
	if ok {
		if m == nil {
			m = map[string]socketEntry{}
			s.byUser[user] = m
		}
		m[key] = se
	} else if m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(s.byUser, user)
		}
	}
	s.copyMu.Unlock()
	s.checkExcess([]string{user})
}

// reset is the follower's reset.
func (s *socketSet) reset(all []jetstream.KeyValueEntry) {
	now := time.Now()
	byUser := map[string]map[string]socketEntry{}
	for _, e := range all {
		if user, key, se, ok := decodeSocket(e, now); ok {
			if byUser[user] == nil {
				byUser[user] = map[string]socketEntry{}
			}
			byUser[user][key] = se
		}
	}
	s.copyMu.Lock()
	s.byUser = byUser
	s.copyMu.Unlock()
	s.checkExcess(s.ownUsers())
}

// nodesChanged is the nodeSet's onChange: a node that died or came back
// changes which sockets count.
func (s *socketSet) nodesChanged() {
	s.checkExcess(s.ownUsers())
}

// SocketNodes returns the alive nodes that hold sockets of the user, this
// one included, sorted, per the local copy of the sockets bucket.
func (c *Cluster) SocketNodes(userID string) []string {
	s := c.sockets
	s.copyMu.Lock()
	defer s.copyMu.Unlock()
	var nodes []string
	for _, se := range s.byUser[token(userID)] {
		if !slices.Contains(nodes, se.node) && c.nodes.alive(se.node) {
			nodes = append(nodes, se.node)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// OnExcess calls fn whenever the local copy of the sockets bucket changes
// for a user who has more than limit sockets on alive nodes, with the
// user's sockets on this node among the oldest ones over the limit
// (ordered by opening time, then key). Every node sorts the same copy the
// same way, so each closes its own share and together they close exactly
// the excess. fn runs on the goroutine that follows the bucket: it must
// not block, and it is called again on the next change if the sockets
// are still open, so it must be idempotent.
func (c *Cluster) OnExcess(limit int, fn func(userID string, connIDs []string)) {
	s := c.sockets
	s.copyMu.Lock()
	s.watches = append(s.watches, excessWatch{limit: limit, fn: fn})
	s.copyMu.Unlock()
	s.checkExcess(s.ownUsers())
}

// ownUsers returns the user tokens of this node's sockets.
func (s *socketSet) ownUsers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var users []string
	for key := range s.own {
		if user, _, ok := splitSocketKey(key); ok && !slices.Contains(users, user) {
			users = append(users, user)
		}
	}
	return users
}

// checkExcess calls the OnExcess functions for each of users over a
// limit. The functions are called one at a time.
func (s *socketSet) checkExcess(users []string) {
	s.excessMu.Lock()
	defer s.excessMu.Unlock()
	type call struct {
		fn   func(string, []string)
		keys []string
	}
	var calls []call
	s.copyMu.Lock()
	for _, user := range users {
		for _, w := range s.watches {
			if keys := s.excessLocked(user, w.limit); len(keys) > 0 {
				calls = append(calls, call{w.fn, keys})
			}
		}
	}
	s.copyMu.Unlock()
	for _, cl := range calls {
		s.mu.Lock()
		var userID string
		var conns []string
		for _, key := range cl.keys {
			if o, ok := s.own[key]; ok {
				userID, conns = o.userID, append(conns, o.connID)
			}
		}
		s.mu.Unlock()
		if len(conns) > 0 {
			cl.fn(userID, conns)
		}
	}
}

// excessLocked returns the keys of this node's sockets among the user's
// oldest over limit. Lock copyMu must be held.
func (s *socketSet) excessLocked(user string, limit int) []string {
	m := s.byUser[user]
	if len(m) <= limit || !s.anyOwnLocked(m) {
		return nil // few enough, or none of them this node's to close
	}
	type socket struct {
		key string
		socketEntry
	}
	list := make([]socket, 0, len(m))
	for key, se := range m {
		if s.c.nodes.alive(se.node) {
			list = append(list, socket{key, se})
		}
	}
	if len(list) <= limit {
		return nil
	}
	slices.SortFunc(list, func(a, b socket) int {
		return cmp.Or(a.opened.Compare(b.opened), cmp.Compare(a.key, b.key))
	})
	var keys []string
	for _, so := range list[:len(list)-limit] {
		if so.node == s.c.id {
			keys = append(keys, so.key)
		}
	}
	return keys
}

// anyOwnLocked reports whether one of the sockets m is this node's. Lock
// copyMu must be held.
func (s *socketSet) anyOwnLocked(m map[string]socketEntry) bool {
	for _, se := range m {
		if se.node == s.c.id {
			return true
		}
	}
	return false
}

// ownKeysInCopy returns the keys of this node's sockets in the copy, with
// their revisions.
func (s *socketSet) ownKeysInCopy() map[string]uint64 {
	s.copyMu.Lock()
	defer s.copyMu.Unlock()
	keys := map[string]uint64{}
	for _, m := range s.byUser {
		for key, se := range m {
			if se.node == s.c.id {
				keys[key] = se.rev
			}
		}
	}
	return keys
}

// sweepDead purges the sockets of nodes that are not alive and have been
// in the copy for DeadAfter at least (a node's sockets may reach the copy
// before its first heartbeat does). Each purge expects the revision seen,
// so that a socket the node wrote again since (it came back) stays.
func (s *socketSet) sweepDead(ctx context.Context) {
	type dead struct {
		key string
		rev uint64
	}
	var list []dead
	s.copyMu.Lock()
	for _, m := range s.byUser {
		for key, se := range m {
			if !s.c.nodes.alive(se.node) && time.Since(se.seen) >= s.c.o.DeadAfter {
				list = append(list, dead{key, se.rev})
			}
		}
	}
	s.copyMu.Unlock()
	for _, d := range list {
		err := s.c.kv.sockets.Purge(ctx, d.key, jetstream.LastRevision(d.rev), jetstream.PurgeTTL(markerTTL))
		if err != nil && !isConflict(err) && ctx.Err() == nil {
			s.c.socketLog.warn(s.c.log, "cluster: sweep dead sockets", "err", err)
			return
		}
	}
}

// janitor sweeps the sockets of dead nodes every DeadAfter while this node
// holds the "janitor" lease.
func (c *Cluster) janitor(ctx context.Context) {
	c.Lease("janitor").Run(ctx, func(ctx context.Context) {
		t := time.NewTicker(c.o.DeadAfter)
		defer t.Stop()
		for {
			c.sockets.sweepDead(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}
