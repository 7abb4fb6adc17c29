package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/server/mcp"
	"github.com/chaos-relay/relay/storage"
)

const (
	// msgMCPLimited is the 429 text of the mcp:<userId> limit (PROTOCOL §8).
	msgMCPLimited = "Too many MCP requests. Try again later."
	// maxAgentIDBytes bounds /mcp/:agentId's segment; longer is 404.
	maxAgentIDBytes = 256
)

// newMCP builds the MCP bridge and its forwarder to the hub's sockets. On
// a relay of several nodes, the sessions and the cancellations are the
// cluster's, so that a client's requests may reach any node.
func (s *Server) newMCP(reg prometheus.Registerer, log *slog.Logger) {
	s.mcpLocal = mcp.NewLocal(s.cfg.MCP, s.hub, log)
	var fwd mcp.Forwarder = s.mcpLocal
	opts := mcp.Options{Log: log, Registry: reg, Version: s.version, Now: s.now}
	if s.cluster != nil {
		fwd = s.cluster.Forwarder(s.mcpLocal, s.hub.UserCount)
		opts.Sessions, opts.Cancels = s.cluster.MCPSessions(s.cfg.MCP)
	}
	s.mcp = mcp.New(s.cfg.MCP, fwd, opts)
}

// lastSocketClosed is the hub's LastClosed hook: requests waiting for the
// user's extension start their disconnect grace.
func (s *Server) lastSocketClosed(userID string) { s.mcpLocal.LastClosed(userID) }

// mcpRoute serves /mcp/:agentId (PROTOCOL §13.2): routing, Origin,
// Bearer-only authentication, the mcp:<userId> rate limit and the body
// limit here; the bridge answers the rest.
func (s *Server) mcpRoute(c *echo.Context) error {
	r := c.Request()
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Access-Control-Expose-Headers", mcp.HeaderSessionID)
	agent := mcpAgentID(r)
	if agent == "" || len(agent) > maxAgentIDBytes {
		return echo.ErrNotFound
	}
	if r.Method != http.MethodPost && r.Method != http.MethodDelete {
		h.Set("Allow", "POST, DELETE, OPTIONS")
		return newError(http.StatusMethodNotAllowed, msgMethod)
	}
	if !s.mcp.OriginAllowed(r) {
		mcp.DenyOrigin(c.Response())
		return nil
	}
	user, err := s.bearerOnly(c)
	if err != nil {
		return err
	}
	if err := s.limit(c, ratelimit.MCP, user.ID, msgMCPLimited); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	if err := s.mcp.Serve(c.Response(), r, user.ID, agent, body); err != nil {
		// The shared session table is unreachable, as the store would be.
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return nil
}

// mcpAgentID is the path segment after /mcp/ exactly as received,
// percent-escapes kept (PROTOCOL §13.2).
func mcpAgentID(r *http.Request) string {
	p := r.URL.RawPath
	if p == "" {
		p = r.URL.EscapedPath()
	}
	agent, _ := strings.CutPrefix(p, "/mcp/")
	return agent
}

// bearerOnly authenticates an /mcp request by its apiKey alone, for legacy
// and signed sessions alike: MCP clients send static headers and cannot
// sign (PROTOCOL §13.3). Signature headers are ignored.
func (s *Server) bearerOnly(c *echo.Context) (storage.User, error) {
	r := c.Request()
	key, ok := channels.BearerToken(r.Header.Get("Authorization"))
	reason := "missing or malformed Authorization"
	if ok {
		u, err := s.store.UserByAPIKeyHash(r.Context(), hashAPIKey(key))
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return storage.User{}, err
		}
		reason = "unknown apiKey"
	}
	s.metrics.authFailures.WithLabelValues("bearer").Inc()
	s.log.Debug("authentication failed", "reason", reason, "route", c.Path())
	return storage.User{}, errUnauthorized
}
