package server

import (
	"context"
	"time"
)

// backgroundTimeout bounds best-effort platform calls (notices, typing,
// webhook removal): every outbound call has a 10 s limit (PROTOCOL §7.5).
const backgroundTimeout = 10 * time.Second

// background runs a best-effort task that must not delay an answer. Tasks
// are owned: shutdown cancels and waits for them.
func (s *Server) background(task func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		ctx, cancel := context.WithTimeout(s.bgCtx, backgroundTimeout)
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
