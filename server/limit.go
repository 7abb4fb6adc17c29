package server

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/ratelimit"
)

// limit takes a token from limit name's bucket for key, or returns the 429
// with Retry-After and the route's text (PROTOCOL §8).
func (s *Server) limit(c *echo.Context, name ratelimit.Name, key, text string) error {
	wait, ok := s.limits.Allow(name, key)
	if ok {
		return nil
	}
	s.metrics.rateLimited.WithLabelValues(string(name)).Inc()
	return &apiError{status: http.StatusTooManyRequests, msg: text, retryAfter: ratelimit.RetryAfterSeconds(wait)}
}
