package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// typing handles POST /typing (PROTOCOL §7.6). Ownership is required for
// every channel type. Typing indicators are sent best-effort by the platform
// channels; for channels without one (webhook, slack, email, or no bot
// token) there is nothing to send.
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
	platform := ch.Type == storage.TypeTelegram && s.telegram != nil || ch.Type == storage.TypeDiscord && s.discord != nil
	if ch.Enabled && platform {
		s.background(func(ctx context.Context) {
			token, err := s.store.ChannelSecret(ctx, ch.ID, secretBotToken)
			if err != nil {
				return // no token: nothing to send
			}
			target, err := s.store.ReplyTarget(ctx, ch.ID)
			if err != nil || target == "" {
				return
			}
			if ch.Type == storage.TypeDiscord {
				err = s.discord.Typing(ctx, string(token), target)
			} else {
				err = s.telegram.SendTyping(ctx, string(token), target)
			}
			if err != nil {
				s.log.Debug("typing", "component", ch.Type, "err", err)
			}
		})
	}
	return writeJSON(c, http.StatusOK, okBody{OK: true})
}
