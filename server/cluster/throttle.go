package cluster

import (
	"log/slog"
	"sync"
	"time"
)

// logEvery is how often a repeating warning (NATS unreachable) is logged.
const logEvery = time.Minute

// throttle logs a repeating warning at most once per logEvery, with the
// number of times it was suppressed since.
type throttle struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (t *throttle) warn(log *slog.Logger, msg string, args ...any) {
	t.mu.Lock()
	now := time.Now()
	if !t.last.IsZero() && now.Sub(t.last) < logEvery {
		t.suppressed++
		t.mu.Unlock()
		return
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	t.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Warn(msg, args...)
}
