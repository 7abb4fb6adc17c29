package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runFailover is e2e across the loss of a node: each of -users sessions
// holds one WebSocket on node 1 while webhooks flow through node 2 at -rate
// for -duration. Halfway, node 1 is killed with SIGKILL; its clients see
// their sockets close, wait -backoff and reconnect to the next node with
// since = the last message they received, as the extension does behind a
// load balancer. The figures are the time from the kill until the moved
// sockets received again, and lost and duplicated over the whole run:
// every acknowledged message must arrive exactly once across the move.
func runFailover(ctx context.Context, b *bench) ([]metric, error) {
	if b.dep == nil || len(b.nodes) < 2 {
		return nil, errors.New("failover: needs a relay of two nodes or more that relaybench starts (-start, -store cluster)")
	}
	users, err := b.newUsers(ctx, b.cfg.Users, true)
	if err != nil {
		return nil, fmt.Errorf("failover setup: %w", err)
	}
	total := int64(float64(b.cfg.Rate) * b.cfg.Duration.Seconds())
	if total < 2 {
		return nil, fmt.Errorf("failover: -rate × -duration sends fewer than 2")
	}
	t := newTracker(int(total))
	var killedAt atomic.Int64 // tracker time of the kill; 0 before
	moves := make([]move, len(users))
	socks := make([]*socket, len(users))
	for i, u := range users {
		m := &moves[i] // written by the socket's reader only, read after it ended
		socks[i] = &socket{c: u.at(0), nodes: u.clients, reconnect: true, pause: b.cfg.Backoff,
			onReconnect: func() {
				if killedAt.Load() != 0 && m.reconnected == 0 {
					m.reconnected = t.now()
				}
			},
			onMessage: t.matcher(i, len(users), func(at int64) {
				if m.reconnected != 0 && m.first == 0 {
					m.first = at
				}
			}),
		}
	}
	set, err := openSockets(ctx, socks)
	if err != nil {
		return nil, fmt.Errorf("failover sockets: %w", err)
	}
	defer set.close()

	victim := b.dep.relays[0]
	var killer sync.WaitGroup
	n := int64(len(users))
	sent := b.sendAtRate(ctx, t, total, func(seq int64) string { return users[seq%n].hook(1) }, func(seq int64) {
		if seq == total/2 {
			killedAt.Store(t.now())
			killer.Go(victim.Kill) // off the schedule: reaping takes a moment
		}
	})
	killer.Wait()
	t.await(ctx, b.cfg.Grace)
	set.close()

	kill := killedAt.Load()
	if kill == 0 {
		return nil, errors.New("failover: interrupted before the kill")
	}
	var reconnected, first []time.Duration
	for _, m := range moves {
		if m.reconnected != 0 {
			reconnected = append(reconnected, time.Duration(m.reconnected-kill))
		}
		if m.first != 0 {
			first = append(first, time.Duration(m.first-kill))
		}
	}
	if len(reconnected) < len(users) {
		b.notes("failover: %d of %d sockets reconnected after the kill", len(reconnected), len(users))
	}
	if len(first) < len(reconnected) {
		b.notes("failover: %d of %d moved sockets received nothing after moving", len(reconnected)-len(first), len(reconnected))
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	out := []metric{
		{Scenario: "failover", Name: "sent/s", Unit: "msg/s", Value: perSecond(total, sent.elapsed)},
		{Scenario: "failover", Name: "schedule lag max", Unit: "ms", Value: ms(sent.lag)},
		{Scenario: "failover", Name: "sockets moved", Unit: "count", Value: float64(len(reconnected))},
		{Scenario: "failover", Name: "reconnect back-off", Unit: "ms", Value: ms(cmp.Or(b.cfg.Backoff, reconnectPause))},
	}
	if len(reconnected) > 0 {
		slices.Sort(reconnected)
		out = append(out,
			metric{Scenario: "failover", Name: "kill → reconnected p50", Unit: "ms", Value: ms(percentile(reconnected, 50))},
			metric{Scenario: "failover", Name: "kill → reconnected max", Unit: "ms", Value: ms(reconnected[len(reconnected)-1])})
	}
	if len(first) > 0 {
		slices.Sort(first)
		out = append(out,
			metric{Scenario: "failover", Name: "kill → first socket receiving again", Unit: "ms", Value: ms(first[0])},
			metric{Scenario: "failover", Name: "kill → half receiving again", Unit: "ms", Value: ms(percentile(first, 50))})
		if len(first) == len(users) {
			out = append(out, metric{Scenario: "failover", Name: "kill → every socket receiving again", Unit: "ms", Value: ms(first[len(first)-1])})
		}
	}
	lat, counts := b.deliveryMetrics("failover", t, set, sent)
	out = append(out, lat...)
	return append(out, counts...), nil
}

// move is what one failover socket saw of the kill, in tracker times.
type move struct {
	reconnected int64 // its first reconnection after the kill
	first       int64 // the first message it received after that
}
