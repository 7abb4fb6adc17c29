package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaos-relay/relay/server/mcp"
)

const (
	// mcpRefreshEvery is how often, at most, a session's use is written to
	// the bucket (a tenth of the TTL when that is shorter): a session used
	// more often costs no write, and may expire that much early.
	mcpRefreshEvery = time.Minute
	// mcpCancelSubject follows the subject root (subjectRoot):
	// notifications/cancelled for every node.
	mcpCancelSubject = ".mcp.cancel"
)

// MCPSessions is mcp.Sessions and mcp.Cancels for a relay of several
// nodes, so that an MCP client's requests may reach any node.
//
// A session is a key of the "<prefix>_mcp" bucket, "<user>.<hash of its
// id>": the bucket never holds an id, and a record names the agent, the
// version, the client and the last use written, nothing secret. Every node
// keeps a copy of the bucket, current through a watch. A request costs a
// lookup in the copy, or one read from the bucket's leader when the copy
// has not seen the session yet (created on another node a moment ago) or
// finds it expired (another node may have used it since); and a write,
// with the session's TTL, when the last one is more than a minute old. The
// bucket expires a session the TTL after that write, and its marker removes
// it from every copy.
//
// A session removed on one node is refused by the others once their copy
// has seen the removal, milliseconds later. The cap per user is enforced
// by the node creating a session, from its copy: nodes that create
// sessions of one user at the same instant may leave it one or two over
// the cap, until its next session.
//
// Cancellations go to every node over the core NATS subject
// "<prefix>_cluster.mcp.cancel"; each hands them to its bridge, which
// cancels the request if it forwarded it.
type MCPSessions struct {
	c       *Cluster
	ttl     time.Duration
	perUser int
	refresh time.Duration
}

var (
	_ mcp.Sessions = (*MCPSessions)(nil)
	_ mcp.Cancels  = (*MCPSessions)(nil)
)

// MCPSessions returns the sessions of the MCP bridge, shared by every node:
// they live ttl after their last use, at most perUser per user. The nodes
// should agree on both; each applies its own to what it writes. One bridge
// per node subscribes to the cancellations.
func (c *Cluster) MCPSessions(ttl time.Duration, perUser int) *MCPSessions {
	return &MCPSessions{c: c, ttl: ttl, perUser: perUser, refresh: min(mcpRefreshEvery, ttl/10)}
}

// mcpRecord is a session's value in the bucket.
type mcpRecord struct {
	Agent   string `json:"agent"`
	Version string `json:"version"`
	Client  string `json:"client,omitempty"`
	Created int64  `json:"created"` // Unix milliseconds
	Used    int64  `json:"used"`    // the last use written, Unix milliseconds
}

// mcpEntry is a session of the local copy.
type mcpEntry struct {
	rec mcpRecord
	rev uint64
}

// mcpKey is a session's key: its user's token and the hash of its id.
func mcpKey(userID, id string) string { return token(userID) + "." + hashToken(id) }

func (s *MCPSessions) live(rec mcpRecord, now time.Time) bool {
	return now.Sub(time.UnixMilli(rec.Used)) < s.ttl
}

// Create implements mcp.Sessions: it removes the user's least recently
// used sessions beyond the cap, as the copy knows them, and writes s.
func (s *MCPSessions) Create(ctx context.Context, ss mcp.Session) error {
	now := s.c.o.Now()
	for _, key := range s.c.mcp.beyond(token(ss.UserID), s.perUser-1, now, s.ttl) {
		if err := s.purge(ctx, key); err != nil {
			return fmt.Errorf("cluster: mcp session: evict: %w", err)
		}
	}
	rec := mcpRecord{Agent: ss.AgentID, Version: ss.Version, Client: ss.Client,
		Created: ss.Created.UnixMilli(), Used: now.UnixMilli()}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := mcpKey(ss.UserID, ss.ID)
	rev, err := s.c.kv.mcp.Create(ctx, key, data, jetstream.KeyTTL(wholeSeconds(s.ttl)))
	if err != nil {
		return fmt.Errorf("cluster: mcp session: create: %w", err)
	}
	s.c.mcp.put(key, mcpEntry{rec, rev})
	return nil
}

// Use implements mcp.Sessions.
func (s *MCPSessions) Use(ctx context.Context, id, userID, agentID string) (mcp.Session, error) {
	key := mcpKey(userID, id)
	now := s.c.o.Now()
	e, ok := s.c.mcp.get(key)
	if !ok || !s.live(e.rec, now) {
		var err error
		if e, err = s.read(ctx, key); err != nil {
			return mcp.Session{}, err
		}
		if !s.live(e.rec, now) {
			return mcp.Session{}, mcp.ErrNoSession
		}
	}
	if e.rec.Agent != agentID {
		return mcp.Session{}, mcp.ErrNoSession
	}
	if now.Sub(time.UnixMilli(e.rec.Used)) >= s.refresh {
		if err := s.touch(ctx, key, e, now); err != nil {
			return mcp.Session{}, err
		}
	}
	s.c.mcp.saw(key, now.UnixMilli())
	return mcp.Session{ID: id, UserID: userID, AgentID: e.rec.Agent, Version: e.rec.Version, Client: e.rec.Client,
		Created: time.UnixMilli(e.rec.Created)}, nil
}

// read gets a session from the bucket's leader into the copy (a session
// created on another node a moment ago may not be on every replica yet):
// mcp.ErrNoSession when it is not there.
func (s *MCPSessions) read(ctx context.Context, key string) (mcpEntry, error) {
	cur, err := s.c.last(ctx, s.c.kv.mcp, key)
	if err != nil {
		return mcpEntry{}, fmt.Errorf("cluster: mcp session: %w", err)
	}
	if !cur.put { // never written, deleted or expired
		s.c.mcp.drop(key)
		return mcpEntry{}, mcp.ErrNoSession
	}
	e, err := decodeMCP(key, cur.value, cur.rev)
	if err != nil {
		s.c.log.Warn("cluster: mcp session: bad record", "err", err)
		return mcpEntry{}, mcp.ErrNoSession
	}
	s.c.mcp.put(key, e)
	return e, nil
}

// touch writes a use of the session at now, unless another node wrote one
// since e; it returns mcp.ErrNoSession when the session is gone. A write
// that fails otherwise is logged, and the session served: the next use
// writes again.
func (s *MCPSessions) touch(ctx context.Context, key string, e mcpEntry, now time.Time) error {
	rec := e.rec
	rec.Used = now.UnixMilli()
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	rev, err := s.c.updateTTL(ctx, s.c.kv.mcp, key, data, e.rev, s.ttl)
	switch {
	case err == nil:
		s.c.mcp.put(key, mcpEntry{rec, rev})
	case isConflict(err):
		// Another node wrote a use, or the session was removed or
		// expired: the bucket says which.
		if _, err := s.read(ctx, key); errors.Is(err, mcp.ErrNoSession) {
			return err
		}
	default:
		s.c.mcpLog.warn(s.c.log, "cluster: mcp session: write its use", "err", err)
	}
	return nil
}

// Remove implements mcp.Sessions.
func (s *MCPSessions) Remove(ctx context.Context, ss mcp.Session) error {
	if err := s.purge(ctx, mcpKey(ss.UserID, ss.ID)); err != nil {
		return fmt.Errorf("cluster: mcp session: remove: %w", err)
	}
	return nil
}

// RemoveUser implements mcp.Sessions: it removes the user's sessions the
// bucket lists, and those the copy knows.
func (s *MCPSessions) RemoveUser(ctx context.Context, userID string) error {
	user := token(userID)
	lister, err := s.c.kv.mcp.ListKeysFiltered(ctx, user+".*")
	if err != nil {
		return fmt.Errorf("cluster: mcp session: list: %w", err)
	}
	keys := map[string]bool{}
	for key := range lister.Keys() {
		keys[key] = true
	}
	for _, key := range s.c.mcp.keys(user) {
		keys[key] = true
	}
	for key := range keys {
		if err := s.purge(ctx, key); err != nil {
			return fmt.Errorf("cluster: mcp session: remove: %w", err)
		}
	}
	return nil
}

// purge removes a session from the bucket, leaving a marker that tells the
// other nodes' copies and then expires, and from the copy.
func (s *MCPSessions) purge(ctx context.Context, key string) error {
	if err := s.c.kv.mcp.Purge(ctx, key, jetstream.PurgeTTL(markerTTL)); err != nil {
		return err
	}
	s.c.mcp.remove(key)
	return nil
}

// Count implements mcp.Sessions, from the copy.
func (s *MCPSessions) Count(userID string) int {
	user := ""
	if userID != "" {
		user = token(userID)
	}
	return s.c.mcp.count(user, s.c.o.Now(), s.ttl)
}

// mcpCancel is a cancellation on the wire.
type mcpCancel struct {
	Node      string          `json:"node"` // the sender, which has looked for the request itself
	Session   string          `json:"session"`
	RequestID json.RawMessage `json:"requestId"`
}

// Publish implements mcp.Cancels: core NATS, at most once, to every node.
func (s *MCPSessions) Publish(sessionID string, requestID json.RawMessage) {
	data, err := json.Marshal(mcpCancel{Node: s.c.id, Session: sessionID, RequestID: requestID})
	if err == nil {
		err = s.c.nc.Publish(s.c.subjectRoot()+mcpCancelSubject, data)
	}
	if err != nil {
		s.c.mcpLog.warn(s.c.log, "cluster: publish an mcp cancellation", "err", err)
	}
}

// Subscribe implements mcp.Cancels; a later call replaces fn.
func (s *MCPSessions) Subscribe(fn func(sessionID string, requestID json.RawMessage)) {
	s.c.mcp.mu.Lock()
	defer s.c.mcp.mu.Unlock()
	s.c.mcp.cancelled = fn
}

// mcpCopy is this node's copy of the MCP sessions bucket, and the
// subscription to the cancellations.
type mcpCopy struct {
	c   *Cluster
	sub *nats.Subscription

	mu     sync.Mutex
	byUser map[string]map[string]mcpEntry // user token → key → entry
	// removed are the keys this node purged, whose marker the watch has
	// not delivered yet: an older put it delivers meanwhile is ignored.
	removed map[string]bool
	// seen is when this node last used each session (Unix ms), written to
	// the bucket or not: the least recently used is then exact for the
	// sessions a node serves, and within the write interval for others'.
	seen      map[string]int64
	cancelled func(sessionID string, requestID json.RawMessage) // Subscribe's
}

func newMCPCopy(c *Cluster) *mcpCopy {
	return &mcpCopy{c: c, byUser: map[string]map[string]mcpEntry{}, removed: map[string]bool{}, seen: map[string]int64{}}
}

// saw records a use of key by this node at ms.
func (m *mcpCopy) saw(key string, ms int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byUser[strings.SplitN(key, ".", 2)[0]][key]; ok {
		m.seen[key] = max(m.seen[key], ms)
	}
}

// subscribe subscribes to the cancellations.
func (m *mcpCopy) subscribe() error {
	sub, err := m.c.nc.Subscribe(m.c.subjectRoot()+mcpCancelSubject, m.onCancel)
	if err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	m.sub = sub
	return nil
}

// onCancel hands another node's cancellation to the bridge.
func (m *mcpCopy) onCancel(msg *nats.Msg) {
	var cm mcpCancel
	if json.Unmarshal(msg.Data, &cm) != nil || cm.Node == m.c.id {
		return
	}
	m.mu.Lock()
	fn := m.cancelled
	m.mu.Unlock()
	if fn != nil {
		fn(cm.Session, cm.RequestID)
	}
}

// decodeMCP decodes a session's value.
func decodeMCP(key string, value []byte, rev uint64) (mcpEntry, error) {
	var rec mcpRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return mcpEntry{}, fmt.Errorf("key %s: %w", key, err)
	}
	return mcpEntry{rec, rev}, nil
}

// apply is the follower's apply.
func (m *mcpCopy) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		m.mu.Lock()
		delete(m.removed, key)
		m.dropLocked(key)
		m.mu.Unlock()
		return
	}
	me, err := decodeMCP(key, e.Value(), e.Revision())
	if err != nil {
		m.c.log.Debug("cluster: mcp session: bad record", "err", err)
		return
	}
	m.put(key, me)
}

// reset is the follower's reset: the copy becomes the snapshot. A key this
// node purged stays out while the snapshot still has it (its marker is on
// the way).
func (m *mcpCopy) reset(all []jetstream.KeyValueEntry) {
	byUser := map[string]map[string]mcpEntry{}
	removed := map[string]bool{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range all {
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		key := e.Key()
		if m.removed[key] {
			removed[key] = true
			continue
		}
		me, err := decodeMCP(key, e.Value(), e.Revision())
		user, _, ok := strings.Cut(key, ".")
		if err != nil || !ok {
			continue
		}
		if byUser[user] == nil {
			byUser[user] = map[string]mcpEntry{}
		}
		byUser[user][key] = me
	}
	m.byUser, m.removed = byUser, removed
	for key := range m.seen {
		if _, ok := byUser[strings.SplitN(key, ".", 2)[0]][key]; !ok {
			delete(m.seen, key)
		}
	}
}

// get returns the copy's entry of key.
func (m *mcpCopy) get(key string) (mcpEntry, bool) {
	user, _, _ := strings.Cut(key, ".")
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byUser[user][key]
	return e, ok
}

// put stores e unless the copy has a later revision of key, or this node
// purged it.
func (m *mcpCopy) put(key string, e mcpEntry) {
	user, _, ok := strings.Cut(key, ".")
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.removed[key] {
		return
	}
	if cur, ok := m.byUser[user][key]; ok && cur.rev >= e.rev {
		return
	}
	if m.byUser[user] == nil {
		m.byUser[user] = map[string]mcpEntry{}
	}
	m.byUser[user][key] = e
}

// remove forgets a key this node purged.
func (m *mcpCopy) remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removed[key] = true
	m.dropLocked(key)
}

// drop forgets a key the bucket does not have.
func (m *mcpCopy) drop(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropLocked(key)
}

// dropLocked forgets key. Lock must be held.
func (m *mcpCopy) dropLocked(key string) {
	user, _, _ := strings.Cut(key, ".")
	delete(m.seen, key)
	if s := m.byUser[user]; s != nil {
		delete(s, key)
		if len(s) == 0 {
			delete(m.byUser, user)
		}
	}
}

// keys are the keys of a user's sessions in the copy.
func (m *mcpCopy) keys(user string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for key := range m.byUser[user] {
		keys = append(keys, key)
	}
	return keys
}

// beyond returns the keys of a user's live sessions beyond the keep most
// recently used.
func (m *mcpCopy) beyond(user string, keep int, now time.Time, ttl time.Duration) []string {
	type session struct {
		key string
		rec mcpRecord
	}
	var live []session
	m.mu.Lock()
	for key, e := range m.byUser[user] {
		if now.Sub(time.UnixMilli(e.rec.Used)) < ttl {
			e.rec.Used = max(e.rec.Used, m.seen[key])
			live = append(live, session{key, e.rec})
		}
	}
	m.mu.Unlock()
	if len(live) <= keep {
		return nil
	}
	slices.SortFunc(live, func(a, b session) int {
		return cmp.Or(-cmp.Compare(a.rec.Used, b.rec.Used), -cmp.Compare(a.rec.Created, b.rec.Created), strings.Compare(a.key, b.key))
	})
	keys := make([]string, 0, len(live)-keep)
	for _, s := range live[max(keep, 0):] {
		keys = append(keys, s.key)
	}
	return keys
}

// count is the number of live sessions of a user token, or of all for "".
func (m *mcpCopy) count(user string, now time.Time, ttl time.Duration) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	users := m.byUser
	if user != "" {
		users = map[string]map[string]mcpEntry{user: m.byUser[user]}
	}
	n := 0
	for _, s := range users {
		for _, e := range s {
			if now.Sub(time.UnixMilli(e.rec.Used)) < ttl {
				n++
			}
		}
	}
	return n
}
