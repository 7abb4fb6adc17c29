package server

import (
	"context"
	"net/http"
	"time"

	"github.com/chaos-relay/relay/admin"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server/live"
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
func (a adminRelay) GatewayState(channelID string) string {
	if a.s.discord == nil {
		return ""
	}
	return a.s.discord.GatewayState(channelID)
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
	chans, err := s.store.Channels(ctx, userID)
	if err != nil {
		return err
	}
	tokens := map[string]string{} // read before the secrets are deleted
	for _, ch := range chans {
		if tok, err := s.store.ChannelSecret(ctx, ch.ID, secretBotToken); err == nil {
			tokens[ch.ID] = string(tok)
		}
	}
	if _, err := s.store.User(ctx, userID); err != nil {
		return err
	}
	deleted, err := s.store.DeleteUser(ctx, userID)
	if err != nil {
		return err
	}
	s.hub.CloseUser(userID, live.CloseSessionDeleted, live.ReasonSessionDeleted)
	s.mcp.DeleteUser(userID)
	for _, ch := range deleted {
		s.releasePlatform(ch, tokens[ch.ID])
	}
	s.log.Info("session deleted by the admin", "component", "admin", "user_id", userID, "channels", len(deleted))
	return nil
}

// RetryDelivery puts a failed delivery back in the queue (outbox.Retry).
func (a adminRelay) RetryDelivery(ctx context.Context, responseID string) error {
	_, err := a.s.outbox.Retry(ctx, responseID)
	return err
}
