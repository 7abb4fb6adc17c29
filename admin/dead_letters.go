package admin

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// Bounds of one dead-letter read: the store is read deadLetterPage records
// at a time, and at most deadLetterScan failed records are looked at before
// the answer returns with a cursor to go on from.
const (
	deadLetterPage = 200
	deadLetterScan = 2000
)

// deadLetterFilter selects failed deliveries: all of them, or those of a
// channel type, of a channel, or whose last error contains a text
// (case-insensitive).
type deadLetterFilter struct {
	channelType, channelID, errorText string
}

func (f deadLetterFilter) match(d storage.Delivery) bool {
	return (f.channelType == "" || d.ChannelType == f.channelType) &&
		(f.channelID == "" || d.ChannelID == f.channelID) &&
		(f.errorText == "" || strings.Contains(strings.ToLower(d.LastError), f.errorText))
}

// deadLetters is GET /admin/dead-letters?channelType=&channelId=&error=&limit=&cursor=,
// this relay's addition to PROTOCOL §9: failed deliveries newest first, as
// /admin/deliveries lists them, filtered. The answer has a cursor (the last
// record looked at) when the page is full or the read stopped after
// deadLetterScan failed records; the next read goes on from it.
func (h *Handler) deadLetters(c *echo.Context) error {
	limit, ok := parseLimit(c.QueryParam("limit"))
	if !ok {
		return httpError(http.StatusBadRequest, msgInvalidLimit)
	}
	f := deadLetterFilter{channelType: c.QueryParam("channelType"), channelID: c.QueryParam("channelId"),
		errorText: strings.ToLower(c.QueryParam("error"))}
	list, cursor, err := h.findDeadLetters(c, f, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	out := deliveriesJSON{Deliveries: make([]deliveryJSON, 0, len(list)), Cursor: cursor}
	for _, d := range list {
		out.Deliveries = append(out.Deliveries, deliveryEntry(d))
	}
	return writeJSON(c, http.StatusOK, out)
}

// findDeadLetters reads failed deliveries after cursor until limit match f,
// the store has no more, or deadLetterScan were looked at.
func (h *Handler) findDeadLetters(c *echo.Context, f deadLetterFilter, cursor string, limit int) ([]storage.Delivery, string, error) {
	var out []storage.Delivery
	for scanned := 0; scanned < deadLetterScan; {
		page, err := h.store.Deliveries(c.Request().Context(), storage.StatusFailed, cursor, deadLetterPage)
		if err != nil {
			return nil, "", err
		}
		for _, d := range page {
			scanned++
			cursor = d.ResponseID
			if f.match(d) {
				if out = append(out, d); len(out) == limit {
					return out, cursor, nil
				}
			}
		}
		if len(page) < deadLetterPage {
			return out, "", nil
		}
	}
	return out, cursor, nil
}
