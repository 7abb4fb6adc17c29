package server

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

type healthResponse struct {
	Status     string `json:"status"`
	Version    string `json:"version"`
	KV         bool   `json:"kv"`
	WebSockets int    `json:"websockets"`
	Uptime     int64  `json:"uptime"`
	Storage    string `json:"storage"`
}

// health handles GET /health (PROTOCOL §10.1): 200, "degraded" while the
// most recent store commit has failed; 503 "unavailable" while the store
// cannot be reached (a NATS connection not yet made, or lost), so that a
// load balancer sends traffic to the relays that can serve it.
func (s *Server) health(c *echo.Context) error {
	h := s.store.Health()
	status, code := "ok", http.StatusOK
	switch {
	case !h.Open, s.cluster != nil && !s.cluster.Joined():
		status, code = "unavailable", http.StatusServiceUnavailable
	case h.Degraded:
		status = "degraded"
	}
	return writeJSON(c, code, healthResponse{
		Status:     status,
		Version:    s.version,
		KV:         h.Open,
		WebSockets: s.hub.Count(),
		Uptime:     int64(s.now().Sub(s.started).Seconds()),
		Storage:    h.Engine,
	})
}

const faviconSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f2937"/><path d="M4 11V5h4a2 2 0 0 1 0 4H4m4 0 3 2" stroke="#38bdf8" stroke-width="1.6" fill="none"/></svg>`

// favicon serves a small SVG icon (PROTOCOL §1.10).
func favicon(c *echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("Content-Type", "image/svg+xml")
	c.Response().WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	_, err := c.Response().Write([]byte(faviconSVG))
	return err
}
