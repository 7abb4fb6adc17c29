package cluster

import (
	"testing"
	"time"

	"github.com/chaos-relay/relay/ratelimit"
)

func TestGCRAMatchesTokenBucket(t *testing.T) {
	// The same scenario as ratelimit's: 60 per minute, burst 60, refused
	// for one second after the burst.
	g := newGCRA(ratelimit.Rate{N: 60, Per: time.Minute})
	equal(t, "chunk", g.chunk, 1)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var tat time.Time
	for i := range 60 {
		n, next, _ := g.take(tat, now, 1)
		if n != 1 {
			t.Fatalf("token %d refused", i+1)
		}
		tat = next
	}
	n, _, wait := g.take(tat, now, 1)
	equal(t, "refused n", n, 0)
	equal(t, "wait", wait, time.Second)
	// After the wait, exactly one more.
	now = now.Add(wait)
	n, tat, _ = g.take(tat, now, 1)
	equal(t, "n after wait", n, 1)
	n, _, wait = g.take(tat, now, 1)
	equal(t, "n again", n, 0)
	equal(t, "wait again", wait, time.Second)
	// An idle bucket is full again after Per, never fuller.
	now = now.Add(time.Hour)
	n, _, _ = g.take(tat, now, 1000)
	equal(t, "full bucket", n, 60)
}

func TestGCRAChunks(t *testing.T) {
	for _, tc := range []struct {
		rate  ratelimit.Rate
		chunk int
	}{
		{ratelimit.Rate{N: 120, Per: time.Minute}, 1},         // 2/s
		{ratelimit.Rate{N: 100, Per: time.Second}, 10},        // 100/s: 10 per 100 ms
		{ratelimit.Rate{N: 5, Per: 10 * time.Millisecond}, 5}, // capped by the burst
		{ratelimit.Rate{N: 10, Per: 15 * time.Minute}, 1},
	} {
		equal(t, tc.rate.String(), newGCRA(tc.rate).chunk, tc.chunk)
	}
	g := newGCRA(ratelimit.Rate{N: 100, Per: time.Second})
	now := time.Unix(1000, 0)
	n, tat, _ := g.take(time.Time{}, now, g.chunk)
	equal(t, "first chunk", n, 10)
	equal(t, "tat", tat, now.Add(100*time.Millisecond))
	// Only what is left of the burst is handed out.
	n, _, _ = g.take(now.Add(995*time.Millisecond), now, g.chunk)
	equal(t, "partial chunk", n, 0)
	n, _, _ = g.take(now.Add(970*time.Millisecond), now, g.chunk)
	equal(t, "partial chunk", n, 3)
}
