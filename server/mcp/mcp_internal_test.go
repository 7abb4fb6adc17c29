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

// Prune forgets the expired sessions of a MemorySessions, and nothing of
// them is left behind.
func TestMemorySessionsPrune(t *testing.T) {
	clk := time.Unix(1_800_000_000, 0)
	s := NewMemorySessions(30*time.Minute, 2, func() time.Time { return clk })
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Create(ctx, Session{ID: id, UserID: id, AgentID: "agent"}); err != nil {
			t.Fatal(err)
		}
	}
	clk = clk.Add(20 * time.Minute)
	if _, err := s.Use(ctx, "c", "c", "agent"); err != nil {
		t.Fatal(err)
	}
	clk = clk.Add(10 * time.Minute)
	if n := s.Prune(); n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	if len(s.byID) != 1 || len(s.byUser) != 1 || s.Count("") != 1 {
		t.Fatalf("left %v %v", s.byID, s.byUser)
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
