package admin

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

type channelRetriedJSON struct {
	OK        bool   `json:"ok"`
	ChannelID string `json:"channelId"`
	Retried   int    `json:"retried"`
}

// retryChannel is POST /admin/channels/:channelId/retry, this relay's
// addition to PROTOCOL §9: every failed delivery of the channel becomes
// pending again with a fresh budget of attempts, as the retry of one does.
// Unknown (or deleted) channel → 404 {"error":"Channel not found"}; success →
// 200 {"ok":true,"channelId":"<id>","retried":<how many>}, 0 when none had
// failed.
func (h *Handler) retryChannel(c *echo.Context) error {
	id := c.Param("channelId")
	ctx := c.Request().Context()
	if _, err := h.store.Channel(ctx, id); errors.Is(err, storage.ErrNotFound) {
		return httpError(http.StatusNotFound, msgChannelNotFound)
	} else if err != nil {
		return err
	}
	n, err := h.relay.RetryChannel(ctx, id)
	if errors.Is(err, storage.ErrNotFound) { // deleted since the check above
		return httpError(http.StatusNotFound, msgChannelNotFound)
	}
	if err != nil {
		return err
	}
	h.log.Info("admin retried the failed deliveries of a channel", "channel_id", id, "retried", n)
	return writeJSON(c, http.StatusOK, channelRetriedJSON{OK: true, ChannelID: id, Retried: n})
}
