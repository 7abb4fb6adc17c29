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
// lost; one received twice (over all reconnects) is duplicated.
func runE2E(ctx context.Context, b *bench) ([]metric, error) {
	users, err := b.newUsers(ctx, b.cfg.Users, true)
	if err != nil {
		return nil, fmt.Errorf("e2e setup: %w", err)
	}
	total := int(float64(b.cfg.Rate) * b.cfg.Duration.Seconds())
	if total < 1 {
		return nil, fmt.Errorf("e2e: -rate × -duration sends nothing")
	}
	t := newTracker(total)
	socks := make([]*socket, len(users))
	for i, u := range users {
		socks[i] = &socket{c: u.c, reconnect: true, onMessage: func(content string) {
			seq, ok := parseSeq(content)
			if !ok || seq < 0 || seq >= int64(total) || seq%int64(len(users)) != int64(i) {
				t.foreign.Add(1) // not ours, or delivered to another user's socket
				return
			}
			t.arrived(seq)
		}}
	}
	set, err := openSockets(ctx, socks)
	if err != nil {
		return nil, fmt.Errorf("e2e sockets: %w", err)
	}
	defer set.close()

	jobs := make(chan int64, 1024)
	var lag atomic.Int64 // the largest delay of the schedule, ns
	var wg sync.WaitGroup
	var ackLat = make([][]time.Duration, b.cfg.Concurrency)
	var failed errCount
	for w := range b.cfg.Concurrency {
		wg.Go(func() {
			for seq := range jobs {
				u := users[seq%int64(len(users))]
				t.started(seq)
				start := time.Now()
				if _, err := client.PostWebhook(ctx, b.hc, u.webhook, "application/json", seqBody(seq)); err != nil {
					failed.add(err)
					continue
				}
				ackLat[w] = append(ackLat[w], time.Since(start))
				t.acked(seq)
			}
		})
	}
	mem := b.watchMemory(ctx)
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / float64(b.cfg.Rate))
	for seq := range int64(total) {
		due := begin.Add(time.Duration(seq) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		} else if -d > time.Duration(lag.Load()) {
			lag.Store(int64(-d))
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- seq
	}
	close(jobs)
	wg.Wait()
	sendTime := time.Since(begin)
	t.await(ctx, b.cfg.Grace)
	memUse := mem()
	set.close()

	lat, lost, dup, unacked := t.result()
	reconnects, closes, ended, sockErr := set.summary()
	if len(closes) > 0 {
		b.notes("e2e: the relay closed sockets: %s (reconnected %d times with since)", closeCodes(closes), reconnects)
	}
	if ended > 0 {
		b.notes("e2e: %d sockets gave up: %v", ended, sockErr)
	}
	if n, first := failed.get(); n > 0 {
		b.notes("e2e: %d webhooks failed, first: %v", n, first)
	}
	if n := t.foreign.Load(); n > 0 {
		b.notes("e2e: %d frames were not ours or reached another user's socket", n)
	}
	if unacked > 0 {
		b.notes("e2e: %d messages arrived although their POST failed (stored, answer lost)", unacked)
	}
	var acks []time.Duration
	for _, l := range ackLat {
		acks = append(acks, l...)
	}
	out := []metric{
		{Scenario: "e2e", Name: "sent/s", Unit: "msg/s", Value: perSecond(int64(total), sendTime)},
		{Scenario: "e2e", Name: "schedule lag max", Unit: "ms", Value: float64(lag.Load()) / 1e6},
	}
	out = append(out, latencyMetrics("e2e", "POST→socket", lat)...)
	ack := latencyMetrics("e2e", "POST ack", acks)
	out = append(out, ack[0], ack[2]) // p50 and p99: is the latency in the commit or in the delivery?
	out = append(out, memUse.metrics("e2e")...)
	return append(out,
		metric{Scenario: "e2e", Name: "delivered", Unit: "count", Value: float64(len(lat))},
		metric{Scenario: "e2e", Name: "lost", Unit: "count", Value: float64(lost), Agg: aggSum, Failure: true},
		metric{Scenario: "e2e", Name: "duplicated", Unit: "count", Value: float64(dup), Agg: aggSum, Failure: true},
		metric{Scenario: "e2e", Name: "errors", Unit: "count", Value: float64(failed.n.Load() + t.foreign.Load()), Agg: aggSum},
		metric{Scenario: "e2e", Name: "reconnects", Unit: "count", Value: float64(reconnects), Agg: aggSum},
	), nil
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
