package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/chaos-relay/relay/client"
)

// pollSeed is how many messages each poll user holds before the loop: the
// first poll of each follower returns them, the rest find nothing new.
const pollSeed = 10

// runPoll has -concurrency followers, each with its own cursor on one of
// -users sessions, poll GET /messages?since= in closed loops for -duration.
// Every follower must see each seeded message exactly once (PROTOCOL §5.2).
// On several nodes user i's messages are posted to node i and polled on the
// next one.
func runPoll(ctx context.Context, b *bench) ([]metric, error) {
	users, err := b.newUsers(ctx, b.cfg.Users, true)
	if err != nil {
		return nil, fmt.Errorf("poll setup: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(setupConcurrency)
	for j, u := range users {
		g.Go(func() error {
			for i := range pollSeed {
				if _, err := client.PostWebhook(gctx, b.hc, u.hook(j), "application/json", seqBody(int64(i))); err != nil {
					return fmt.Errorf("poll seed: %w", err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	followers := make([]*client.Client, b.cfg.Concurrency)
	got := make([]atomic.Int64, b.cfg.Concurrency)
	for i := range followers {
		j := i % len(users)
		c := *users[j].at(j + 1) // its own cursor
		c.Cursor = ""
		followers[i] = &c
	}
	s := closedLoop(ctx, b.cfg.Concurrency, b.cfg.Duration, maxLoopRequests, func(ctx context.Context, w int, _ int64) error {
		page, err := followers[w].Poll(ctx, 0)
		if err != nil {
			return err
		}
		got[w].Add(int64(len(page.Messages)))
		return nil
	})
	if s.ok == 0 {
		return nil, fmt.Errorf("poll: no poll succeeded: %v", s.firstErr)
	}
	b.reportErrors("poll", s)
	var lost, dup int64
	for i := range got {
		switch n := got[i].Load(); {
		case n < pollSeed:
			lost += pollSeed - n
		case n > pollSeed:
			dup += n - pollSeed
		}
	}
	return append(loopMetrics("poll", "polls/s", "req/s", "GET", s),
		metric{Scenario: "poll", Name: "lost", Unit: "count", Value: float64(lost), Agg: aggSum, Failure: true},
		metric{Scenario: "poll", Name: "duplicated", Unit: "count", Value: float64(dup), Agg: aggSum, Failure: true},
	), nil
}
