package bolt

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/storage"
)

// commitMetrics are the store's metrics of its group commits.
type commitMetrics struct {
	duration, writes prometheus.Histogram
	pages, errors    prometheus.Counter
}

func newCommitMetrics(reg prometheus.Registerer) *commitMetrics {
	m := &commitMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "relay_store_commit_duration_seconds", Help: "Duration of group commits (including fsync).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}}),
		writes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "relay_store_commit_writes", Help: "Writes per group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		pages:  prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_store_pages_written_total", Help: "Pages written to the store file by commits."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "relay_store_commit_errors_total", Help: "Failed store commits."}),
	}
	reg.MustRegister(m.duration, m.writes, m.pages, m.errors)
	return m
}

func (m *commitMetrics) observe(c storage.Commit) {
	m.duration.Observe(c.Duration.Seconds())
	m.writes.Observe(float64(c.Writes))
	m.pages.Add(float64(c.Pages))
	if c.Err != nil {
		m.errors.Inc()
	}
}
