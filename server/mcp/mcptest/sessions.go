package mcptest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chaos-relay/relay/server/mcp"
	"github.com/chaos-relay/relay/storage"
	"github.com/chaos-relay/relay/storage/storagetest"
)

// NewClock returns a settable clock at a fixed time.
func NewClock() *storagetest.Clock { return storagetest.NewClock(time.Unix(1_800_000_000, 0)) }

// OpenSessions returns an empty table of sessions living ttl after their
// last use, at most perUser per user, on clock now.
type OpenSessions func(t *testing.T, ttl time.Duration, perUser int, now func() time.Time) mcp.Sessions

// RunSessions is the contract every mcp.Sessions satisfies, run against the
// tables open returns. Clocks only move by a minute or more between uses,
// so that a table may record a use to within a minute.
func RunSessions(t *testing.T, open OpenSessions) {
	const ttl = 30 * time.Minute
	ctx := context.Background()
	newSession := func(user, agent string, clk *storagetest.Clock) mcp.Session {
		return mcp.Session{ID: storage.NewID(), UserID: user, AgentID: agent, Version: "2025-11-25",
			Client: "test 1.0", Created: clk.Now()}
	}
	create := func(t *testing.T, s mcp.Sessions, ss mcp.Session) {
		t.Helper()
		if err := s.Create(ctx, ss); err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	live := func(t *testing.T, s mcp.Sessions, ss mcp.Session, want bool) {
		t.Helper()
		got, err := s.Use(ctx, ss.ID, ss.UserID, ss.AgentID)
		switch {
		case want && err != nil:
			t.Fatalf("use %s: %v", ss.ID[:8], err)
		case want && (got.ID != ss.ID || got.UserID != ss.UserID || got.AgentID != ss.AgentID ||
			got.Version != ss.Version || got.Client != ss.Client || !got.Created.Equal(ss.Created)):
			t.Fatalf("use %s: %+v, want %+v", ss.ID[:8], got, ss)
		case !want && !errors.Is(err, mcp.ErrNoSession):
			t.Fatalf("use %s: %v, want ErrNoSession", ss.ID[:8], err)
		}
	}
	count := func(t *testing.T, s mcp.Sessions, user string, want int) {
		t.Helper()
		if n := s.Count(user); n != want {
			t.Fatalf("count(%q) = %d, want %d", user, n, want)
		}
	}

	t.Run("UseIsForTheOwnerOnly", func(t *testing.T) {
		clk := NewClock()
		s := open(t, ttl, 4, clk.Now)
		a := newSession("u", "agent", clk)
		create(t, s, a)
		live(t, s, a, true)
		for _, other := range []mcp.Session{
			{ID: a.ID, UserID: "v", AgentID: "agent"},
			{ID: a.ID, UserID: "u", AgentID: "other-agent"},
			{ID: storage.NewID(), UserID: "u", AgentID: "agent"},
		} {
			live(t, s, other, false)
		}
		live(t, s, a, true) // refusing the others did not remove it
	})

	t.Run("UseRestartsTheIdleTime", func(t *testing.T) {
		clk := NewClock()
		s := open(t, ttl, 4, clk.Now)
		a, b := newSession("u", "agent", clk), newSession("u", "agent", clk)
		create(t, s, a)
		create(t, s, b)
		clk.Add(29 * time.Minute)
		live(t, s, a, true)
		count(t, s, "u", 2)
		clk.Add(2 * time.Minute) // b idle for 31 minutes, a for 2
		live(t, s, b, false)
		count(t, s, "u", 1)
		live(t, s, a, true)
		clk.Add(ttl)
		live(t, s, a, false)
		count(t, s, "u", 0)
		count(t, s, "", 0)
	})

	t.Run("CreateEvictsTheLeastRecentlyUsed", func(t *testing.T) {
		clk := NewClock()
		s := open(t, ttl, 2, clk.Now)
		a, b := newSession("u", "agent", clk), newSession("u", "agent", clk)
		create(t, s, a)
		clk.Add(time.Minute)
		create(t, s, b)
		other := newSession("v", "agent", clk)
		create(t, s, other)
		clk.Add(2 * time.Minute)
		live(t, s, a, true) // b is now the least recently used
		clk.Add(2 * time.Minute)
		c := newSession("u", "agent", clk)
		create(t, s, c)
		live(t, s, b, false)
		live(t, s, a, true)
		live(t, s, c, true)
		live(t, s, other, true) // the cap is per user
		count(t, s, "u", 2)
		count(t, s, "", 3)
	})

	t.Run("RemoveAndRemoveUser", func(t *testing.T) {
		clk := NewClock()
		s := open(t, ttl, 4, clk.Now)
		a, b, other := newSession("u", "agent", clk), newSession("u", "agent-2", clk), newSession("v", "agent", clk)
		for _, ss := range []mcp.Session{a, b, other} {
			create(t, s, ss)
		}
		if err := s.Remove(ctx, a); err != nil {
			t.Fatal(err)
		}
		live(t, s, a, false)
		if err := s.Remove(ctx, a); err != nil {
			t.Fatalf("removing a removed session: %v", err)
		}
		live(t, s, b, true)
		if err := s.RemoveUser(ctx, "u"); err != nil {
			t.Fatal(err)
		}
		live(t, s, b, false)
		live(t, s, other, true)
		count(t, s, "u", 0)
		count(t, s, "", 1)
	})
}
