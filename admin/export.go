package admin

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// export is GET /admin/export, an addition to PROTOCOL §9: every record of
// the store as JSON lines (application/x-ndjson, storage.WriteExport) from
// one consistent snapshot, sealed values still sealed, for `relay export`
// against a running relay. It is the whole store: it is behind the admin
// session like every other admin route, and it is logged.
func (h *Handler) export(c *echo.Context) error {
	w := c.Response()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	n, err := storage.WriteExport(c.Request().Context(), h.store, w)
	if err != nil {
		// The status is sent: the missing end record tells the client.
		h.log.Error("export", "records", n, "err", err)
		return nil
	}
	h.log.Info("store exported", "records", n, "client_ip", h.relay.ClientIP(c.Request()))
	return nil
}
