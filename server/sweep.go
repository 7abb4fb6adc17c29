package server

import (
	"context"
	"time"

	"github.com/chaos-relay/relay/admin"
)

// sweepBatch bounds each retention transaction so writers never wait long
// (PROTOCOL §11.5).
const sweepBatch = 1000

// sweepLoop runs retention every SweepInterval and purges deleted channels'
// responses, also right after a channel is deleted. On a relay of several
// nodes the periodic work runs on the node holding the sweep lease, once
// per period for the relay; a purge after a deletion runs on the node that
// deleted (purges are safe on several nodes at once: each delete is
// conditional on the record it read).
func (s *Server) sweepLoop(ctx context.Context) {
	s.purgeDeleted(ctx) // resume purges interrupted by a restart
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.purge:
			s.purgeDeleted(ctx)
		case <-t.C:
			if s.holdsSweep(ctx) {
				s.sweep(ctx)
				s.purgeDeleted(ctx)
			}
		}
	}
}

// holdsSweep reports whether this node runs the periodic sweep: always on
// one node; on several, while it holds the sweep lease (kept once taken,
// until the node stops or loses touch with the others).
func (s *Server) holdsSweep(ctx context.Context) bool {
	if s.cluster == nil {
		return true
	}
	l := s.cluster.Lease(leaseSweep)
	if l.Held() {
		return true
	}
	ok, err := l.TryAcquire(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("sweep lease", "err", err)
	}
	return ok && err == nil
}

func (s *Server) sweep(ctx context.Context) {
	start := time.Now()
	res, err := s.store.Sweep(ctx, s.now(), s.cfg.Retention, sweepBatch)
	s.metrics.retentionDeleted.WithLabelValues("message").Add(float64(res.Messages))
	s.metrics.retentionDeleted.WithLabelValues("response").Add(float64(res.Responses))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("retention sweep", "err", err)
		}
		return
	}
	s.log.Debug("retention sweep", "messages", res.Messages, "responses", res.Responses, "took", time.Since(start))
	if _, err := s.store.ExpireAdminSessions(ctx, s.now().Add(-admin.SessionTTL)); err != nil && ctx.Err() == nil {
		s.log.Error("expire admin sessions", "err", err)
	}
}

func (s *Server) purgeDeleted(ctx context.Context) {
	if _, err := s.store.PurgeDeleted(ctx, sweepBatch); err != nil && ctx.Err() == nil {
		s.log.Error("purge deleted channels", "err", err)
	}
}

// kickPurge asks the sweeper to purge deleted channels soon.
func (s *Server) kickPurge() {
	select {
	case s.purge <- struct{}{}:
	default:
	}
}
