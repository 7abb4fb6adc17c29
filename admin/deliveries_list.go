package admin

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/chaos-relay/relay/storage"
)

// deliveryJSON is a delivery record (PROTOCOL §7.5) in its documented member
// order; optional members are absent without a value.
type deliveryJSON struct {
	ResponseID    string `json:"responseId"`
	UserID        string `json:"userId"`
	ChannelID     string `json:"channelId"`
	ChannelType   string `json:"channelType"`
	Target        string `json:"target,omitempty"`
	Status        string `json:"status"`
	Attempts      int    `json:"attempts"`
	PartsSent     int    `json:"partsSent"`
	PartsTotal    int    `json:"partsTotal"`
	LastError     string `json:"lastError,omitempty"`
	NextAttemptAt string `json:"nextAttemptAt,omitempty"`
	CreatedAt     string `json:"createdAt"`
	UpdatedAt     string `json:"updatedAt"`
	// History is the attempt history, only in message timelines (an
	// addition, absent elsewhere).
	History []attemptJSON `json:"history,omitempty"`
}

type deliveriesJSON struct {
	Deliveries []deliveryJSON `json:"deliveries"`
	Cursor     string         `json:"cursor,omitempty"`
}

// validStatus reports whether s is a value of the status filter ("" = all).
func validStatus(s string) bool {
	switch s {
	case "", storage.StatusPending, storage.StatusFailed, storage.StatusSent, storage.StatusStored:
		return true
	}
	return false
}

// deliveries is GET /admin/deliveries?status=&limit=&cursor=: delivery
// records newest first, optionally of one status. The cursor is the last
// record's responseId, present only when the page is full.
func (h *Handler) deliveries(c *echo.Context) error {
	status := c.QueryParam("status")
	if !validStatus(status) {
		return httpError(http.StatusBadRequest, msgInvalidStatus)
	}
	limit, ok := parseLimit(c.QueryParam("limit"))
	if !ok {
		return httpError(http.StatusBadRequest, msgInvalidLimit)
	}
	list, err := h.store.Deliveries(c.Request().Context(), status, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	out := deliveriesJSON{Deliveries: make([]deliveryJSON, 0, len(list))}
	for _, d := range list {
		out.Deliveries = append(out.Deliveries, deliveryEntry(d))
	}
	if len(list) == limit {
		out.Cursor = list[len(list)-1].ResponseID
	}
	return writeJSON(c, http.StatusOK, out)
}

func deliveryEntry(d storage.Delivery) deliveryJSON {
	e := deliveryJSON{
		ResponseID:  d.ResponseID,
		UserID:      d.UserID,
		ChannelID:   d.ChannelID,
		ChannelType: d.ChannelType,
		Target:      d.Target,
		Status:      d.Status,
		Attempts:    d.Attempts,
		PartsSent:   d.PartsSent,
		PartsTotal:  d.PartsTotal,
		LastError:   d.LastError,
		CreatedAt:   formatTime(d.CreatedAt),
		UpdatedAt:   formatTime(d.UpdatedAt),
	}
	if d.Status == storage.StatusPending {
		e.NextAttemptAt = formatTime(d.NextAttemptAt) // meaningless once final
	}
	return e
}

// noParts is what the dashboard shows for the parts of a delivery that has
// no part accepted yet: the outbox records partsTotal with the first accepted
// part, so a delivery that failed (or is still waiting, or is only stored)
// before any part went out has 0 of 0, which says nothing.
const noParts = "—"

// partsLabel is a delivery's parts as the dashboard shows them, "1/3", or
// noParts when none was accepted yet. The dashboard script's partsText does
// the same: keep the two in step.
func partsLabel(sent, total int) string {
	if total == 0 {
		return noParts
	}
	return strconv.Itoa(sent) + "/" + strconv.Itoa(total)
}
