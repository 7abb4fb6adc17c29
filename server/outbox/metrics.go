package outbox

import (
	"context"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	deliveries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, o *Outbox) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relay_deliveries_total",
			Help: "Reply delivery outcomes: sent, failed, or retry (an attempt failed, another is scheduled)."},
			[]string{"channel_type", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, pendingCollector{o: o, desc: prometheus.NewDesc("relay_deliveries_pending",
			"Replies waiting for delivery, by channel type.", []string{"channel_type"}, nil)})
	}
	return m
}

// pendingCollector reports the pending deliveries from the store at scrape
// time, so the gauge survives restarts. A failed read is logged: the gauge is
// then missing from that scrape, and an alert on its absence would otherwise
// have nothing to explain it.
type pendingCollector struct {
	o    *Outbox
	desc *prometheus.Desc
}

func (p pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p pendingCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := p.o.store.PendingCounts(context.Background())
	if err != nil {
		p.o.log.Warn("count pending deliveries for metrics", "err", err)
		return
	}
	types := make([]string, 0, len(p.o.senders))
	for typ := range p.o.senders {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(counts[typ]), typ)
	}
}
