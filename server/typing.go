package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels"
)

// typing handles POST /typing (PROTOCOL §7.6). Ownership is required for
// every channel type. The indicator is sent best-effort by platforms that
// have one (channels.Typer); for the others there is nothing to send.
func (s *Server) typing(c *echo.Context) error {
	f, err := s.readObject(c)
	if err != nil {
		return err
	}
	id, ok := jsonString(f["channelId"]) // null is not a string
	if !ok {
		return badRequest("Missing channelId")
	}
	ch, err := s.ownedChannel(c, id)
	if err != nil {
		return err
	}
	if t, ok := s.platforms.of(ch.Type).(channels.Typer); ok && ch.Enabled {
		s.background(backgroundTimeout, func(ctx context.Context) {
			if err := t.Typing(ctx, s.store, ch); err != nil {
				s.log.Debug("typing", "channel_type", ch.Type, "err", err)
			}
		})
	}
	return writeJSON(c, http.StatusOK, okBody{OK: true})
}
