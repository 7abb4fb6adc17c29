package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v5"
)

// commonHeaders runs before routing: CORS and nosniff on every answer
// (PROTOCOL §1.7, §1.10), and 204 for OPTIONS on any path, without auth.
func commonHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		h := c.Response().Header()
		for k, v := range fixedHeaders {
			h[k] = v // shared, read-only slices: no allocation per request
		}
		if c.Request().Method == http.MethodOptions {
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

// fixedHeaders are set on every answer, keys in canonical form.
var fixedHeaders = http.Header{
	"Access-Control-Allow-Origin":  {"*"},
	"Access-Control-Allow-Methods": {"GET, POST, PATCH, DELETE, OPTIONS"},
	"Access-Control-Allow-Headers": {"Content-Type, Authorization, X-Timestamp, X-Nonce, X-Signature, X-Webhook-Token, X-Webhook-Source, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID"},
	"X-Content-Type-Options":       {"nosniff"},
}

const ctxRequestID = "relay.request_id"

// requestIDs are a per-process random prefix and a counter: unique, cheap,
// and meaningless to anyone outside the logs.
type requestIDs struct {
	prefix string
	seq    atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (r *requestIDs) next() string { return r.prefix + strconv.FormatUint(r.seq.Add(1), 10) }

func requestID(c *echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// observe is the outermost route middleware: it recovers panics, turns
// errors into answers (so that the final status is known), and logs and
// counts every request by its route pattern — never by its URL, whose query
// may carry secrets (PROTOCOL §10.4).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) (err error) {
		start := time.Now()
		id := s.reqIDs.next()
		c.Set(ctxRequestID, id)
		c.Response().Header().Set("X-Request-Id", id)
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
			if err != nil {
				s.handleError(c, err)
			}
			status := http.StatusOK
			if resp, uerr := echo.UnwrapResponse(c.Response()); uerr == nil && resp.Status != 0 {
				status = resp.Status
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			s.metrics.observeRequest(route, c.Request().Method, status, d)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			if ctx := c.Request().Context(); s.log.Enabled(ctx, level) { // skip the arguments' cost when filtered
				s.log.Log(ctx, level, "request", "method", c.Request().Method, "route", route,
					"status", status, "duration", d, "client_ip", s.clientIP(c), "request_id", id)
			}
			err = nil
		}()
		return next(c)
	}
}

// clientIP is the request's client address for rate limits and logs.
func (s *Server) clientIP(c *echo.Context) string {
	return clientIP(c.Request(), s.cfg.TrustedProxies)
}
