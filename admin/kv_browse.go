package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/channels/rawjson"
	"github.com/chaos-relay/relay/storage"
)

type kvJSON struct {
	Prefix  []string      `json:"prefix"`
	Entries []kvEntryJSON `json:"entries"`
	Count   int           `json:"count"`
	Ms      int64         `json:"ms"`
}

// kvEntryJSON is one record. Value is the record's JSON, a hex string for
// binary values, or {"sealed":true} for sealed ones, which are never opened.
type kvEntryJSON struct {
	Key   []string        `json:"key"`
	Value json.RawMessage `json:"value"`
}

// kvBrowse is GET /admin/kv?prefix=a,b&limit=50, the read-only store browser:
// prefix is a bucket followed by key segments, comma-separated; limit is at
// most 200 (default 50).
func (h *Handler) kvBrowse(c *echo.Context) error {
	raw := c.QueryParam("prefix")
	path := strings.Split(raw, ",")
	if raw == "" || path[0] == "" {
		return httpError(http.StatusBadRequest, msgInvalidPrefix)
	}
	limit, ok := parseLimit(c.QueryParam("limit"))
	if !ok {
		return httpError(http.StatusBadRequest, msgInvalidLimit)
	}
	start := h.now()
	entries, err := h.store.Browse(c.Request().Context(), path, limit)
	if errors.Is(err, storage.ErrNotFound) {
		return httpError(http.StatusNotFound, msgPrefixNotFound)
	}
	if err != nil {
		return err
	}
	out := kvJSON{Prefix: path, Entries: make([]kvEntryJSON, 0, len(entries))}
	for _, e := range entries {
		var v json.RawMessage
		switch {
		case e.Sealed:
			v = json.RawMessage(`{"sealed":true}`)
		case len(e.Value) == 0:
			v = json.RawMessage("null")
		default:
			// Minimal escaping, so that no HTML escapes reach the answer (§1.3).
			if v, err = rawjson.Compact(e.Value); err != nil {
				v = json.RawMessage(e.Value)
			}
		}
		out.Entries = append(out.Entries, kvEntryJSON{Key: e.Key, Value: v})
	}
	out.Count = len(out.Entries)
	out.Ms = h.now().Sub(start).Milliseconds()
	return writeJSON(c, http.StatusOK, out)
}
