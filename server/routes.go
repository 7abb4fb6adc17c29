package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/admin"
	"github.com/prometheus/client_golang/prometheus"
)

// routes builds the Echo instance: one error handler, CORS before routing,
// and every route of PROTOCOL §1.2 that this version serves. Routing happens
// before authentication, so unknown paths are 404 and wrong methods 405 for
// everyone.
func (s *Server) routes(reg *prometheus.Registry) *echo.Echo {
	e := echo.NewWithConfig(echo.Config{
		Logger:           s.log,
		HTTPErrorHandler: s.handleError,
		Router:           echo.NewRouter(echo.RouterConfig{AutoHandleHEAD: true, MethodNotAllowedHandler: methodNotAllowed}),
	})
	e.Pre(commonHeaders)
	e.Use(s.observe)
	e.Use(oneSegmentParams)

	e.GET("/favicon.ico", favicon)
	e.GET("/health", s.health)
	e.GET("/metrics", s.metricsHandler(reg))
	e.POST("/auth/register", s.register)
	e.GET("/ws", s.ws)

	e.GET("/responses/:channelId", s.responses)

	auth := s.authenticate
	e.GET("/messages", s.messages, auth)
	e.POST("/reply", s.reply, auth)
	e.POST("/typing", s.typing, auth)
	e.GET("/channels", s.listChannels, auth)
	e.POST("/channels", s.createChannel, auth)
	e.PATCH("/channels/:channelId", s.updateChannel, auth)
	e.DELETE("/channels/:channelId", s.deleteChannel, auth)
	s.mountPlatforms(e)
	if s.cfg.MCP.Enabled {
		e.Any("/mcp/:agentId", s.mcpRoute) // off: every /mcp path is 404
	}
	admin.New(admin.Config{Key: s.cfg.AdminKey, Now: s.now}, s.store, adminRelay{s}, s.root.With("component", "admin")).Register(e)
	return e
}

// oneSegmentParams makes a path parameter match exactly one segment (PROTOCOL
// §1.2): Echo lets a parameter at the end of a route run over later '/', so
// /channels/a/b would reach /channels/:channelId (or its 405). A request path
// with more segments than its route's pattern is not that route.
func oneSegmentParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if pattern := c.Path(); strings.Contains(pattern, "/:") {
			path := c.Request().URL.RawPath // what Echo routes on, else Path
			if path == "" {
				path = c.Request().URL.Path
			}
			if strings.Count(path, "/") != strings.Count(pattern, "/") {
				return echo.ErrNotFound
			}
		}
		return next(c)
	}
}

// methodNotAllowed answers 405 with an Allow header that lists HEAD wherever
// GET is allowed (except /ws, PROTOCOL §1.2): AutoHandleHEAD serves HEAD
// there, but Echo's Allow omits it.
func methodNotAllowed(c *echo.Context) error {
	allow, _ := c.Get(echo.ContextKeyHeaderAllow).(string)
	if strings.Contains(allow, http.MethodGet) && !strings.Contains(allow, http.MethodHead) && c.Path() != "/ws" {
		allow += ", " + http.MethodHead
	}
	if allow != "" {
		c.Response().Header().Set(echo.HeaderAllow, allow)
	}
	return echo.ErrMethodNotAllowed
}
