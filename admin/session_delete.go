package admin

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

type deletedJSON struct {
	OK      bool   `json:"ok"`
	Deleted string `json:"deleted"`
}

// deleteSession is DELETE /admin/sessions/:userId. The relay deletes the
// session and everything it owns in one transaction, then closes its
// WebSockets and releases its platform resources (PROTOCOL §9).
func (h *Handler) deleteSession(c *echo.Context) error {
	userID := c.Param("userId")
	err := h.relay.DeleteSession(c.Request().Context(), userID)
	if errors.Is(err, storage.ErrNotFound) {
		return httpError(http.StatusNotFound, msgSessionNotFound)
	}
	if err != nil {
		return err
	}
	h.log.Info("admin deleted session", "user", userID)
	return writeJSON(c, http.StatusOK, deletedJSON{OK: true, Deleted: userID})
}
