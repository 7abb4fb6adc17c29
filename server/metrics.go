package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/chaos-relay/relay/channels"
	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the relay's Prometheus metrics (PROTOCOL §10.2). Labels never
// carry per-user values.
type metrics struct {
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	inbound          *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	replies          *prometheus.CounterVec
	rateLimited      *prometheus.CounterVec
	authFailures     *prometheus.CounterVec
	retentionDeleted *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	f := promauto.With(reg)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "relay_store_size_bytes", Help: "Size of the store file."},
		func() float64 { return float64(s.store.Health().SizeBytes) })
	for _, pl := range s.platforms.list {
		if c, ok := pl.(prometheus.Collector); ok {
			reg.MustRegister(c) // a platform's own metrics (Discord's gateway sessions)
		}
	}
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "relay_http_requests_total", Help: "HTTP requests by route pattern, method and status."},
			[]string{"route", "method", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "relay_http_request_duration_seconds", Help: "HTTP request duration by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"}),
		inbound: f.NewCounterVec(prometheus.CounterOpts{Name: "relay_inbound_messages_total", Help: "Inbound messages stored."},
			[]string{"channel_type"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{Name: "relay_inbound_dropped_total", Help: "Inbound messages acknowledged or refused without being stored."},
			[]string{"channel_type", "reason"}),
		replies: f.NewCounterVec(prometheus.CounterOpts{Name: "relay_replies_total", Help: "Replies accepted."},
			[]string{"channel_type", "transport"}),
		rateLimited: f.NewCounterVec(prometheus.CounterOpts{Name: "relay_rate_limited_total", Help: "Requests refused by a rate limit."},
			[]string{"limit"}),
		authFailures: f.NewCounterVec(prometheus.CounterOpts{Name: "relay_auth_failures_total", Help: "Failed authentications by kind."},
			[]string{"kind"}),
		retentionDeleted: f.NewCounterVec(prometheus.CounterOpts{Name: "relay_retention_deleted_total", Help: "Items removed by retention."},
			[]string{"kind"}),
	}
}

// metricsHandler serves the registry, behind RELAY_METRICS_TOKEN when set.
func (s *Server) metricsHandler(reg *prometheus.Registry) echo.HandlerFunc {
	h := echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return func(c *echo.Context) error {
		if s.cfg.MetricsToken != "" {
			tok, ok := channels.BearerToken(c.Request().Header.Get("Authorization"))
			if !ok || !channels.SecretEqual(tok, s.cfg.MetricsToken) {
				return newError(http.StatusUnauthorized, "Unauthorized")
			}
		}
		return h(c)
	}
}

func (m *metrics) observeRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}
