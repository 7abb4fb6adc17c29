// Package storemetrics exports a store's commits (storage.Commit) as
// Prometheus metrics, the same for every backend.
package storemetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
)

// Commits are a store's metrics of its commits.
type Commits struct {
	duration, writes prometheus.Histogram
	pages, errors    prometheus.Counter // pages is nil for a store without pages
}

// New returns the commit metrics, to be registered with Register. pages
// says whether the store writes pages of a file
// (relay_store_pages_written_total).
func New(pages bool) *Commits {
	m := &Commits{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "relay_store_commit_duration_seconds", Help: "Duration of store commits (including fsync or replication).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}}),
		writes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "relay_store_commit_writes", Help: "Writes per store commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_store_commit_errors_total", Help: "Failed store commits."}),
	}
	if pages {
		m.pages = prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_store_pages_written_total", Help: "Pages written to the store file by commits."})
	}
	return m
}

// Register registers the metrics with reg (what they counted before
// included).
func (m *Commits) Register(reg prometheus.Registerer) {
	reg.MustRegister(m.duration, m.writes, m.errors)
	if m.pages != nil {
		reg.MustRegister(m.pages)
	}
}

// Observe counts a commit.
func (m *Commits) Observe(c storage.Commit) {
	m.duration.Observe(c.Duration.Seconds())
	m.writes.Observe(float64(c.Writes))
	if m.pages != nil {
		m.pages.Add(float64(c.Pages))
	}
	if c.Err != nil {
		m.errors.Inc()
	}
}

// Hook returns an OnCommit hook that counts each commit and then calls
// next, if set.
func (m *Commits) Hook(next func(storage.Commit)) func(storage.Commit) {
	return func(c storage.Commit) {
		m.Observe(c)
		if next != nil {
			next(c)
		}
	}
}
