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
func runIngest(ctx context.Context, b *bench) ([]metric, error) {
	users, err := b.newUsers(ctx, b.cfg.Users, true)
	if err != nil {
		return nil, fmt.Errorf("ingest setup: %w", err)
	}
	s := closedLoop(ctx, b.cfg.Concurrency, b.cfg.Duration, maxLoopRequests, func(ctx context.Context, _ int, seq int64) error {
		u := users[seq%int64(len(users))]
		_, err := client.PostWebhook(ctx, b.hc, u.webhook, "application/json", ingestBody(seq))
		return err
	})
	if s.ok == 0 {
		return nil, fmt.Errorf("ingest: no webhook was acknowledged: %v", s.firstErr)
	}
	b.reportErrors("ingest", s)
	return loopMetrics("ingest", "acked/s", "msg/s", "POST", s), nil
}

// ingestBody is a small, typical webhook payload.
func ingestBody(seq int64) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"event":"relaybench","text":"hello from the load generator","seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, '}')
}
