package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for session lifetimes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestSessionsExpireAndEvictTheLeastRecentlyUsed(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newSessions(30*time.Minute, 2, clk.now)
	a := s.create("u", "agent", "2025-11-25", "c")
	b := s.create("u", "agent", "2025-11-25", "c")
	if _, ok := s.use(a.id, "u", "other-agent"); ok {
		t.Fatal("another agent used the session")
	}
	if _, ok := s.use(a.id, "v", "agent"); ok {
		t.Fatal("another user used the session")
	}
	clk.add(29 * time.Minute)
	if _, ok := s.use(a.id, "u", "agent"); !ok { // restarts a's TTL; b is now the least recently used
		t.Fatal("a live session was refused")
	}
	c := s.create("u", "agent", "2025-11-25", "c") // evicts b
	if _, ok := s.use(b.id, "u", "agent"); ok {
		t.Fatal("the least recently used session survived the cap")
	}
	if n := s.count("u"); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}
	clk.add(30 * time.Minute)
	if _, ok := s.use(a.id, "u", "agent"); ok {
		t.Fatal("an expired session was accepted")
	}
	if n := s.count(""); n != 0 {
		t.Fatalf("count after expiry %d, want 0", n)
	}
	if n := s.prune(); n != 1 { // c (a was removed by use)
		t.Fatalf("pruned %d, want 1", n)
	}
	if len(s.byID) != 0 || len(s.byUser) != 0 {
		t.Fatalf("left %v %v", s.byID, s.byUser)
	}
	_ = c
	d := s.create("u", "agent", "", "")
	s.removeUser("u")
	if _, ok := s.use(d.id, "u", "agent"); ok {
		t.Fatal("a deleted user's session survived")
	}
}

func TestIDKey(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{`1`, `1.0`, true},
		{`1`, `"1"`, false},
		{`"a"`, `"\u0061"`, true},
		{`10`, `1e1`, true},
		{`"x"`, `"y"`, false},
	} {
		if got := idKey(json.RawMessage(tt.a)) == idKey(json.RawMessage(tt.b)); got != tt.same {
			t.Errorf("idKey(%s) == idKey(%s): %v", tt.a, tt.b, got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.RequestTimeout = 500 * time.Millisecond
	c.MaxInflight = 0
	c.AllowedOrigins = []string{"https://ok.example:8443", "https://bad.example/path", "null"}
	err := c.Validate()
	for _, want := range []string{"RELAY_MCP_REQUEST_TIMEOUT", "RELAY_MCP_MAX_INFLIGHT", `"https://bad.example/path"`, `"null"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "ok.example") {
		t.Errorf("a valid origin refused: %v", err)
	}
}

// fakeSockets are a hub's sockets for Local: a count per user and a record
// of the frames sent.
type fakeSockets struct {
	mu     sync.Mutex
	count  map[string]int
	frames chan []byte
	grants int
}

func (f *fakeSockets) Send(userID string, frame []byte) int {
	f.mu.Lock()
	n := f.count[userID]
	f.mu.Unlock()
	if n > 0 {
		f.frames <- frame
	}
	return n
}

func (f *fakeSockets) UserCount(userID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[userID]
}

func (f *fakeSockets) Grant(string, string, int64) func() {
	f.mu.Lock()
	f.grants++
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.grants--
		f.mu.Unlock()
	}
}

func (f *fakeSockets) set(userID string, n int) {
	f.mu.Lock()
	f.count[userID] = n
	f.mu.Unlock()
}

// manualTimer is a grace timer the test fires.
type manualTimer struct {
	f       func()
	stopped bool
}

func (m *manualTimer) Stop() bool { m.stopped = true; return true }

// TestLocalGrace: a grace that ends while a socket is open again keeps the
// call waiting; the next last close starts a new grace, which ends it.
func TestLocalGrace(t *testing.T) {
	socks := &fakeSockets{count: map[string]int{"u": 1}, frames: make(chan []byte, 4)}
	l := NewLocal(DefaultConfig(), socks, slog.New(slog.NewTextHandler(io.Discard, nil)))
	timers := make(chan *manualTimer, 4)
	l.afterFunc = func(_ time.Duration, f func()) stopper {
		m := &manualTimer{f: f}
		timers <- m
		return m
	}
	errc := make(chan error, 1)
	go func() {
		_, err := l.Forward(context.Background(), Call{ID: "c1", UserID: "u", AgentID: "a", Request: json.RawMessage(`{"id":1}`)})
		errc <- err
	}()
	if got := string(<-socks.frames); got != `{"type":"mcp-request","correlationId":"c1","agentId":"a","jsonrpc":{"id":1}}` {
		t.Fatalf("frame %s", got)
	}
	// The last socket closes and another opens before the grace ends.
	socks.set("u", 0)
	l.LastClosed("u")
	first := <-timers
	socks.set("u", 1)
	first.f()
	if l.Pending() != 1 {
		t.Fatal("ended by a grace that found a socket")
	}
	if l.Resolve("v", []byte(`{"type":"mcp-response","correlationId":"c1","jsonrpc":{}}`)) {
		t.Fatal("another user's answer was used")
	}
	// It closes again: a new grace, which ends the call.
	socks.set("u", 0)
	l.LastClosed("u")
	second := <-timers
	if !first.stopped {
		t.Error("the earlier grace timer was not stopped")
	}
	second.f()
	if err := <-errc; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("err %v, want ErrDisconnected", err)
	}
	if l.Pending() != 0 || socks.grants != 0 {
		t.Fatalf("pending %d, grants %d", l.Pending(), socks.grants)
	}
	if l.Resolve("u", []byte(`{"type":"mcp-response","correlationId":"c1","jsonrpc":{}}`)) {
		t.Fatal("a late answer was used")
	}
}
