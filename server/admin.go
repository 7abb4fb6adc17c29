package server

import (
	"context"
	"net/http"
	"time"

	"github.com/chaos-relay/relay/admin"
	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server/live"
	"github.com/chaos-relay/relay/storage"
)

// adminRelay is what the admin package sees of the running relay.
type adminRelay struct{ s *Server }

var _ admin.Relay = adminRelay{}

func (a adminRelay) Version() string                  { return a.s.version }
func (a adminRelay) Uptime() time.Duration            { return a.s.now().Sub(a.s.started) }
func (a adminRelay) WebSockets() int                  { return a.s.hub.Count() }
func (a adminRelay) UserWebSockets(userID string) int { return a.s.hub.UserCount(userID) }
func (a adminRelay) UserMCP(userID string) (sessions, callsLastHour int) {
	return a.s.mcp.Stats(userID)
}
func (a adminRelay) SessionState(ch storage.Channel) (string, bool) {
	if s, ok := a.s.platforms.of(ch.Type).(channels.Sessions); ok {
		return s.SessionState(ch.ID), true
	}
	return "", false
}
func (a adminRelay) Badge(ch storage.Channel) (string, []string) {
	if d, ok := a.s.platforms.of(ch.Type).(channels.Describer); ok {
		return d.Badge(ch)
	}
	return "", nil
}

// Nodes are the cluster's nodes with their leases; none on a single relay.
func (a adminRelay) Nodes() []admin.Node {
	if a.s.cluster == nil {
		return nil
	}
	return a.s.cluster.Nodes()
}

// SessionLeases asks every platform with sessions which lease each of its
// channels' sessions runs under.
func (a adminRelay) SessionLeases(ctx context.Context) (map[string]storage.Channel, error) {
	out := map[string]storage.Channel{}
	for _, pl := range a.s.platforms.list {
		sp, ok := pl.(channels.Sessions)
		if !ok {
			continue
		}
		chans, err := a.s.store.ChannelsOfType(ctx, pl.Type())
		if err != nil {
			return nil, err
		}
		byID := make(map[string]storage.Channel, len(chans))
		for _, ch := range chans {
			byID[ch.ID] = ch
		}
		for lease, id := range sp.SessionLeases(chans) {
			if ch, ok := byID[id]; ok {
				out[lease] = ch
			}
		}
	}
	return out, nil
}

func (a adminRelay) ClientIP(r *http.Request) string { return clientIP(r, a.s.cfg.TrustedProxies) }
func (a adminRelay) PublicOrigin(r *http.Request) string {
	return a.s.publicOrigin(r)
}

func (a adminRelay) AllowLogin(ip string) (time.Duration, bool) {
	wait, ok := a.s.limits.Allow(ratelimit.AdminLogin, ip)
	if !ok {
		a.s.metrics.rateLimited.WithLabelValues(string(ratelimit.AdminLogin)).Inc()
	}
	return wait, ok
}

// DeleteSession removes a session and everything it owns in one
// transaction, then closes its sockets with 1008 and releases its bots.
func (a adminRelay) DeleteSession(ctx context.Context, userID string) error {
	s := a.s
	if _, err := s.store.User(ctx, userID); err != nil {
		return err
	}
	chans, err := s.store.Channels(ctx, userID)
	if err != nil {
		return err
	}
	release, err := s.prepareRelease(ctx, chans) // before their secrets are gone
	if err != nil {
		return err
	}
	deleted, err := s.store.DeleteUser(ctx, userID)
	if err != nil {
		return err
	}
	s.hub.CloseUser(userID, live.CloseSessionDeleted, live.ReasonSessionDeleted)
	s.keys.forget(userID)
	s.nonces.forget(userID)
	s.mcp.DeleteUser(ctx, userID)
	s.forgetChannels(deleted...)
	release()
	s.log.Info("session deleted by the admin", "user_id", userID, "channels", len(deleted))
	return nil
}

// RetryDelivery puts a failed delivery back in the queue (outbox.Retry).
func (a adminRelay) RetryDelivery(ctx context.Context, responseID string) error {
	_, err := a.s.outbox.Retry(ctx, responseID)
	return err
}
