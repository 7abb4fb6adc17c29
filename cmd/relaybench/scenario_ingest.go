package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/chaos-relay/relay/client"
)

// runIngest has -concurrency closed-loop senders post small JSON webhooks,
// round robin over -users channels (one per user), for -duration: each 200 is
// a durable acknowledgement (the relay answers after fsync, PROTOCOL §4.1).
// On several nodes each channel's webhooks go round the nodes in turn, so
// that every user's log is appended to by every node.
func runIngest(ctx context.Context, b *bench) ([]metric, error) {
	users, err := b.newUsers(ctx, b.cfg.Users, true)
	if err != nil {
		return nil, fmt.Errorf("ingest setup: %w", err)
	}
	before, countersOK := b.commitCounters(ctx)
	s := closedLoop(ctx, b.cfg.Concurrency, b.cfg.Duration, maxLoopRequests, func(ctx context.Context, _ int, seq int64) error {
		n := int64(len(users))
		u := users[seq%n]
		_, err := client.PostWebhook(ctx, b.hc, u.hook(int(seq/n)), "application/json", ingestBody(seq))
		return err
	})
	if s.ok == 0 {
		return nil, fmt.Errorf("ingest: no webhook was acknowledged: %v", s.firstErr)
	}
	b.reportErrors("ingest", s)
	out := loopMetrics("ingest", "acked/s", "msg/s", "POST", s)
	if after, ok := b.commitCounters(ctx); ok && countersOK {
		out = append(out, after.since(before).metrics("ingest")...)
	}
	return out, nil
}

// commits are the relay's group-commit counters (relay_store_commit_*): the
// mean commit time shows how fast the disk's fsyncs were during a run, and
// the writes per commit how well the commits were shared.
type commits struct {
	count, seconds, writes float64
}

// commitCounters reads the counters from the relay's /metrics; false when
// they cannot be read (e.g. behind RELAY_METRICS_TOKEN).
func (b *bench) commitCounters(ctx context.Context) (commits, bool) {
	v, err := b.metrics(ctx, "relay_store_commit_duration_seconds_count",
		"relay_store_commit_duration_seconds_sum", "relay_store_commit_writes_sum")
	if err != nil {
		return commits{}, false
	}
	return commits{count: v[0], seconds: v[1], writes: v[2]}, true
}

// since is what happened between an earlier reading and c.
func (c commits) since(earlier commits) commits {
	return commits{count: c.count - earlier.count, seconds: c.seconds - earlier.seconds, writes: c.writes - earlier.writes}
}

// metrics are the mean commit time and writes per commit, none without a commit.
func (c commits) metrics(scenario string) []metric {
	if c.count <= 0 {
		return nil
	}
	return []metric{
		{Scenario: scenario, Name: "commit time (mean)", Unit: "ms", Value: c.seconds / c.count * 1000},
		{Scenario: scenario, Name: "writes per commit", Unit: "count", Value: c.writes / c.count},
	}
}

// ingestBody is a small, typical webhook payload.
func ingestBody(seq int64) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"event":"relaybench","text":"hello from the load generator","seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, '}')
}
