package cluster

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chaos-relay/relay/server/mcp"
	"github.com/chaos-relay/relay/server/mcp/mcptest"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/jetstream/natstest"
)

// The contract of mcp.Sessions, each case on a node of its own.
func TestMCPSessionsContract(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	mcptest.RunSessions(t, func(t *testing.T, ttl time.Duration, perUser int, now func() time.Time) mcp.Sessions {
		o := options(t, connect(t, srv.URL()), newPrefix())
		o.Now = now
		return join(t, o).MCPSessions(ttl, perUser)
	})
}

// Two nodes share the sessions: a session created on one is usable on the
// other at once; a use is written at most once a minute and reaches the
// other's copy; a removal and the cap's eviction reach it too; the bucket
// holds no session id.
func TestMCPSessionsAcrossNodes(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	clk := mcptest.NewClock()
	prefix := newPrefix()
	var nodes [2]*Cluster
	for i, url := range []string{nats3.Servers[0].URL(), nats3.Servers[1].URL()} {
		o := options(t, connect(t, url), prefix)
		o.Replicas, o.Now = 3, clk.Now
		nodes[i] = join(t, o)
	}
	const ttl = 30 * time.Minute
	a, b := nodes[0].MCPSessions(ttl, 2), nodes[1].MCPSessions(ttl, 2)
	ctx := t.Context()
	newSession := func(user string) mcp.Session {
		return mcp.Session{ID: storage.NewID(), UserID: user, AgentID: "agent", Version: "2025-11-25", Client: "c 1", Created: clk.Now()}
	}
	use := func(s *MCPSessions, ss mcp.Session) error {
		_, err := s.Use(ctx, ss.ID, ss.UserID, ss.AgentID)
		return err
	}
	gone := func(s *MCPSessions, ss mcp.Session) func() bool {
		return func() bool { return errors.Is(use(s, ss), mcp.ErrNoSession) }
	}

	// Created on a, used on b at once (b's copy has not seen it: b reads
	// the bucket's leader).
	s1 := newSession("u")
	must(t, a.Create(ctx, s1))
	must(t, use(b, s1))
	key := mcpKey(s1.UserID, s1.ID)
	first, err := nodes[0].last(ctx, nodes[0].kv.mcp, key)
	must(t, err)

	// What the bucket holds: no id, nothing secret.
	if strings.Contains(key, s1.ID) || strings.Contains(string(first.value), s1.ID) {
		t.Fatalf("the bucket holds the session id: %s = %s", key, first.value)
	}
	var rec map[string]any
	must(t, json.Unmarshal(first.value, &rec))
	equal(t, "record's members", len(rec), 5) // agent, version, client, created, used

	// Uses within the minute write nothing; the first after it does, and
	// a's copy follows.
	clk.Add(30 * time.Second)
	must(t, use(b, s1))
	must(t, use(a, s1))
	e, err := nodes[0].last(ctx, nodes[0].kv.mcp, key)
	must(t, err)
	equal(t, "revision after uses within the minute", e.rev, first.rev)
	clk.Add(31 * time.Second)
	must(t, use(b, s1))
	e, err = nodes[0].last(ctx, nodes[0].kv.mcp, key)
	must(t, err)
	if e.rev == first.rev {
		t.Fatal("a use after a minute was not written")
	}
	eventually(t, 5*time.Second, "a's copy has the use", func() bool {
		ce, ok := nodes[0].mcp.get(key)
		return ok && ce.rev == e.rev
	})
	clk.Add(ttl - time.Second) // 30 minutes after creation, 29:59 after the use b wrote
	must(t, use(a, s1))

	// Removed on b: refused there at once, and on a once its copy sees it.
	must(t, b.Remove(ctx, s1))
	if !gone(b, s1)() {
		t.Fatal("a removed session was used on the node that removed it")
	}
	eventually(t, 5*time.Second, "a refuses the removed session", gone(a, s1))
	eventually(t, 5*time.Second, "a's copy forgets it", func() bool { _, ok := nodes[0].mcp.get(key); return !ok })

	// The cap of 2 counts the sessions created on either node.
	w1 := newSession("w")
	must(t, a.Create(ctx, w1))
	clk.Add(time.Minute)
	eventually(t, 5*time.Second, "b sees w1", func() bool { return b.Count("w") == 1 })
	w2 := newSession("w")
	must(t, b.Create(ctx, w2))
	clk.Add(time.Minute)
	eventually(t, 5*time.Second, "a sees w2", func() bool { return a.Count("w") == 2 })
	w3 := newSession("w")
	must(t, a.Create(ctx, w3)) // evicts w1, the least recently used
	eventually(t, 5*time.Second, "b refuses the evicted session", gone(b, w1))
	must(t, use(b, w2))
	must(t, use(b, w3))
	eventually(t, 5*time.Second, "both count 2", func() bool { return a.Count("w") == 2 && b.Count("w") == 2 })
	equal(t, "everyone's sessions", a.Count(""), 2)

	// RemoveUser removes the user's sessions made on any node.
	must(t, b.RemoveUser(ctx, "w"))
	eventually(t, 5*time.Second, "a forgets w's sessions", func() bool { return a.Count("w") == 0 && gone(a, w2)() && gone(a, w3)() })
}

// A session the bucket expires leaves every copy (the bucket's marker).
func TestMCPSessionsExpireFromTheBucket(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	s := a.MCPSessions(time.Second, 4)
	ss := mcp.Session{ID: storage.NewID(), UserID: "u", AgentID: "agent", Created: time.Now()}
	must(t, s.Create(t.Context(), ss))
	key := mcpKey(ss.UserID, ss.ID)
	eventually(t, 5*time.Second, "b's copy has the session", func() bool { _, ok := b.mcp.get(key); return ok })
	start := time.Now()
	eventually(t, 10*time.Second, "the session gone from the bucket and the copies", func() bool {
		cur, err := a.last(t.Context(), a.kv.mcp, key)
		_, inA := a.mcp.get(key)
		_, inB := b.mcp.get(key)
		return err == nil && !cur.put && !inA && !inB
	})
	t.Logf("expired after %s", time.Since(start))
}

// A cancellation published on one node reaches the others' subscribers,
// not its own.
func TestMCPCancelsReachTheOtherNodes(t *testing.T) {
	t.Parallel()
	nats3 := natstest.StartCluster(t, 3)
	cs := joinAll(t, newPrefix(), 1, nats3.Servers[0].URL(), nats3.Servers[1].URL())
	type cancel struct{ session, request string }
	got := [2]chan cancel{make(chan cancel, 4), make(chan cancel, 4)}
	var s [2]*MCPSessions
	for i, c := range cs {
		s[i] = c.MCPSessions(time.Minute, 4)
		s[i].Subscribe(func(sessionID string, requestID json.RawMessage) { got[i] <- cancel{sessionID, string(requestID)} })
	}
	s[1].Publish("s1", json.RawMessage(`7`))
	equal(t, "a got", receive(t, got[0], 5*time.Second, "a's cancellation"), cancel{"s1", "7"})
	s[0].Publish("s2", json.RawMessage(`"x"`))
	equal(t, "b got", receive(t, got[1], 5*time.Second, "b's cancellation"), cancel{"s2", `"x"`})
	// b publishes after it got s2, which a then had, had it been a's own.
	s[1].Publish("s3", json.RawMessage(`8`))
	equal(t, "a got next", receive(t, got[0], 5*time.Second, "a's second cancellation"), cancel{"s3", "8"})
	select {
	case c := <-got[1]:
		t.Fatalf("b got its own cancellation %v", c)
	default:
	}
}
