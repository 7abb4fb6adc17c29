package admin

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

type retriedJSON struct {
	OK      bool   `json:"ok"`
	Retried string `json:"retried"`
}

// retryDelivery is POST /admin/deliveries/:responseId/retry, this relay's
// addition to PROTOCOL §9: a failed delivery becomes pending again and the
// outbox is woken. Unknown → 404 {"error":"Delivery not found"}; a delivery
// that is not failed → 409 {"error":"Only failed deliveries can be retried"};
// success → 200 {"ok":true,"retried":"<responseId>"}.
func (h *Handler) retryDelivery(c *echo.Context) error {
	id := c.Param("responseId")
	ctx := c.Request().Context()
	d, err := h.store.Delivery(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return httpError(http.StatusNotFound, msgDeliveryNotFound)
	}
	if err != nil {
		return err
	}
	if d.Status != storage.StatusFailed {
		return httpError(http.StatusConflict, msgNotRetryable)
	}
	err = h.relay.RetryDelivery(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return httpError(http.StatusNotFound, msgDeliveryNotFound)
	case errors.Is(err, storage.ErrConflict): // retried or settled since the check above
		return httpError(http.StatusConflict, msgNotRetryable)
	}
	if err != nil {
		return err
	}
	h.log.Info("admin retried delivery", "response_id", id)
	return writeJSON(c, http.StatusOK, retriedJSON{OK: true, Retried: id})
}
