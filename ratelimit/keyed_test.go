package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReserveBurstThenRefuse(t *testing.T) {
	c := newClock()
	k := NewKeyed(Rate{N: 60, Per: time.Minute}, c.Now)

	admit(t, k, "u1", 60)
	refuse(t, k, "u1", time.Second)

	c.Advance(time.Second)
	admit(t, k, "u1", 1)
	refuse(t, k, "u1", time.Second)
}

func TestReserveRefusedConsumeNothing(t *testing.T) {
	c := newClock()
	k := NewKeyed(Rate{N: 60, Per: time.Minute}, c.Now)
	admit(t, k, "u1", 60)

	for range 100 {
		refuse(t, k, "u1", time.Second)
	}
	c.Advance(400 * time.Millisecond)
	for range 100 {
		refuse(t, k, "u1", 600*time.Millisecond)
	}
	c.Advance(600 * time.Millisecond)
	admit(t, k, "u1", 1)

	// After a full window the bucket holds all 60 tokens again, as if the
	// refusals had never happened.
	c.Advance(time.Minute)
	admit(t, k, "u1", 60)
	refuse(t, k, "u1", time.Second)
}

func TestReserveSlowRate(t *testing.T) {
	c := newClock()
	k := NewKeyed(Rate{N: 10, Per: 15 * time.Minute}, c.Now)
	admit(t, k, "203.0.113.7", 10)

	d, ok := k.Reserve("203.0.113.7")
	equal(t, "ok", ok, false)
	equal(t, "RetryAfterSeconds", RetryAfterSeconds(d), 90)

	// Waiting what Retry-After said is enough.
	c.Advance(time.Duration(RetryAfterSeconds(d)) * time.Second)
	admit(t, k, "203.0.113.7", 1)
}

func TestReserveKeysIndependent(t *testing.T) {
	c := newClock()
	k := NewKeyed(Rate{N: 3, Per: time.Minute}, c.Now)
	admit(t, k, "a", 3)
	refuse(t, k, "a", 20*time.Second)
	admit(t, k, "b", 3)
	refuse(t, k, "b", 20*time.Second)
	admit(t, k, "", 3)
	equal(t, "Len", k.Len(), 3)
}

func TestPrune(t *testing.T) {
	c := newClock()
	k := NewKeyed(Rate{N: 60, Per: time.Minute}, c.Now)
	admit(t, k, "empty", 60)
	admit(t, k, "one", 1)
	equal(t, "Prune at once", k.Prune(), 0)
	equal(t, "Len", k.Len(), 2)

	c.Advance(999 * time.Millisecond)
	equal(t, "Prune before refill", k.Prune(), 0)

	c.Advance(time.Millisecond)
	equal(t, "Prune after one refill", k.Prune(), 1)
	equal(t, "Len", k.Len(), 1)

	c.Advance(59 * time.Second)
	equal(t, "Prune after full refill", k.Prune(), 1)
	equal(t, "Len", k.Len(), 0)
	equal(t, "Prune of nothing", k.Prune(), 0)

	// A pruned key starts again with a full bucket.
	admit(t, k, "empty", 60)
	refuse(t, k, "empty", time.Second)
}

func TestNewKeyedInvalidRate(t *testing.T) {
	for _, r := range []Rate{{}, {N: 1}, {Per: time.Second}, {N: -1, Per: time.Second}, {N: 1, Per: -time.Second}} {
		t.Run(r.String(), func(t *testing.T) {
			panics(t, func() { NewKeyed(r, nil) })
		})
	}
}

func TestNewKeyedNilNow(t *testing.T) {
	k := NewKeyed(Rate{N: 1, Per: time.Hour}, nil)
	admit(t, k, "a", 1)
	d, ok := k.Reserve("a")
	equal(t, "ok", ok, false)
	if d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("retryAfter = %v, want just under 1h", d)
	}
}

// TestReserveConcurrent hammers a few keys from many goroutines, with Prune
// running alongside, at a fixed instant: exactly N requests per key get in.
// Then each bucket must refill exactly as if the refusals had not happened,
// which fails if racing refusals leak tokens.
func TestReserveConcurrent(t *testing.T) {
	const (
		n          = 50
		keys       = 4
		goroutines = 64
		attempts   = 40 // per goroutine per key: 64*40 = 2560 ≫ 50
	)
	c := newClock()
	k := NewKeyed(Rate{N: n, Per: time.Minute}, c.Now)

	var admitted [keys]atomic.Int64
	var badRetry atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				k.Prune()
				_ = k.Len()
			}
		}
	})
	var workers sync.WaitGroup
	for g := range goroutines {
		workers.Go(func() {
			for i := range attempts * keys {
				key := (g + i) % keys
				d, ok := k.Reserve(fmt.Sprint("key-", key))
				switch {
				case ok:
					admitted[key].Add(1)
				case d <= 0 || d > time.Minute/n:
					badRetry.Add(1)
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()

	equal(t, "refusals with a bad retryAfter", badRetry.Load(), 0)
	for key := range keys {
		equal(t, fmt.Sprint("admitted for key-", key), admitted[key].Load(), n)
	}

	// One token's worth of time later, each key admits exactly one more.
	c.Advance(time.Minute / n)
	for key := range keys {
		name := fmt.Sprint("key-", key)
		admit(t, k, name, 1)
		refuse(t, k, name, time.Minute/n)
	}
	// A full window later, each key admits a whole burst again.
	c.Advance(time.Minute)
	for key := range keys {
		name := fmt.Sprint("key-", key)
		admit(t, k, name, n)
		refuse(t, k, name, time.Minute/n)
	}
}

func TestReserveExistingKeyAllocs(t *testing.T) {
	c := newClock()
	k := NewKeyed(Rate{N: 1, Per: time.Hour}, c.Now)
	k.Reserve("admitted")
	k.Reserve("refused")
	if a := testing.AllocsPerRun(100, func() {
		c.Advance(time.Hour)
		k.Reserve("admitted")
	}); a != 0 {
		t.Errorf("admitting an existing key: %v allocations, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { k.Reserve("refused") }); a != 0 {
		t.Errorf("refusing an existing key: %v allocations, want 0", a)
	}
}

func BenchmarkReserveExistingKey(b *testing.B) {
	keys := []string{"user-0", "user-1", "user-2", "user-3", "user-4", "user-5", "user-6", "user-7"}
	run := func(b *testing.B, k *Keyed) {
		for _, key := range keys {
			k.Reserve(key)
		}
		var next atomic.Uint32
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			key := keys[int(next.Add(1))%len(keys)]
			for pb.Next() {
				k.Reserve(key)
			}
		})
	}
	b.Run("admit", func(b *testing.B) {
		run(b, NewKeyed(Rate{N: 1 << 30, Per: time.Nanosecond}, nil))
	})
	b.Run("refuse", func(b *testing.B) {
		run(b, NewKeyed(Rate{N: 1, Per: time.Hour}, nil))
	})
}
