package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaos-relay/relay/client"
)

// runE2E gives each of -users sessions one WebSocket and posts webhooks at a
// fixed -rate for -duration, round robin over the users, from a pool of
// -concurrency senders (an open loop: the schedule does not wait for
// answers). Each body carries its sequence number, so every arrival is matched
// to its POST: latency is from the start of the POST to the frame's arrival.
// A message acknowledged but not received within -grace after the last send is
// lost; one received twice (over all reconnects) is duplicated. On several
// nodes user i's socket is on node i and its webhooks go to node i+1, so
// that every delivery crosses from one node to another.
func runE2E(ctx context.Context, b *bench) ([]metric, error) {
	users, err := b.newUsers(ctx, b.cfg.Users, true)
	if err != nil {
		return nil, fmt.Errorf("e2e setup: %w", err)
	}
	total := int64(float64(b.cfg.Rate) * b.cfg.Duration.Seconds())
	if total < 1 {
		return nil, fmt.Errorf("e2e: -rate × -duration sends nothing")
	}
	t := newTracker(int(total))
	socks := make([]*socket, len(users))
	for i, u := range users {
		socks[i] = &socket{c: u.at(i), reconnect: true, onMessage: t.matcher(i, len(users), nil)}
	}
	set, err := openSockets(ctx, socks)
	if err != nil {
		return nil, fmt.Errorf("e2e sockets: %w", err)
	}
	defer set.close()

	mem := b.watchMemory(ctx)
	n := int64(len(users))
	sent := b.sendAtRate(ctx, t, total, func(seq int64) string { return users[seq%n].hook(int(seq%n) + 1) }, nil)
	t.await(ctx, b.cfg.Grace)
	memUse := mem()
	set.close()

	out := []metric{
		{Scenario: "e2e", Name: "sent/s", Unit: "msg/s", Value: perSecond(total, sent.elapsed)},
		{Scenario: "e2e", Name: "schedule lag max", Unit: "ms", Value: float64(sent.lag) / 1e6},
	}
	lat, tail := b.deliveryMetrics("e2e", t, set, sent)
	out = append(out, lat...)
	out = append(out, memUse.metrics("e2e")...)
	return append(out, tail...), nil
}

// matcher returns the onMessage of user i's socket among n users: it
// matches each arrival to its send by the sequence number in the body.
// then, if set, is called with the arrival's time after it was recorded.
func (t *tracker) matcher(i, n int, then func(at int64)) func(content string) {
	total := int64(len(t.start))
	return func(content string) {
		seq, ok := parseSeq(content)
		if !ok || seq < 0 || seq >= total || seq%int64(n) != int64(i) {
			t.foreign.Add(1) // not ours, or delivered to another user's socket
			return
		}
		t.arrived(seq)
		if then != nil {
			then(t.now())
		}
	}
}

// sendStats is the outcome of an open loop of webhooks.
type sendStats struct {
	acks    []time.Duration // POST latencies of the acknowledged ones
	failed  *errCount
	lag     time.Duration // the largest delay of the schedule
	elapsed time.Duration // from the first send to the last answer
}

// sendAtRate posts total webhooks, seq to hook(seq), at -rate from a pool
// of -concurrency senders (an open loop: the schedule does not wait for
// answers), and records them in t. before, if set, is called by the
// schedule when seq is due, before seq is handed to a sender.
func (b *bench) sendAtRate(ctx context.Context, t *tracker, total int64, hook func(seq int64) string, before func(seq int64)) sendStats {
	jobs := make(chan int64, 1024)
	ackLat := make([][]time.Duration, b.cfg.Concurrency)
	st := sendStats{failed: &errCount{}}
	var wg sync.WaitGroup
	for w := range b.cfg.Concurrency {
		wg.Go(func() {
			for seq := range jobs {
				t.started(seq)
				start := time.Now()
				if _, err := client.PostWebhook(ctx, b.hc, hook(seq), "application/json", seqBody(seq)); err != nil {
					st.failed.add(err)
					continue
				}
				ackLat[w] = append(ackLat[w], time.Since(start))
				t.acked(seq)
			}
		})
	}
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / float64(b.cfg.Rate))
	for seq := range total {
		due := begin.Add(time.Duration(seq) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		} else {
			st.lag = max(st.lag, -d)
		}
		if ctx.Err() != nil {
			break
		}
		if before != nil {
			before(seq)
		}
		jobs <- seq
	}
	close(jobs)
	wg.Wait()
	st.elapsed = time.Since(begin)
	for _, l := range ackLat {
		st.acks = append(st.acks, l...)
	}
	return st
}

// deliveryMetrics are the figures of an open loop's deliveries, after the
// sockets were closed: the latencies, then the counts (lost, duplicated,
// errors, reconnects). Anomalies become notes.
func (b *bench) deliveryMetrics(scenario string, t *tracker, set *socketSet, sent sendStats) (lat, counts []metric) {
	delivered, lost, dup, unacked := t.result()
	reconnects, closes, ended, sockErr := set.summary()
	if len(closes) > 0 {
		b.notes("%s: the relay closed sockets: %s (reconnected %d times with since)", scenario, closeCodes(closes), reconnects)
	}
	if ended > 0 {
		b.notes("%s: %d sockets gave up: %v", scenario, ended, sockErr)
	}
	failed, first := sent.failed.get()
	if failed > 0 {
		b.notes("%s: %d webhooks failed, first: %v", scenario, failed, first)
	}
	if n := t.foreign.Load(); n > 0 {
		b.notes("%s: %d frames were not ours or reached another user's socket", scenario, n)
	}
	if unacked > 0 {
		b.notes("%s: %d messages arrived although their POST failed (stored, answer lost)", scenario, unacked)
	}
	lat = latencyMetrics(scenario, "POST→socket", delivered)
	ack := latencyMetrics(scenario, "POST ack", sent.acks)
	lat = append(lat, ack[0], ack[2]) // p50 and p99: is the latency in the commit or in the delivery?
	counts = []metric{
		{Scenario: scenario, Name: "delivered", Unit: "count", Value: float64(len(delivered))},
		{Scenario: scenario, Name: "lost", Unit: "count", Value: float64(lost), Agg: aggSum, Failure: true},
		{Scenario: scenario, Name: "duplicated", Unit: "count", Value: float64(dup), Agg: aggSum, Failure: true},
		{Scenario: scenario, Name: "errors", Unit: "count", Value: float64(failed + t.foreign.Load()), Agg: aggSum},
		{Scenario: scenario, Name: "reconnects", Unit: "count", Value: float64(reconnects), Agg: aggSum},
	}
	return lat, counts
}

// errCount counts errors and keeps the first.
type errCount struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

func (e *errCount) add(err error) {
	if e.n.Add(1) == 1 {
		e.mu.Lock()
		e.first = err
		e.mu.Unlock()
	}
}

func (e *errCount) get() (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n.Load(), e.first
}

// tracker matches arrivals to sends by sequence number. Times are
// nanoseconds since base on the monotonic clock, plus one so that zero means
// "not yet".
type tracker struct {
	base    time.Time
	start   []atomic.Int64
	arrive  []atomic.Int64
	ack     []atomic.Bool
	dups    atomic.Int64
	foreign atomic.Int64
}

func newTracker(n int) *tracker {
	return &tracker{base: time.Now(), start: make([]atomic.Int64, n), arrive: make([]atomic.Int64, n), ack: make([]atomic.Bool, n)}
}

func (t *tracker) now() int64 { return int64(time.Since(t.base)) + 1 }

func (t *tracker) started(seq int64) { t.start[seq].Store(t.now()) }
func (t *tracker) acked(seq int64)   { t.ack[seq].Store(true) }

func (t *tracker) arrived(seq int64) {
	if !t.arrive[seq].CompareAndSwap(0, t.now()) {
		t.dups.Add(1)
	}
}

// await returns once every acknowledged message has arrived, or grace has
// passed, or ctx is done.
func (t *tracker) await(ctx context.Context, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if t.missing() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (t *tracker) missing() int {
	n := 0
	for i := range t.ack {
		if t.ack[i].Load() && t.arrive[i].Load() == 0 {
			n++
		}
	}
	return n
}

// result returns the latencies of the delivered messages, the acknowledged
// ones that never arrived, the duplicates, and the arrivals whose POST
// failed (stored, but the answer was lost).
func (t *tracker) result() (lat []time.Duration, lost, dup, unacked int) {
	for i := range t.arrive {
		a, s := t.arrive[i].Load(), t.start[i].Load()
		switch {
		case a != 0 && s != 0:
			lat = append(lat, time.Duration(a-s))
			if !t.ack[i].Load() {
				unacked++
			}
		case a == 0 && t.ack[i].Load():
			lost++
		}
	}
	return lat, lost, int(t.dups.Load()), unacked
}

// seqBody is the webhook body that carries a sequence number; the relay
// stores JSON bodies as compact JSON content, which parseSeq reads back.
func seqBody(seq int64) []byte {
	return append(strconv.AppendInt([]byte(`{"relaybench":`), seq, 10), '}')
}

// parseSeq reads the sequence number back from content that seqBody wrote.
// It is seqBody's exact inverse rather than a JSON decoder: it runs once per
// delivery, and fanout's deliveries share the cores with the relay.
func parseSeq(content string) (int64, bool) {
	digits, ok := strings.CutPrefix(content, `{"relaybench":`)
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, "}"); !ok {
		return 0, false
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	return seq, err == nil
}
