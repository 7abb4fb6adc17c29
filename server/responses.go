package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// responseJSON is a response on the public route (PROTOCOL §7.4): no userId.
type responseJSON struct {
	ID          string          `json:"id"`
	ChannelType string          `json:"channelType"`
	ChannelID   string          `json:"channelId"`
	From        string          `json:"from"`
	Content     string          `json:"content"`
	Timestamp   string          `json:"timestamp"`
	Metadata    json.RawMessage `json:"metadata"`
}

type responsesPage struct {
	Responses []responseJSON `json:"responses"`
	Since     string         `json:"since"`
	HasMore   bool           `json:"hasMore"`
}

// publicResponses reports whether a channel type's replies are public.
func (s *Server) publicResponses(typ string) bool {
	pl := s.platforms.of(typ)
	return pl != nil && pl.Traits().PublicResponses
}

// responses handles GET /responses/:channelId: public, for the channel
// types whose replies are public (webhooks).
func (s *Server) responses(c *echo.Context) error {
	id := c.Param("channelId")
	ch, err := s.store.Channel(c.Request().Context(), id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && !s.publicResponses(ch.Type) {
		return errNoChannel
	}
	if err != nil {
		return err
	}
	since, sinceText, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	list, more, err := s.store.ResponsesAfter(c.Request().Context(), id, since, limit)
	if errors.Is(err, storage.ErrNotFound) {
		return errNoChannel // deleted meanwhile
	}
	if err != nil {
		return err
	}
	page := responsesPage{Responses: make([]responseJSON, len(list)), Since: sinceText, HasMore: more}
	for i, r := range list {
		page.Responses[i] = responseJSON{ID: r.ID, ChannelType: r.ChannelType, ChannelID: r.ChannelID, From: r.From,
			Content: r.Content, Timestamp: storage.FormatTime(r.Timestamp), Metadata: orEmptyObject(r.Metadata)}
	}
	if len(list) > 0 {
		page.Since = page.Responses[len(list)-1].Timestamp
	}
	return writeJSON(c, http.StatusOK, page)
}
