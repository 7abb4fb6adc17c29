package server

import (
	"context"
	"time"
)

// backgroundTimeout bounds best-effort platform calls (notices, typing):
// every outbound call has a 10 s limit (PROTOCOL §7.5).
const backgroundTimeout = 10 * time.Second

// releaseTimeout bounds the release of a deleted channel's platform
// resources, retries included (Telegram keeps posting to a webhook until it
// is removed, so its removal is worth a few attempts).
const releaseTimeout = 2 * time.Minute

// background runs a best-effort task that must not delay an answer, for at
// most timeout. Tasks are owned: shutdown cancels and waits for them.
func (s *Server) background(timeout time.Duration, task func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		ctx, cancel := context.WithTimeout(s.bgCtx, timeout)
		defer cancel()
		task(ctx)
	}()
}

// stopBackground cancels running tasks and waits for them.
func (s *Server) stopBackground() {
	s.bgMu.Lock()
	s.bgClosed = true
	s.bgMu.Unlock()
	s.bgCancel()
	s.bgWG.Wait()
}
