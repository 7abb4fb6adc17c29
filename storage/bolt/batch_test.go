package bolt

import (
	"runtime"
	"testing"
	"time"
)

// queue returns a write queue holding n writes.
func queue(n int) chan *write {
	q := make(chan *write, 1024)
	for range n {
		q <- &write{}
	}
	return q
}

// nextGroup runs b.next in the background, so that a test can feed the queue
// while it waits.
func nextGroup(b *batcher) <-chan []*write {
	out := make(chan []*write, 1)
	go func() {
		g, ok := b.next(nil)
		if !ok {
			g = nil
		}
		out <- g
	}()
	return out
}

// drained returns once the batcher has taken every queued write, so that
// what is sent next can only reach it while it waits.
func drained(q chan *write) {
	for len(q) > 0 {
		runtime.Gosched()
	}
}

func TestBatcherTakesWhatIsQueued(t *testing.T) {
	b := newBatcher(queue(100), 64)
	g, ok := b.next(nil)
	if !ok || len(g) != 64 {
		t.Fatalf("first group: %d writes, ok %v; want 64 (the cap)", len(g), ok)
	}
	if g, _ = b.next(g); len(g) != 36 {
		t.Fatalf("second group: %d writes, want the 36 left", len(g))
	}
}

func TestBatcherIdle(t *testing.T) {
	end := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		last  int
		after time.Duration // since the last commit ended
		idle  bool
	}{
		{"after a small group", lingerFromGroup - 1, 0, true},
		{"as a large group ends", 32, 0, false},
		{"within a commit's time of it", 32, 2 * time.Millisecond, false},
		{"later than that", 32, 2*time.Millisecond + 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &batcher{last: c.last, lastTook: 2 * time.Millisecond, lastEnd: end}
			if got := b.idle(end.Add(c.after)); got != c.idle {
				t.Fatalf("idle = %v, want %v", got, c.idle)
			}
		})
	}
}

func TestBatcherCommitsALoneWriteAtOnce(t *testing.T) {
	cases := []struct {
		name    string
		last    int
		lastEnd time.Time
	}{
		{"after a small group", lingerFromGroup - 1, time.Now()},
		{"at an idle store after a large group", 32, time.Now().Add(-2 * time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBatcher(queue(0), 64)
			// A wait would outlast the test.
			b.last, b.lastTook, b.lastEnd = c.last, time.Hour, c.lastEnd
			if g := b.fill([]*write{{}}); len(g) != 1 {
				t.Fatalf("group of %d, want the lone write", len(g))
			}
		})
	}
}

// waiting starts a batcher whose last group had 16 writes on a queue of 3,
// and returns once it has taken them: it then waits for 13 more, for longer
// than any test runs.
func waiting() (*batcher, chan *write, <-chan []*write) {
	q := queue(3)
	b := newBatcher(q, 64)
	b.committed(16, time.Hour)
	got := nextGroup(b)
	drained(q)
	return b, q, got
}

func TestBatcherWaitsForALargeGroupToReturn(t *testing.T) {
	_, q, got := waiting()
	for range 13 {
		q <- &write{}
	}
	if g := <-got; len(g) != 16 {
		t.Fatalf("group of %d, want 16 (the last group's size)", len(g))
	}
}

func TestBatcherWaitsAtMostHalfACommit(t *testing.T) {
	q := queue(3)
	b := newBatcher(q, 64)
	b.committed(16, 2*time.Millisecond)
	end := b.lastEnd
	b.now = func() time.Time { return end } // the store stays busy however slow the test runs
	start := time.Now()
	g, ok := b.next(nil)
	if !ok || len(g) != 3 {
		t.Fatalf("group of %d, ok %v; want the 3 queued writes once the wait ends", len(g), ok)
	}
	if took := time.Since(start); took < time.Millisecond {
		t.Fatalf("returned after %v, want a wait of half the last commit (1ms)", took)
	}
}

func TestBatcherStopsWhenTheQueueCloses(t *testing.T) {
	b, q, got := waiting()
	close(q)
	if g := <-got; len(g) != 3 {
		t.Fatalf("group of %d, want the 3 queued writes", len(g))
	}
	if g, ok := b.next(nil); ok || len(g) != 0 {
		t.Fatalf("after close: %d writes, ok %v; want none and false", len(g), ok)
	}
}
