package cluster

import (
	"cmp"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Node is a member of the cluster as its last heartbeat describes it.
type Node struct {
	ID, Version, Addr string
	Started, Beat     time.Time
	Sockets           int
	Self              bool // this process
}

// Stats are the figures a node publishes with each heartbeat.
type Stats struct {
	Sockets int `json:"sockets"` // open WebSockets
}

// beat is a heartbeat as the nodes bucket holds it, under the node's id.
type beat struct {
	ID      string    `json:"id"`
	Version string    `json:"version,omitempty"`
	Addr    string    `json:"addr,omitempty"`
	Started time.Time `json:"started"`
	Beat    time.Time `json:"beat"`
	Stats
}

// nodeSet is the local copy of the nodes bucket: the alive nodes. A node
// is alive while its heartbeat is in the bucket, which expires it DeadAfter
// after it was written; the expiry's marker removes it here. Judging by the
// bucket rather than by comparing beat times with the local clock keeps
// nodes whose clocks disagree from declaring each other dead.
type nodeSet struct {
	self     string
	onChange func() // after the set of ids changed; on the follower's goroutine

	mu      sync.Mutex
	m       map[string]Node
	changed chan struct{} // closed, and replaced, when the set of ids changes
}

func newNodeSet(self string, onChange func()) *nodeSet {
	return &nodeSet{self: self, onChange: onChange, m: map[string]Node{}, changed: make(chan struct{})}
}

// apply is the follower's apply.
func (s *nodeSet) apply(e jetstream.KeyValueEntry) {
	s.mu.Lock()
	_, had := s.m[e.Key()]
	n, ok := decodeBeat(e)
	if ok {
		s.m[e.Key()] = n
	} else {
		delete(s.m, e.Key())
	}
	changed := had != ok
	if changed {
		s.changedLocked()
	}
	s.mu.Unlock()
	if changed {
		s.onChange()
	}
}

// reset is the follower's reset.
func (s *nodeSet) reset(all []jetstream.KeyValueEntry) {
	m := map[string]Node{}
	for _, e := range all {
		if n, ok := decodeBeat(e); ok {
			m[e.Key()] = n
		}
	}
	s.mu.Lock()
	changed := len(m) != len(s.m)
	for id := range m {
		if _, ok := s.m[id]; !ok {
			changed = true
		}
	}
	s.m = m
	if changed {
		s.changedLocked()
	}
	s.mu.Unlock()
	if changed {
		s.onChange()
	}
}

// changedLocked wakes whoever waits for a change. Lock must be held.
func (s *nodeSet) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// decodeBeat returns the node of a heartbeat entry, or false for a
// deletion, an expiry or a value that is not a heartbeat.
func decodeBeat(e jetstream.KeyValueEntry) (Node, bool) {
	if e.Operation() != jetstream.KeyValuePut {
		return Node{}, false
	}
	var b beat
	if json.Unmarshal(e.Value(), &b) != nil {
		return Node{}, false
	}
	return Node{ID: e.Key(), Version: b.Version, Addr: b.Addr, Started: b.Started, Beat: b.Beat, Sockets: b.Sockets}, true
}

// alive reports whether node id is alive. This node always is.
func (s *nodeSet) alive(id string) bool {
	if id == s.self {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	return ok
}

// watch returns whether id is alive and a channel closed at the next
// change of the set: a waiter checks again when it closes.
func (s *nodeSet) watch(id string) (alive bool, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	return ok || id == s.self, s.changed
}

// list returns the alive nodes sorted by ID, with self (as given) in any case.
func (s *nodeSet) list(self Node) []Node {
	s.mu.Lock()
	nodes := make([]Node, 0, len(s.m)+1)
	for id, n := range s.m {
		if id != s.self {
			nodes = append(nodes, n)
		}
	}
	s.mu.Unlock()
	self.Self = true
	nodes = append(nodes, self)
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return nodes
}

// others is the number of alive nodes other than this one.
func (s *nodeSet) others() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.m)
	if _, ok := s.m[s.self]; ok {
		n--
	}
	return n
}
