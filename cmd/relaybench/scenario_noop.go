package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// runNoop drives GET /health, which does no store work, with the same
// closed loop as ingest: the ceiling of the HTTP stack on this machine. On
// several nodes the requests go round the nodes.
func runNoop(ctx context.Context, b *bench) ([]metric, error) {
	s := closedLoop(ctx, b.cfg.Concurrency, b.cfg.Duration, maxLoopRequests, func(ctx context.Context, _ int, seq int64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.node(int(seq%int64(len(b.nodes))))+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := b.hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: status %d", resp.StatusCode)
		}
		return nil
	})
	if s.ok == 0 {
		return nil, fmt.Errorf("noop: no request succeeded: %v", s.firstErr)
	}
	b.reportErrors("noop", s)
	return loopMetrics("noop", "requests/s", "req/s", "GET", s), nil
}

// maxLoopRequests is the count bound of a closed loop; closedLoop lowers it
// further to requestsPerSecondCeiling per second of duration.
const maxLoopRequests = 1 << 40
