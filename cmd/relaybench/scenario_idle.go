package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Idle measurement settings. A relay that relaybench starts pings every
// idlePing, so the figure is read after a few rounds of pings and pongs, as
// a long-held idle socket lives (the default interval is 30 s).
const (
	idlePing   = time.Second
	idleSettle = 3 * idlePing     // after the last handshake, before reading the RSS
	idleWait   = 30 * time.Second // for /health to count every socket
	fdReserve  = 256              // descriptors kept for HTTP connections, files and the relay pipe
)

// runIdle holds -idle WebSockets spread over sessions (at most the relay's
// per-user cap each) and reports the relay's resident memory per connection:
// (RSS with the sockets − RSS before) / sockets. The sockets are read (so the
// relay's pings are answered) but never written to. On several nodes the
// sockets go round the nodes, and the figures are the nodes' sums.
func runIdle(ctx context.Context, b *bench) ([]metric, error) {
	w := b.cfg.Idle
	if limit := fdLimit(); w+b.cfg.Concurrency*2+fdReserve > limit {
		held := max(limit-b.cfg.Concurrency*2-fdReserve, 1)
		b.notes("idle: %d sockets need about %d file descriptors, more than one process may hold here (RLIMIT_NOFILE %d); holding %d; run several relaybench processes or raise the hard limit",
			w, w+b.cfg.Concurrency*2+fdReserve, limit, held)
		w = held
	}
	perUser := b.wsCap
	nUsers := max(b.cfg.Users, (w+perUser-1)/perUser)
	nUsers = min(nUsers, w)
	users, err := b.newUsers(ctx, nUsers, false)
	if err != nil {
		return nil, fmt.Errorf("idle setup: %w", err)
	}
	base, err := b.health(ctx)
	if err != nil {
		return nil, err
	}
	before, err := b.rss(ctx)
	if err != nil {
		return nil, err
	}
	goBefore := b.goMemory(ctx)
	socks := make([]*socket, w)
	for i := range socks {
		socks[i] = &socket{c: users[i%nUsers].at(i)} // round the nodes
	}
	start := time.Now()
	set, err := openSockets(ctx, socks)
	if err != nil {
		return nil, fmt.Errorf("idle sockets: %w", err)
	}
	defer set.close()
	dialTime := time.Since(start)
	held := 0
	for deadline := time.Now().Add(idleWait); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		n, err := b.health(ctx)
		if err != nil {
			return nil, err
		}
		if held = n - base; held >= w {
			break
		}
	}
	select {
	case <-time.After(idleSettle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	after, err := b.rss(ctx)
	if err != nil {
		return nil, err
	}
	goAfter := b.goMemory(ctx)
	if n, err := b.health(ctx); err == nil {
		held = n - base
	}
	set.close()
	fewestPings := slices.MinFunc(socks, func(a, b *socket) int { return a.pings - b.pings }).pings
	_, closes, ended, sockErr := set.summary()
	if ended > 0 {
		b.notes("idle: %d sockets were closed by the relay (%s): %v", ended, closeCodes(closes), sockErr)
	}
	if held < w {
		b.notes("idle: the relay reports %d of %d sockets open", held, w)
	}
	const mib = 1 << 20
	out := []metric{
		{Scenario: "idle", Name: "sockets held", Unit: "count", Value: float64(held)},
		{Scenario: "idle", Name: "sessions", Unit: "count", Value: float64(nUsers)},
		{Scenario: "idle", Name: "handshakes/s", Unit: "conn/s", Value: perSecond(int64(w), dialTime)},
		{Scenario: "idle", Name: "relay RSS before", Unit: "MiB", Value: float64(before) / mib},
		{Scenario: "idle", Name: "relay RSS with sockets", Unit: "MiB", Value: float64(after) / mib},
		{Scenario: "idle", Name: "relay memory per socket", Unit: "KiB", Value: float64(after-before) / float64(w) / 1024},
		{Scenario: "idle", Name: "pings answered, fewest on a socket", Unit: "count", Value: float64(fewestPings)},
	}
	// Where the memory is, by the relay's Go collector: goroutine stacks
	// (one reader per socket) and heap objects (buffers, connection state).
	for _, k := range []struct{ name, metric string }{
		{"relay stack per socket", "go_memstats_stack_inuse_bytes"},
		{"relay heap per socket", "go_memstats_heap_inuse_bytes"},
	} {
		a, okA := goBefore[k.metric]
		z, okZ := goAfter[k.metric]
		if okA && okZ {
			out = append(out, metric{Scenario: "idle", Name: k.name, Unit: "KiB", Value: (z - a) / float64(w) / 1024})
		}
	}
	return append(out, metric{Scenario: "idle", Name: "errors", Unit: "count", Value: float64(ended), Agg: aggSum}), nil
}

// goMemory reads the Go runtime's stack and heap figures from one scrape of
// /metrics; empty when they cannot be read.
func (b *bench) goMemory(ctx context.Context) map[string]float64 {
	names := []string{"go_memstats_stack_inuse_bytes", "go_memstats_heap_inuse_bytes"}
	out := map[string]float64{}
	if v, err := b.metrics(ctx, names...); err == nil {
		for i, name := range names {
			out[name] = v[i]
		}
	}
	return out
}
