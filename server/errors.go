package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
	"github.com/chaos-relay/relay/ratelimit"
	"github.com/chaos-relay/relay/storage"
)

// Error texts shared by several routes (PROTOCOL §1.6). They are part of the
// protocol: clients match on some of them.
const (
	msgInvalidJSON    = "Invalid JSON body"
	msgUnauthorized   = "Unauthorized. Include Authorization: Bearer <apiKey>"
	msgNotFound       = "Not found"
	msgMethod         = "Method not allowed"
	msgTooLarge       = "Request body too large"
	msgInboxFull      = "Inbox full"
	msgInternal       = "Internal server error"
	msgStorage        = "Storage unavailable. Please retry."
	msgChannelMissing = "Channel not found"
)

// apiError is an error with the status and the exact text the client sees.
type apiError struct {
	status     int
	msg        string
	retryAfter int // seconds; 0 = no Retry-After header
}

func (e *apiError) Error() string { return strconv.Itoa(e.status) + " " + e.msg }

func newError(status int, msg string) *apiError { return &apiError{status: status, msg: msg} }

func badRequest(msg string) *apiError { return newError(http.StatusBadRequest, msg) }

var (
	errInvalidJSON  = badRequest(msgInvalidJSON)
	errUnauthorized = newError(http.StatusUnauthorized, msgUnauthorized)
	errTooLarge     = newError(http.StatusRequestEntityTooLarge, msgTooLarge)
	errNoChannel    = newError(http.StatusNotFound, msgChannelMissing)
)

// handleError is the one place where errors become HTTP answers. Internal
// details never reach the client; 5xx causes are logged with the request id.
func (s *Server) handleError(c *echo.Context, err error) {
	if resp, uerr := echo.UnwrapResponse(c.Response()); uerr == nil && resp.Committed {
		s.log.Debug("error after response was committed", "err", err)
		return
	}
	var (
		ae *apiError
		pe *channels.Error
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &pe):
		ae = newError(pe.Status, pe.Msg) // from a platform's route
	case errors.Is(err, storage.ErrInboxFull):
		ae = &apiError{status: http.StatusTooManyRequests, msg: msgInboxFull, retryAfter: ratelimit.RetryAfterSeconds(s.cfg.SweepInterval)}
	case errors.As(err, &he) && he.Code < 500:
		ae = newError(he.Code, he.Message) // from packages mounted on the router (admin)
	case errors.Is(err, storage.ErrUnavailable):
		s.log.Error("store commit failed", "err", err, "request_id", requestID(c))
		ae = newError(http.StatusServiceUnavailable, msgStorage)
	default:
		switch code := echo.StatusCode(err); code {
		case http.StatusNotFound:
			ae = newError(code, msgNotFound)
		case http.StatusMethodNotAllowed:
			ae = newError(code, msgMethod)
		case http.StatusRequestEntityTooLarge:
			ae = errTooLarge
		default:
			s.log.Error("internal error", "err", err, "route", c.Path(), "request_id", requestID(c))
			ae = newError(http.StatusInternalServerError, msgInternal)
		}
	}
	if ae.retryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	if err := writeJSON(c, ae.status, errorBody{ae.msg}); err != nil {
		s.log.Debug("write error response", "err", err)
	}
}

type errorBody struct {
	Error string `json:"error"`
}
