package activity

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LastInbound is when each channel last received a message since the relay
// started. It holds one entry per channel that received one (channels are
// bounded by the store), and forgets deleted channels.
type LastInbound struct {
	mu sync.Mutex
	at map[string]time.Time
}

// NewLastInbound returns an empty record.
func NewLastInbound() *LastInbound { return &LastInbound{at: map[string]time.Time{}} }

// Set records a message of channel stored at t.
func (l *LastInbound) Set(channelID string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.at[channelID]) {
		l.at[channelID] = t
	}
}

// Get returns when the channel last received a message (zero: not since the
// relay started).
func (l *LastInbound) Get(channelID string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.at[channelID]
}

// Forget drops a deleted channel.
func (l *LastInbound) Forget(channelID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.at, channelID)
}

var lastInboundDesc = prometheus.NewDesc("relay_channel_last_inbound_timestamp_seconds",
	"Unix time of the last inbound message each channel stored since the relay started.", []string{"channel_id"}, nil)

// Describe implements prometheus.Collector.
func (l *LastInbound) Describe(ch chan<- *prometheus.Desc) { ch <- lastInboundDesc }

// Collect implements prometheus.Collector: one gauge per channel that
// received a message since the relay started.
func (l *LastInbound) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	metrics := make([]prometheus.Metric, 0, len(l.at))
	for id, t := range l.at {
		metrics = append(metrics, prometheus.MustNewConstMetric(lastInboundDesc, prometheus.GaugeValue, float64(t.UnixMilli())/1000, id))
	}
	l.mu.Unlock() // not held while the registry reads: ingest sets it
	for _, m := range metrics {
		ch <- m
	}
}

var _ prometheus.Collector = (*LastInbound)(nil)
