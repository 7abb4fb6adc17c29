package mcp

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a forwarded call (the outcome label and the logs).
const (
	outcomeOK           = "ok"           // the extension answered with a result
	outcomeError        = "error"        // it answered with an error, or an invalid answer; or shutdown
	outcomeOffline      = "offline"      // no socket
	outcomeTimeout      = "timeout"      // RELAY_MCP_REQUEST_TIMEOUT
	outcomeDisconnected = "disconnected" // no socket left for the disconnect grace
	outcomeCancelled    = "cancelled"    // notifications/cancelled, or the client went away
	outcomeLimited      = "limited"      // over RELAY_MCP_MAX_INFLIGHT: not forwarded
)

type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the bridge's metrics on reg (nil: not registered).
// Labels are bounded: method is one of the three forwarded methods.
func newMetrics(reg prometheus.Registerer, b *Bridge) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relay_mcp_calls_total",
			Help: "MCP requests forwarded to an extension (or refused over the in-flight cap), by method and outcome."},
			[]string{"method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "relay_mcp_call_duration_seconds",
			Help:    "Time from forwarding an MCP request to its answer, timeout or failure, by method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"method"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.duration,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "relay_mcp_sessions", Help: "Live MCP sessions: of the whole relay, when its nodes share them."},
				func() float64 { return float64(b.sessions.Count("")) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "relay_mcp_inflight", Help: "MCP requests waiting for an extension's answer."},
				func() float64 { return float64(b.inflightTotal()) }))
	}
	return m
}

func (m *metrics) observe(method, outcome string, d time.Duration) {
	m.calls.WithLabelValues(method, outcome).Inc()
	if outcome != outcomeLimited {
		m.duration.WithLabelValues(method).Observe(d.Seconds())
	}
}

// usage counts each user's forwarded calls per minute over the last hour,
// for the dashboard: 60 counters per user that called in the last hour.
type usage struct {
	mu    sync.Mutex
	users map[string]*hourly
}

type hourly struct {
	minute [60]int64 // the minute (Unix time / 60) each slot counts
	count  [60]int
}

func newUsage() *usage { return &usage{users: map[string]*hourly{}} }

func (u *usage) add(userID string, now time.Time) {
	m := now.Unix() / 60
	u.mu.Lock()
	defer u.mu.Unlock()
	h := u.users[userID]
	if h == nil {
		h = &hourly{}
		u.users[userID] = h
	}
	i := m % 60
	if h.minute[i] != m {
		h.minute[i], h.count[i] = m, 0
	}
	h.count[i]++
}

// lastHour is the user's calls in the 60 minutes up to now.
func (u *usage) lastHour(userID string, now time.Time) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.users[userID].sum(now.Unix() / 60)
}

func (h *hourly) sum(m int64) int {
	if h == nil {
		return 0
	}
	n := 0
	for i := range h.minute {
		if h.minute[i] > m-60 {
			n += h.count[i]
		}
	}
	return n
}

// prune forgets users without a call in the last hour.
func (u *usage) prune(now time.Time) {
	m := now.Unix() / 60
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, h := range u.users {
		if h.sum(m) == 0 {
			delete(u.users, id)
		}
	}
}

func (u *usage) removeUser(userID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.users, userID)
}
