package live

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	closedTotal *prometheus.CounterVec
	lag         prometheus.Histogram // observeLag
}

func newMetrics(reg prometheus.Registerer, h *Hub) *metrics {
	m := &metrics{closedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "relay_websocket_closed_total",
		Help: "WebSocket connections closed, by close code: the relay's when it closed first, the client's when the client did, 1006 when the connection dropped."},
		[]string{"code"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "relay_websocket_lag_messages",
			Help:    "Messages committed for a socket and not yet written to it, sampled on every open socket past its replay at each ping round (RELAY_WS_PING_INTERVAL).",
			Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512}}),
	}
	if reg != nil {
		reg.MustRegister(m.closedTotal, m.lag, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "relay_websocket_connections",
			Help: "Open WebSocket connections."}, func() float64 { return float64(h.count.Load()) }))
	}
	return m
}

func (m *metrics) closed(code int) { m.closedTotal.WithLabelValues(strconv.Itoa(code)).Inc() }
