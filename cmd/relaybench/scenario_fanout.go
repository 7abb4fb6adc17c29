package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/chaos-relay/relay/client"
)

// runFanout opens -sockets WebSockets of one user and posts -messages
// webhooks to that user as fast as -concurrency closed-loop senders can. The
// rate is sockets × messages over the time from the first POST until the last
// socket holds every message. Each socket tracks what it received, so
// messages missing after -grace are lost and repeats are duplicated. On
// several nodes the webhooks go to node 1 and the sockets round the others,
// so that every delivery crosses from one node to another.
func runFanout(ctx context.Context, b *bench) ([]metric, error) {
	k, m := b.cfg.Sockets, b.cfg.Messages
	if k > b.wsCap {
		return nil, fmt.Errorf("fanout: %d sockets of one user exceed the relay's cap of %d (start it with RELAY_WS_MAX_CONN_PER_USER≥%d and pass -ws-cap)", k, b.wsCap, k)
	}
	users, err := b.newUsers(ctx, 1, true)
	if err != nil {
		return nil, fmt.Errorf("fanout setup: %w", err)
	}
	u := users[0]
	recv := make([]*fanoutSocket, k)
	socks := make([]*socket, k)
	base := time.Now()
	for i := range socks {
		fs := &fanoutSocket{base: base, seen: make([]atomic.Bool, m), want: int64(m)}
		recv[i] = fs
		// Each socket is its own connection of the same session; they share
		// the *client.Client, which DialWS only reads.
		socks[i] = &socket{c: u.at(socketNode(i, len(b.nodes))), reconnect: true, onMessage: fs.onMessage}
	}
	set, err := openSockets(ctx, socks)
	if err != nil {
		return nil, fmt.Errorf("fanout sockets: %w", err)
	}
	defer set.close()

	acked := make([]atomic.Bool, m)
	begin := int64(time.Since(base))
	// The loop ends after m requests; its duration bound is only a backstop.
	s := closedLoop(ctx, min(b.cfg.Concurrency, m), time.Hour, int64(m), func(ctx context.Context, _ int, seq int64) error {
		_, err := client.PostWebhook(ctx, b.hc, u.hook(0), "application/json", seqBody(seq))
		if err == nil {
			acked[seq].Store(true)
		}
		return err
	})
	deadline := time.Now().Add(b.cfg.Grace)
	for time.Now().Before(deadline) && ctx.Err() == nil && fanoutMissing(recv, acked) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	set.close()

	lost := fanoutMissing(recv, acked)
	var dup, foreign, last int64
	complete := true
	for _, fs := range recv {
		dup += fs.dups.Load()
		foreign += fs.foreign.Load()
		if d := fs.done.Load(); d == 0 {
			complete = false
		} else {
			last = max(last, d-begin)
		}
	}
	reconnects, closes, ended, sockErr := set.summary()
	if len(closes) > 0 {
		b.notes("fanout: the relay closed sockets: %s (reconnected %d times with since)", closeCodes(closes), reconnects)
	}
	if ended > 0 {
		b.notes("fanout: %d sockets gave up: %v", ended, sockErr)
	}
	if s.failed > 0 {
		b.notes("fanout: %d webhooks failed, first: %v", s.failed, s.firstErr)
	}
	out := []metric{}
	if !complete {
		b.notes("fanout: not every socket received all %d messages; no delivery rate", m)
	} else {
		out = append(out, metric{Scenario: "fanout", Name: "deliveries/s", Unit: "msg/s", Value: perSecond(int64(k)*s.ok, time.Duration(last))})
		out = append(out, metric{Scenario: "fanout", Name: "time to last delivery", Unit: "ms", Value: float64(last) / 1e6})
	}
	return append(out,
		metric{Scenario: "fanout", Name: "ingest acked/s", Unit: "msg/s", Value: perSecond(s.ok, s.elapsed)},
		metric{Scenario: "fanout", Name: "sockets × messages", Unit: "count", Value: float64(int64(k) * s.ok)},
		metric{Scenario: "fanout", Name: "lost", Unit: "count", Value: float64(lost), Agg: aggSum, Failure: true},
		metric{Scenario: "fanout", Name: "duplicated", Unit: "count", Value: float64(dup), Agg: aggSum, Failure: true},
		metric{Scenario: "fanout", Name: "errors", Unit: "count", Value: float64(s.failed + foreign), Agg: aggSum},
		metric{Scenario: "fanout", Name: "reconnects", Unit: "count", Value: float64(reconnects), Agg: aggSum},
	), nil
}

// socketNode is the node of fanout's socket i among n: round the nodes
// other than node 1, which takes the webhooks.
func socketNode(i, n int) int {
	if n == 1 {
		return 0
	}
	return 1 + i%(n-1)
}

// fanoutSocket is what one fanout socket received.
type fanoutSocket struct {
	base    time.Time // the scenario's clock: times are ns since base
	seen    []atomic.Bool
	want    int64
	got     atomic.Int64
	dups    atomic.Int64
	foreign atomic.Int64
	done    atomic.Int64 // ns since base when the socket held every message; 0 before
}

func (fs *fanoutSocket) onMessage(content string) {
	seq, ok := parseSeq(content)
	if !ok || seq < 0 || seq >= int64(len(fs.seen)) {
		fs.foreign.Add(1)
		return
	}
	if fs.seen[seq].Swap(true) {
		fs.dups.Add(1)
		return
	}
	if fs.got.Add(1) == fs.want {
		fs.done.Store(int64(time.Since(fs.base)))
	}
}

// fanoutMissing counts the acknowledged messages that a socket has not
// received yet, over all sockets.
func fanoutMissing(recv []*fanoutSocket, acked []atomic.Bool) int64 {
	var n int64
	for _, fs := range recv {
		if fs.done.Load() != 0 {
			continue
		}
		for i := range acked {
			if acked[i].Load() && !fs.seen[i].Load() {
				n++
			}
		}
	}
	return n
}
