package server

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v5"
)

// typing handles POST /typing (PROTOCOL §7.6). Ownership is required for
// every channel type. Typing indicators are sent best-effort by the platform
// channels; for channels without one (webhook, slack, email, or no bot
// token) there is nothing to send.
func (s *Server) typing(c *echo.Context) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var f map[string]json.RawMessage
	if err := decodeObject(body, &f); err != nil {
		return err
	}
	id, ok := jsonString(f["channelId"]) // null is not a string
	if !ok {
		return badRequest("Missing channelId")
	}
	if _, err := s.ownedChannel(c, id); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, okBody{OK: true})
}
