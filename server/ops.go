package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/server/activity"
	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/storage"
)

// ops is what the relay keeps in memory for its operator views (the
// admin's connections, message timelines, charts and silent channels),
// beside what the hub keeps of its sockets. See package activity.
type ops struct {
	// node names this relay in the records ("" on a single relay; a
	// clustered relay will take it from its configuration).
	node    string
	minutes *activity.Minutes
	ingests *activity.Ingests
	polls   *activity.Polls
	inbound *activity.LastInbound
}

// newOps builds the records. The per-channel gauge of the last inbound
// message is registered only with RELAY_METRICS_CHANNEL_IDS=on: its label is
// a channel id, which PROTOCOL §10.2 otherwise keeps out of the metrics.
func newOps(cfg Config, now func() time.Time, reg prometheus.Registerer, log *slog.Logger) ops {
	o := ops{minutes: activity.NewMinutes(now), ingests: &activity.Ingests{}, polls: activity.NewPolls(),
		inbound: activity.NewLastInbound()}
	if cfg.MetricsChannelIDs {
		reg.MustRegister(o.inbound)
		if cfg.MetricsToken == "" {
			log.Warn("RELAY_METRICS_CHANNEL_IDS=on without RELAY_METRICS_TOKEN: anyone can read channel ids from /metrics, " +
				"and a webhook channel's id is enough to read its responses")
		}
	}
	return o
}

// maxUserAgent is how much of a client's User-Agent the admin's records
// keep: enough to tell the extension's version, bounded for memory.
const maxUserAgent = 200

// clientInfo is what the admin is shown of a request's client: its IP as
// the rate limits see it (PROTOCOL §1.9) and its User-Agent.
func (s *Server) clientInfo(r *http.Request) live.ClientInfo {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	return live.ClientInfo{RemoteAddr: clientIP(r, s.cfg.TrustedProxies), UserAgent: ua}
}

// ingested records a stored inbound message whose ingest began at start.
func (s *Server) ingested(m storage.Message, start time.Time) {
	stored := s.now()
	s.ops.minutes.Inbound(stored.Sub(start))
	s.ops.ingests.Add(activity.Ingest{ID: m.ID, Received: start, Stored: stored})
	s.ops.inbound.Set(m.ChannelID, m.Timestamp)
}

// polled records a GET /messages answer: the messages after since, and the
// since it answered.
func (s *Server) polled(c *echo.Context, userID string, since time.Time, list []storage.Message, next string) {
	client := s.clientInfo(c.Request())
	p := activity.Poll{UserID: userID, Node: s.ops.node, RemoteAddr: client.RemoteAddr, UserAgent: client.UserAgent,
		At: s.now(), After: since, Count: len(list)}
	if len(list) > 0 {
		p.Last = list[len(list)-1].Timestamp
	}
	cursor, _ := storage.ParseTime(next)
	s.ops.polls.Add(p, cursor)
}

// deliveryOutcome counts failed delivery attempts for the charts
// (outbox.Options.Outcome).
func (s *Server) deliveryOutcome(_, result string) {
	if result != storage.StatusSent {
		s.ops.minutes.Failure()
	}
}

// sampleSockets records the open WebSockets of the minute for the charts.
func (s *Server) sampleSockets() { s.ops.minutes.Sockets(s.hub.Count()) }

// forgetChannels drops deleted channels from the records of last inbound
// messages, so that their gauges end with them.
func (s *Server) forgetChannels(chans ...storage.Channel) {
	for _, ch := range chans {
		s.ops.inbound.Forget(ch.ID)
	}
}
