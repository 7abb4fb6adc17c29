package activity

import (
	"sync"
	"time"
)

// Window is how many minutes the charts cover: 24 hours.
const Window = 24 * 60

// Minute is the traffic of one minute.
type Minute struct {
	Start    time.Time // the minute's first instant, UTC
	In       int       // inbound messages stored
	Out      int       // replies accepted
	Failures int       // failed delivery attempts (retried or final)
	// Sockets is the number of open WebSockets when the minute was last
	// sampled (Sockets); minutes without a sample read 0.
	Sockets int
	// Ingest latency of the minute's inbound messages: from the relay taking
	// a parsed message to its durable commit.
	LatencySum time.Duration
	LatencyMax time.Duration
}

// LatencyMean is the mean ingest latency of the minute (0 without messages).
func (m Minute) LatencyMean() time.Duration {
	if m.In == 0 {
		return 0
	}
	return m.LatencySum / time.Duration(m.In)
}

// Minutes counts traffic per minute in a ring of Window minutes.
type Minutes struct {
	now   func() time.Time
	mu    sync.Mutex
	slots [Window]Minute
}

// NewMinutes returns an empty ring on the clock now (nil: time.Now).
func NewMinutes(now func() time.Time) *Minutes {
	if now == nil {
		now = time.Now
	}
	return &Minutes{now: now}
}

// slot returns the current minute's slot, cleared when it last held an
// older minute. Lock must be held.
func (m *Minutes) slot() *Minute {
	start := m.now().UTC().Truncate(time.Minute)
	s := &m.slots[start.Unix()/60%Window]
	if !s.Start.Equal(start) {
		*s = Minute{Start: start}
	}
	return s
}

// Inbound counts an inbound message stored with its ingest latency.
func (m *Minutes) Inbound(latency time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.slot()
	s.In++
	s.LatencySum += latency
	s.LatencyMax = max(s.LatencyMax, latency)
}

// Reply counts an accepted reply.
func (m *Minutes) Reply() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slot().Out++
}

// Failure counts a failed delivery attempt.
func (m *Minutes) Failure() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slot().Failures++
}

// Sockets records how many WebSockets are open now.
func (m *Minutes) Sockets(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slot().Sockets = n
}

// Series returns the last Window minutes, oldest first; the last one is the
// current minute, so far. Minutes nothing was counted in are zero.
func (m *Minutes) Series() []Minute {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := m.slot().Start
	out := make([]Minute, Window)
	for i := range out {
		start := end.Add(time.Duration(i-Window+1) * time.Minute)
		if s := m.slots[start.Unix()/60%Window]; s.Start.Equal(start) {
			out[i] = s
		} else {
			out[i] = Minute{Start: start}
		}
	}
	return out
}
