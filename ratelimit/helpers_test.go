package ratelimit

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func errContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %q, want one containing %q", err, want)
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func panics(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if recover() == nil {
			t.Fatal("did not panic")
		}
	}()
	f()
}

// clock is a fake clock that moves only when told; pass clock.Now as now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// admit takes n tokens for key and fails unless all n are admitted.
func admit(t *testing.T, k *Keyed, key string, n int) {
	t.Helper()
	for i := range n {
		if d, ok := k.Reserve(key); !ok {
			t.Fatalf("request %d of %d for %q refused, retry after %v", i+1, n, key, d)
		}
	}
}

// refuse checks that the next request for key is refused with retryAfter want.
func refuse(t *testing.T, k *Keyed, key string, want time.Duration) {
	t.Helper()
	d, ok := k.Reserve(key)
	if ok {
		t.Fatalf("request for %q admitted, want refused with retry after %v", key, want)
	}
	equal(t, "retryAfter", d, want)
}
