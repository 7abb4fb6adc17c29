package admin

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v5"
)

type prefixesJSON struct {
	Prefixes []prefixJSON `json:"prefixes"`
	Ms       int64        `json:"ms"`
}

type prefixJSON struct {
	Prefix string `json:"prefix"`
	Count  int    `json:"count"`
}

// kvPrefixes is GET /admin/kv/prefixes: the store's top-level buckets and
// how many records each holds.
func (h *Handler) kvPrefixes(c *echo.Context) error {
	out, err := h.buildPrefixes(c.Request().Context())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

func (h *Handler) buildPrefixes(ctx context.Context) (prefixesJSON, error) {
	start := h.now()
	buckets, err := h.store.Buckets(ctx)
	if err != nil {
		return prefixesJSON{}, err
	}
	out := prefixesJSON{Prefixes: make([]prefixJSON, 0, len(buckets))}
	for _, b := range buckets {
		out.Prefixes = append(out.Prefixes, prefixJSON{Prefix: b.Name, Count: b.Count})
	}
	out.Ms = h.now().Sub(start).Milliseconds()
	return out, nil
}
