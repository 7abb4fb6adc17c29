package ratelimit

import (
	"testing"
	"time"
)

// allowN calls Allow n times and fails unless all are admitted.
func allowN(t *testing.T, l *Limiters, name Name, key string, n int) {
	t.Helper()
	for i := range n {
		if d, ok := l.Allow(name, key); !ok {
			t.Fatalf("%s %q: request %d of %d refused, retry after %v", name, key, i+1, n, d)
		}
	}
}

func denied(t *testing.T, l *Limiters, name Name, key string, want time.Duration) {
	t.Helper()
	d, ok := l.Allow(name, key)
	if ok {
		t.Fatalf("%s %q: admitted, want refused with retry after %v", name, key, want)
	}
	equal(t, "retryAfter", d, want)
}

func TestLimitersAllow(t *testing.T) {
	c := newClock()
	l := New(DefaultConfig(), c.Now)
	equal(t, "Disabled", l.Disabled(), false)

	allowN(t, l, AdminLogin, "203.0.113.7", 10)
	denied(t, l, AdminLogin, "203.0.113.7", 90*time.Second)
	// Same key, other limit; same limit, other key.
	allowN(t, l, Register, "203.0.113.7", 100)
	denied(t, l, Register, "203.0.113.7", 36*time.Second)
	allowN(t, l, AdminLogin, "198.51.100.1", 10)

	allowN(t, l, Messages, "u1", 120)
	denied(t, l, Messages, "u1", 500*time.Millisecond)
	allowN(t, l, Reply, "u1", 30)
	denied(t, l, Reply, "u1", 2*time.Second)
	allowN(t, l, Channels, "u1", 100)
	denied(t, l, Channels, "u1", 36*time.Second)
	allowN(t, l, Webhook, "ch1", 60)
	denied(t, l, Webhook, "ch1", time.Second)
	allowN(t, l, Webhook, "ch2", 60)

	c.Advance(time.Second)
	allowN(t, l, Webhook, "ch1", 1)
	denied(t, l, Webhook, "ch1", time.Second)
}

func TestLimitersEmailInboundIsGlobal(t *testing.T) {
	c := newClock()
	l := New(DefaultConfig(), c.Now)
	for i := range 60 {
		allowN(t, l, EmailInbound, string(rune('a'+i%26)), 1)
	}
	denied(t, l, EmailInbound, "someone-new", time.Second)
	denied(t, l, EmailInbound, "", time.Second)
}

func TestLimitersPrune(t *testing.T) {
	c := newClock()
	l := New(DefaultConfig(), c.Now)
	allowN(t, l, Webhook, "ch1", 1)
	allowN(t, l, Reply, "u1", 1)
	allowN(t, l, AdminLogin, "203.0.113.7", 1)
	equal(t, "Prune at once", l.Prune(), 0)

	c.Advance(2 * time.Second) // refills webhook (1/s) and reply (1 per 2s), not admin login (1 per 90s)
	equal(t, "Prune", l.Prune(), 2)
	c.Advance(88 * time.Second)
	equal(t, "Prune", l.Prune(), 1)
	equal(t, "Prune", l.Prune(), 0)
}

func TestLimitersDisabled(t *testing.T) {
	l := New(Config{Disabled: true}, nil)
	equal(t, "Disabled", l.Disabled(), true)
	for _, name := range []Name{Register, Messages, Reply, Webhook, EmailInbound, Channels, AdminLogin, MCP} {
		for range 1000 {
			d, ok := l.Allow(name, "k")
			equal(t, "ok", ok, true)
			equal(t, "retryAfter", d, 0)
		}
	}
	equal(t, "Prune", l.Prune(), 0)
	// Even a name that does not exist: nothing is checked when off.
	_, ok := l.Allow("nonsense", "k")
	equal(t, "ok", ok, true)
}

func TestLimitersNil(t *testing.T) {
	var l *Limiters
	equal(t, "Disabled", l.Disabled(), true)
	d, ok := l.Allow(AdminLogin, "203.0.113.7")
	equal(t, "ok", ok, true)
	equal(t, "retryAfter", d, 0)
	equal(t, "Prune", l.Prune(), 0)
}

func TestLimitersUnknownName(t *testing.T) {
	l := New(DefaultConfig(), nil)
	panics(t, func() { l.Allow("nonsense", "k") })
}

func TestNewInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Channels = Rate{}
	panics(t, func() { New(cfg, nil) })
	panics(t, func() { New(Config{}, nil) })
}

// TestIndex guards the table New and Allow share: every Name has its own slot.
func TestIndex(t *testing.T) {
	seen := map[int]Name{}
	for _, nr := range DefaultConfig().rates() {
		i, ok := index(nr.name)
		equal(t, "known "+string(nr.name), ok, true)
		if prev, dup := seen[i]; dup {
			t.Fatalf("%s and %s share slot %d", prev, nr.name, i)
		}
		seen[i] = nr.name
	}
	equal(t, "slots", len(seen), numLimits)
}
