package cluster

import (
	"time"

	"github.com/chaos-relay/relay/ratelimit"
)

// gcra is ratelimit's token bucket (a burst of N, refilled at N per Per) as
// the generic cell rate algorithm: the whole state of a key is one time,
// its theoretical arrival time (TAT), the time at which the bucket would be
// full again. A zero or past TAT is a full bucket. Taking n tokens at now
// moves the TAT to max(TAT, now) + n·interval, which is allowed while it
// stays within Per of now.
type gcra struct {
	interval time.Duration // Per/N: the time one token takes to refill
	window   time.Duration // Per: a full bucket's worth of intervals
	chunk    int           // how many tokens a node takes at once
}

// chunkSpan is the span of requests a node takes its tokens for: a busy
// key costs one KV round trip per chunkSpan's worth of its rate.
const chunkSpan = 100 * time.Millisecond

func newGCRA(r ratelimit.Rate) gcra {
	g := gcra{interval: r.Per / time.Duration(r.N), window: r.Per}
	if g.interval <= 0 {
		g.interval = 1 // N > Per in nanoseconds: no limit worth the name
	}
	g.chunk = min(max(1, int(chunkSpan/g.interval)), r.N)
	return g
}

// take takes up to want tokens at now from a bucket whose TAT is tat. It
// returns how many it took (at least 1) and the new TAT, or 0 and how long
// until one token is available.
func (g gcra) take(tat, now time.Time, want int) (n int, newTAT time.Time, wait time.Duration) {
	base := tat
	if base.Before(now) {
		base = now
	}
	// Tokens available: how many intervals fit between base and now+window.
	avail := int(now.Add(g.window).Sub(base) / g.interval)
	if avail < 1 {
		return 0, tat, base.Add(g.interval).Sub(now.Add(g.window))
	}
	n = min(want, avail)
	return n, base.Add(time.Duration(n) * g.interval), 0
}
