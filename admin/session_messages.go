package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// itemJSON is a message or response of one session, as the messages dialog
// pages them: content cut to a preview like everywhere in the admin (§11.6).
type itemJSON struct {
	ID          string        `json:"id"`
	UserID      string        `json:"userId"`
	ChannelType string        `json:"channelType"`
	ChannelID   string        `json:"channelId"`
	From        string        `json:"from"`
	Direction   string        `json:"direction"`
	Content     string        `json:"content"`
	Timestamp   string        `json:"timestamp"`
	Delivery    *itemDelivery `json:"delivery,omitempty"`
}

// itemDelivery is the delivery state of a response.
type itemDelivery struct {
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`
}

type itemsJSON struct {
	Messages []itemJSON `json:"messages"`
	Cursor   string     `json:"cursor,omitempty"`
}

// sessionMessages is GET /admin/sessions/:userId/messages?limit=&cursor=: the
// user's messages and responses, merged newest first, strictly older than the
// cursor. The answer has a cursor (the last item's timestamp) only when the
// page is full.
func (h *Handler) sessionMessages(c *echo.Context) error {
	limit, ok := parseLimit(c.QueryParam("limit"))
	if !ok {
		return httpError(http.StatusBadRequest, msgInvalidLimit)
	}
	var before time.Time
	if s := c.QueryParam("cursor"); s != "" {
		if before, ok = storage.ParseTime(s); !ok {
			return httpError(http.StatusBadRequest, msgInvalidCursor)
		}
	}
	items, err := h.store.UserItems(c.Request().Context(), c.Param("userId"), before, limit)
	if errors.Is(err, storage.ErrNotFound) {
		return httpError(http.StatusNotFound, msgSessionNotFound)
	}
	if err != nil {
		return err
	}
	out := itemsJSON{Messages: make([]itemJSON, 0, len(items))}
	for _, it := range items {
		out.Messages = append(out.Messages, itemEntry(it))
	}
	if len(items) == limit {
		out.Cursor = formatTime(items[len(items)-1].Timestamp)
	}
	return writeJSON(c, http.StatusOK, out)
}

func itemEntry(it storage.Item) itemJSON {
	e := itemJSON{
		ID:          it.ID,
		UserID:      it.UserID,
		ChannelType: it.ChannelType,
		ChannelID:   it.ChannelID,
		From:        it.From,
		Direction:   direction(it),
		Content:     preview(it.Content),
		Timestamp:   formatTime(it.Timestamp),
	}
	if it.Out && it.Delivery != nil {
		e.Delivery = &itemDelivery{Status: it.Delivery.Status, Attempts: it.Delivery.Attempts, LastError: it.Delivery.LastError}
	}
	return e
}
